"""The complainant is protected by law: their number never appears in logs (captured at DEBUG,
every logger), in /metrics, in what leaves the hub (the callback, the change feed, the audit
trail) or in any answer to a role that may not see it - through intake's happy and error paths.
A caller who asked to stay anonymous is seen by hotline operators only."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import pytest
from sqlalchemy import select

import connectors.hotline
from connectors.hotline.settings import HotlineSettings
from hub.audit.model import AuditEntry
from hub.outbox.model import OutboxMessage
from hub.runtime import Runtime
from tests.conftest import REGISTER, Hub
from tests.helpers import runtime_of

PHONE = "13987654321"
WRITTEN = "+86 139-8765-4321"  # how the call system sends it
NAME = "赵秘密"
# The number in any form: digits only, grouped, or split by separators of any kind.
LEAK = re.compile(
    r"1\D{0,3}3\D{0,3}9\D{0,3}8\D{0,3}7\D{0,3}6\D{0,3}5\D{0,3}4\D{0,3}3\D{0,3}2\D{0,3}1"
)
URL = "/ingest/hotline"
CALL = {
    "callId": "privacy-1",
    "receivedAt": "2026-11-28T09:30:00+08:00",
    "callerName": NAME,
    "callerPhone": WRITTEN,
    "description": "宏达耐火材料厂夜间扬尘严重",
    "category": "DUST",
    "town": "laiji",
}
DETAIL = """query($id: ID!) { case(id: $id) { id number reports { reporter { name phone } }
  timeline { note } } }"""
LIST = """{ cases(first: 50) { edges { node { id reports { reporter { name phone } } } } } }"""


def leaks(text: str) -> bool:
    return bool(LEAK.search(text))


class Seen:
    """Everything the hub said, by who it said it to."""

    def __init__(self) -> None:
        self.texts: list[tuple[str, str]] = []

    def add(self, where: str, text: str) -> None:
        self.texts.append((where, text))

    def leaked(self) -> list[str]:
        return [f"{where}: {text[:300]}" for where, text in self.texts if leaks(text)]


async def post(hub: Hub, seen: Seen, body: Any, role: str = "HOTLINE") -> Any:
    headers = {"Authorization": f"Bearer {hub.token(role)}"}
    if isinstance(body, bytes):
        response = await hub.http.post(URL, content=body, headers=headers)
    else:
        response = await hub.http.post(URL, json=body, headers=headers)
    seen.add(f"POST {URL} as {role} -> {response.status_code}", response.text)
    return response


async def test_the_number_leaks_nowhere(hub: Hub, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # the root logger and every logger below it
    seen = Seen()
    url = "http://127.0.0.1:9/callbacks"
    connectors.hotline.install(
        runtime_of(hub.settings, hub.db, hotline=HotlineSettings(callback_url=url))
    )
    try:
        await walk(hub, seen)
    finally:
        connectors.hotline.install(Runtime.start(hub.settings, hub.db))
    logs = "\n".join(
        f"{r.name} {r.levelname} {r.getMessage()} {r.exc_text or ''} {r.args!r}"
        for r in caplog.records
    )
    assert caplog.records, "nothing was logged: the capture does not work"
    assert not leaks(logs), [line for line in logs.splitlines() if leaks(line)][:5]
    assert seen.leaked() == []


async def walk(hub: Hub, seen: Seen) -> None:
    # Intake: new, repeated, conflicting, and refused in every way that names the phone.
    first = await post(hub, seen, CALL)
    assert first.status_code == 201, first.text
    case_id = first.json()["caseId"]
    assert (await post(hub, seen, CALL)).status_code == 200
    assert (await post(hub, seen, {**CALL, "description": "噪音"})).status_code == 409
    bad = [
        {**CALL, "callId": "p-2", "callerPhone": PHONE * 4},  # too long
        {**CALL, "callId": "p-3", "callerPhone": PHONE + "abc"},  # not a number
        {**CALL, "callId": "p-4", "callerPhone": int(PHONE)},  # wrong type
        {**CALL, "callId": "p-5", "latitude": 99.0, "longitude": 113.4},  # another field
        {**CALL, "callId": "p-6", "town": "atlantis"},
        {**CALL, "callId": "p-7", "callerPhone": PHONE + "\x00"},
        {**CALL, "callId": "p-8", "receivedAt": "2099-01-01T00:00:00+08:00"},
    ]
    for body in bad:
        assert (await post(hub, seen, body)).status_code == 422
    raw = json.dumps(CALL, ensure_ascii=False).encode()
    assert (await post(hub, seen, raw[:-3])).status_code == 422  # truncated JSON
    assert (await post(hub, seen, raw.replace("扬".encode(), b"\xff"))).status_code == 422
    assert (await post(hub, seen, {**CALL, "callId": "p-9"}, role="VIEWER")).status_code == 403
    # registerCase: refused (a field named, not quoted), then taken.
    for data in (
        {"title": "t" * 201, "reporterPhone": PHONE},
        {"title": "t", "reporterPhone": PHONE * 3},
        {"title": "t", "reporterPhone": PHONE, "tenantCode": "atlantis"},
    ):
        answer = await hub.post(
            REGISTER,
            {"input": {"channel": "HOTLINE", "description": "d", "category": "AIR", **data}},
            token=hub.token("OPERATOR", ["laiji"]),
        )
        seen.add("registerCase refused", answer.text)
    # Reads by every role that must not see the number, and the change feed.
    for role in ("VIEWER", "OPERATOR", "MEMBER", "SUPERVISOR", "PLATFORM", "MONITOR"):
        token = hub.token(role, ["laiji"] if role in ("OPERATOR", "MEMBER") else None)
        for query, variables in ((DETAIL, {"id": case_id}), (LIST, {})):
            answer = await hub.post(query, variables, token=token)
            assert answer.status_code == 200 and "errors" not in answer.json(), answer.text
            seen.add(f"read as {role}", answer.text)
    feed = await hub.post(
        "{ caseChanges(first: 50) { edges { node { id number } } } }", token=hub.admin
    )
    seen.add("caseChanges", feed.text)
    # The full number is read (audited) by a role that may: the audit entry must not copy it.
    full = await hub.post(DETAIL, {"id": case_id}, token=hub.token("DISPATCHER"))
    assert PHONE in full.text
    # Resolved: the callback to the call system (the outbox) names the call, not the caller.
    await resolve(hub, case_id)
    scope = await hub.scope()
    async with hub.db.session(scope.tenant_ids) as session:
        outbox = [m.payload for m in await session.scalars(select(OutboxMessage))]
        audit = [(e.action, e.data) for e in await session.scalars(select(AuditEntry))]
    assert outbox, "resolving a hotline case writes its callback"
    seen.add("outbox", json.dumps(outbox, ensure_ascii=False))
    seen.add("audit", json.dumps(audit, ensure_ascii=False, default=str))
    metrics = await hub.http.get("/metrics")
    seen.add("/metrics", metrics.text)


async def resolve(hub: Hub, case_id: str) -> None:
    for field in (
        'dispatchCase(caseId: $id, input: {tenantCode: "laiji"})',
        "acceptCase(caseId: $id)",
        'submitResult(caseId: $id, input: {result: "已整改"})',
        "reviewCase(caseId: $id, input: {decision: APPROVE})",
    ):
        token = hub.token("SUPERVISOR") if field.startswith("review") else None  # not self
        data = await hub.gql(
            f"mutation($id: ID!) {{ {field} {{ __typename }} }}", {"id": case_id}, token=token
        )
        assert next(iter(data.values()))["__typename"] == "CaseResult", data


# --- who sees the caller ------------------------------------------------------------------------

SEES_NUMBER = {"HOTLINE", "DISPATCHER", "ADMIN"}
ROLES = ["ADMIN", "DISPATCHER", "SUPERVISOR", "OPERATOR", "MEMBER", "HOTLINE", "PLATFORM",
         "MONITOR", "VIEWER"]  # fmt: skip


@pytest.mark.parametrize("anonymous", [False, True])
async def test_who_sees_the_caller(hub: Hub, anonymous: bool) -> None:
    answer = await hub.http.post(
        URL,
        json={**CALL, "anonymous": anonymous},
        headers={"Authorization": f"Bearer {hub.token('HOTLINE')}"},
    )
    case_id = answer.json()["caseId"]
    for role in ROLES:
        token = hub.token(role, ["laiji"] if role in ("OPERATOR", "MEMBER") else None)
        data = await hub.gql(DETAIL, {"id": case_id}, token=token)
        reporter = data["case"]["reports"][0]["reporter"]
        if anonymous and role != "HOTLINE":
            assert reporter == {"name": None, "phone": None}, role
        elif role in SEES_NUMBER:
            assert reporter == {"name": NAME, "phone": PHONE}, role
        else:
            assert reporter == {"name": NAME, "phone": "139****4321"}, role
