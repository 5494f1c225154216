"""Helpers shared by test modules (fixtures live in tests/conftest.py): what the hub holds
before and after a refused request, posting to an ingest route, reading its refusals, waiting
for a condition, counting SQL statements, and a simulated HJ 212 device on the TCP listener.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import event

from connectors.hj212 import parse
from connectors.hj212.devices import data_packet
from connectors.hj212.server import Listener
from hub.db import Database, utcnow
from hub.demo import world
from hub.monitoring.writer import ReadingWriter

if TYPE_CHECKING:  # conftest imports this module for its fixtures
    from tests.conftest import Hub

# --- what a refused request must leave as it was -----------------------------------------------

SNAPSHOT = "{ cases(first: 0) { totalCount } verifyAuditTrail { ok checked } }"


async def snapshot(hub: Hub) -> tuple[int, bool, int]:
    """The number of cases and the audit chains' state: equal before and after a refusal."""
    data = await hub.gql(SNAPSHOT)
    audit = data["verifyAuditTrail"]
    return data["cases"]["totalCount"], audit["ok"], audit["checked"]


# --- the ingest routes --------------------------------------------------------------------------


# A valid body of each JSON route: the contract's examples.
HOTLINE_CALL: dict[str, Any] = {
    "callId": "12369-20261128-0001",
    "receivedAt": "2026-11-28T09:30:00+08:00",
    "callerName": "王先生",
    "callerPhone": "13800000000",
    "description": "来集镇宏达耐火材料厂夜间扬尘严重。晚上十点以后尤其明显",
    "address": "来集镇李堂村工业路",
    "latitude": 34.57,
    "longitude": 113.48,
    "category": "DUST",
    "town": "laiji",
    "sourceName": "宏达耐火材料厂",
    "anonymous": False,
}

PLATFORM_ASSIGNMENT: dict[str, Any] = {
    "platformCaseId": "ZZ-2026-000123",
    "assignedAt": "2026-11-28T09:30:00+08:00",
    "deadline": "2026-12-05T18:00:00+08:00",
    "title": "超化镇建筑工地扬尘",
    "description": "市平台交办：超化镇某建筑工地未覆盖裸土，扬尘严重，请核查处理。",
    "category": "DUST",
    "town": "chaohua",
    "address": "超化镇超化村",
    "latitude": 34.5,
    "longitude": 113.5,
}


async def post_json(
    hub: Hub, body: Any, *, url: str, role: str, tenants: list[str] | None = None
) -> httpx.Response:
    """POST a JSON body (or raw bytes sent as JSON) to `url` with a token of `role`; a module
    binds its route with functools.partial(post_json, url=..., role=...)."""
    headers = {"Authorization": f"Bearer {hub.token(role, tenants)}"}
    if isinstance(body, bytes):
        headers["Content-Type"] = "application/json"
        return await hub.http.post(url, content=body, headers=headers)
    return await hub.http.post(url, json=body, headers=headers)


def refused(response: httpx.Response, status: int, field: str) -> dict[str, Any]:
    """An ingest refusal: `status`, every error with a message, one naming `field`."""
    assert response.status_code == status, response.text
    errors = response.json()["errors"]
    assert errors and all(e["message"] for e in errors), errors
    assert field in [e["field"] for e in errors], errors
    return errors[0]


# --- waiting and counting -----------------------------------------------------------------------


async def eventually(
    check: Callable[[], Awaitable[bool]], timeout: float = 30.0, interval: float = 0.05
) -> None:
    """Poll `check` every `interval` seconds until it is true (TimeoutError after `timeout`)."""
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(interval)


@contextmanager
def counting(db: Database) -> Iterator[list[str]]:
    """The SQL statements `db` sends (both engines) inside the block."""
    statements: list[str] = []

    def seen(_conn, _cursor, statement, *_args) -> None:
        statements.append(statement)

    engines = {db.engine.sync_engine, db.write_engine.sync_engine}
    for engine in engines:
        event.listen(engine, "before_cursor_execute", seen)
    try:
        yield statements
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", seen)


# --- an HJ 212 device on the listener (the `monitoring` fixture is in conftest) ---------------

POINT = world.POINTS[0]  # 宏达耐火材料 flue gas, laiji: a34013 ≤ 10, a21026 ≤ 35, a21002 ≤ 50
TIMEOUT = 10


@dataclass
class Monitoring:
    writer: ReadingWriter
    listener: Listener

    async def connect(self) -> Device:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.listener.port)
        return Device(reader, writer)


@dataclass
class Device:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def reply(self) -> Any:
        line = await asyncio.wait_for(self.reader.readline(), TIMEOUT)
        assert line.endswith(b"\r\n"), line
        return parse(line)

    async def no_reply(self, wait: float = 0.3) -> None:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(self.reader.readline(), wait)

    async def close(self) -> None:
        self.writer.close()


def upload(
    values: dict[str, float],
    at: datetime,
    seq: int = 1,
    *,
    point: world.DemoPoint = POINT,
    cn: str = "2011",
    flag: str = "N",
) -> bytes:
    return data_packet(point, values, at, seq, cn=cn, flag=flag)


def now() -> datetime:
    return utcnow().replace(microsecond=0)


async def mutate(hub: Hub, query: str, token: str | None = None, **variables: Any) -> dict:
    """One mutation's payload (the first root field of the answer)."""
    data = await hub.gql(query, variables, token=token)
    return next(iter(data.values()))


async def sweep_at(hub: Hub, town: str, at: datetime) -> int:
    """Run the card sweep of one tenant as if it were `at`; returns the cards issued."""
    from hub.supervision import service as supervision

    scope = await hub.scope()
    tenant = scope.directory.by_code[town].id
    async with hub.db.session(scope.tenant_ids, write=True) as session:
        issued = await supervision.sweep(session, tenant, at, tz=ZoneInfo(hub.settings.timezone))
        await session.commit()
    return issued
