"""Case events across processes on PostgreSQL (hub.events): a change committed through one
process reaches the subscribers of every process exactly once, in their towns only, and a
process whose LISTEN connection is cut connects again. Two processes' worth here: two apps,
each with its own Database and Runtime on the same database."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from sqlalchemy import text

from hub.app import create_app
from hub.config import Settings
from hub.db import Database
from hub.events import LISTENER_NAME
from hub.runtime import Runtime
from tests.conftest import Backend, Hub, register
from tests.live import graphql_socket, live_server
from tests.operations import op


@pytest.fixture(autouse=True)
def postgres_only(backend: Backend) -> Iterator[None]:
    if backend.name != "postgres":
        pytest.skip("SQLite serves one process: its events stay in process")
    yield


@pytest.fixture
async def other(db_url: str, settings: Settings) -> AsyncIterator[Hub]:
    """A second `serve` process's worth on the same database."""
    db = Database(db_url)
    app = create_app(Runtime.start(settings, db))
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://other.test") as http:
            yield Hub(app, db, settings, http)
    finally:
        await db.dispose()


async def test_a_change_through_one_process_reaches_both_once(hub: Hub, other: Hub) -> None:
    token = hub.token("DISPATCHER")
    async with (
        live_server(hub.app) as url_a,
        live_server(other.app) as url_b,
        graphql_socket(url_a, token) as on_a,
        graphql_socket(url_b, token) as on_b,
    ):
        await on_a.subscribe(op("CaseEvents"))
        await on_b.subscribe(op("CaseEvents"))
        created = (await register(other, tenantCode="laiji", externalId="fan-1"))["case"]
        for ws in (on_a, on_b):  # B's own subscriber too: through LISTEN, and only that way
            event = (await ws.next())["data"]["caseEvents"]
            assert event["kind"] == "REGISTER"
            assert event["case"] == {
                "id": created["id"],
                "number": created["number"],
                "status": "REGISTERED",
                "tenant": {"code": "laiji"},
            }
        await on_a.silent()
        await on_b.silent()


async def test_a_town_hears_only_its_own_cases_from_another_process(hub: Hub, other: Hub) -> None:
    async with (
        live_server(hub.app) as url,
        graphql_socket(url, hub.token("OPERATOR", ["laiji"])) as ws,
    ):
        await ws.subscribe(op("CaseEvents"))
        await register(other, tenantCode="dawei", externalId="fan-dawei")
        mine = (await register(other, tenantCode="laiji", externalId="fan-laiji"))["case"]
        event = (await ws.next())["data"]["caseEvents"]
        assert event["case"]["id"] == mine["id"], "the dawei event reached laiji's operator"
        await ws.silent()


async def _listener_pid(db: Database, not_this: int | None = None) -> int:
    """The backend of the (one) LISTEN connection on this database, once it listens."""
    query = text(
        "select pid from pg_stat_activity where application_name = :name"
        " and datname = current_database() and query like 'LISTEN%'"
    )
    async with asyncio.timeout(15):
        while True:
            async with db.engine.connect() as conn:
                pids = (await conn.execute(query, {"name": LISTENER_NAME})).scalars().all()
            fresh = [p for p in pids if p != not_this]
            if fresh:
                return fresh[0]
            await asyncio.sleep(0.1)


async def test_the_listener_connects_again_after_its_connection_is_killed(
    hub: Hub, other: Hub
) -> None:
    async with (
        live_server(hub.app) as url,
        graphql_socket(url, hub.token("DISPATCHER")) as ws,
    ):
        await ws.subscribe(op("CaseEvents"))
        first = await _listener_pid(hub.db)
        async with hub.db.engine.connect() as conn:
            killed = await conn.scalar(text("select pg_terminate_backend(:pid)"), {"pid": first})
        assert killed
        await _listener_pid(hub.db, not_this=first)  # listening again, on a new connection
        created = (await register(other, tenantCode="laiji", externalId="fan-again"))["case"]
        event = (await ws.next())["data"]["caseEvents"]
        assert event["case"]["id"] == created["id"]
        await ws.silent()
