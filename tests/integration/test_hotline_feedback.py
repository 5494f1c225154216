"""The result back to the caller, on every backend: resolving a hotline case writes one
callback per call to the outbox (in the same transaction), the outbox delivers it to the call
system (a real HTTP server on loopback) exactly once in effect despite failures, recordFeedback
records satisfaction, UNSATISFIED goes back to supervision, and the feedback limit applies."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

import connectors.hotline
from connectors.hotline.callback import TOPIC
from connectors.hotline.simulator import CallSystem, call_system
from hub import jobs
from hub.auth import system_scope
from hub.cases.model import Case, CaseCandidate  # noqa: F401  (metadata)
from hub.config import Settings
from hub.db import Database, utcnow
from hub.outbox.delivery import deliver
from hub.outbox.model import OutboxMessage, SendState
from hub.outbox.relay import relay_once
from hub.supervision.model import CaseCard, CaseHop
from hub.supervision.service import sweep
from tests.conftest import Hub

RESOLVE = [
    ("dispatchCase", 'dispatchCase(caseId: $id, input: {tenantCode: "laiji"})'),
    ("acceptCase", "acceptCase(caseId: $id)"),
    ("submitResult", 'submitResult(caseId: $id, input: {result: "已责令停产整改"})'),
    ("reviewCase", "reviewCase(caseId: $id, input: {decision: APPROVE})"),
]
FEEDBACK = """mutation($id: ID!, $s: Satisfaction!, $note: String) {
  recordFeedback(caseId: $id, input: {satisfaction: $s, note: $note}) {
    __typename
    ... on CaseResult { case { id status } }
    ... on UserError { code message field }
  }
}"""
STATUS = "query($id: ID!) { case(id: $id) { status resolvedAt timeline { action toStatus } } }"


@pytest.fixture
def fast(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "outbox_backoff_seconds": 0.001,
            "outbox_backoff_max_seconds": 0.01,
            "outbox_max_attempts": 5,
        }
    )


@pytest.fixture
def broker(fast: Settings) -> Iterator[Any]:
    stub = jobs.configure(fast)
    stub.flush_all()
    yield stub
    stub.flush_all()


@pytest.fixture
async def system(hub: Hub, fast: Settings, broker: Any) -> AsyncIterator[CallSystem]:
    """The call system, and the hub's callbacks pointed at it (after the job system is set up:
    configuring it installs the connectors from the settings, without a callback URL)."""
    async with call_system() as found:
        connectors.hotline.install(fast.model_copy(update={"hotline_callback_url": found.url}))
        yield found
    connectors.hotline.install(fast)  # no callback URL again for the tests that follow


async def call(hub: Hub, **fields: Any) -> str:
    body = {
        "callId": f"fb-{uuid.uuid4().hex[:8]}",
        "receivedAt": "2026-11-28T09:30:00+08:00",
        "description": "宏达耐火材料厂夜间扬尘严重",
        "category": "DUST",
        "town": "laiji",
        "callerName": "王先生",
        "callerPhone": "13812345678",
        **fields,
    }
    headers = {"Authorization": f"Bearer {hub.token('HOTLINE')}"}
    response = await hub.http.post("/ingest/hotline", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()["caseId"]


async def step(hub: Hub, name: str, field: str, case_id: str) -> None:
    # Someone other than who submitted the result reviews it.
    token = hub.token("SUPERVISOR") if name == "reviewCase" else None
    data = await hub.gql(
        f"mutation($id: ID!) {{ {field} {{ __typename ... on UserError {{ code message }} }} }}",
        {"id": case_id},
        token=token,
    )
    assert data[name]["__typename"] == "CaseResult", (name, data)


async def resolve(hub: Hub, case_id: str) -> None:
    for name, field in RESOLVE:
        await step(hub, name, field, case_id)


async def messages(db: Database, topic: str = TOPIC) -> list[OutboxMessage]:
    scope = await system_scope(db)
    async with db.session(scope.tenant_ids) as session:
        found = await session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.topic == topic)
            .order_by(OutboxMessage.created_at)
        )
        return list(found)


async def deliver_due(db: Database, broker: Any, settings: Settings) -> list[str | None]:
    """One relay pass and the deliveries it hands out, here (no worker)."""
    from dramatiq import Message

    await relay_once(db, broker)
    queue, ids = broker.queues["outbox"], []
    while not queue.empty():
        ids.append(uuid.UUID(Message.decode(queue.get_nowait()).message_id))
    return [await deliver(db, i, settings) for i in ids]


async def make_due(db: Database) -> None:
    from sqlalchemy import update

    scope = await system_scope(db)
    async with db.session(scope.tenant_ids, write=True) as session, session.begin():
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.state == SendState.PENDING)
            .values(next_attempt_at=utcnow())
        )


# --- the callback ---------------------------------------------------------------------------


async def test_resolving_writes_one_callback_per_call(hub: Hub, system: CallSystem) -> None:
    case_id = await call(hub, callId="fb-1", sourceName="宏达耐火材料厂")
    again = await call(hub, callId="fb-2", sourceName="宏达耐火材料厂", callerPhone="13900000000")
    assert again == case_id
    assert await messages(hub.db) == []  # nothing before the result
    await resolve(hub, case_id)
    found = await messages(hub.db)
    assert sorted(m.payload["callId"] for m in found) == ["fb-1", "fb-2"]
    number = await hub.gql("query($id: ID!) { case(id: $id) { number } }", {"id": case_id})
    for message in found:
        assert message.ordering_key == case_id and message.state == SendState.PENDING
        assert message.payload["caseNumber"] == number["case"]["number"]
        assert message.payload["result"] == "已责令停产整改"
        assert message.payload["status"] == "RESOLVED"
        text = repr(message.payload)
        assert "13812345678" not in text and "13900000000" not in text and "王" not in text


async def test_no_callback_without_a_call_or_a_url(hub: Hub, system: CallSystem) -> None:
    grid = await hub.gql(
        """mutation { registerCase(input: {channel: GRID, title: "巡查", description: "扬尘",
        category: DUST, tenantCode: "laiji"}) { ... on CaseResult { case { id } } } }"""
    )
    await resolve(hub, grid["registerCase"]["case"]["id"])
    assert await messages(hub.db) == []
    connectors.hotline.install(hub.settings)  # SANWANG_HOTLINE_CALLBACK_URL unset
    await resolve(hub, await call(hub))
    assert await messages(hub.db) == []


async def test_the_callback_reaches_the_call_system_once_despite_failures(
    hub: Hub, system: CallSystem, broker: Any, fast: Settings
) -> None:
    case_id = await call(hub, callId="fb-once")
    await resolve(hub, case_id)
    system.fail(2, status=503)  # busy twice
    system.drop(1)  # then it takes effect, but the answer is lost
    states = []
    for _ in range(6):
        states += await deliver_due(hub.db, broker, fast)
        await make_due(hub.db)
        if SendState.DELIVERED in states:
            break
    assert states == ["PENDING", "PENDING", "PENDING", "DELIVERED"], states
    assert [c.answer for c in system.received] == ["503", "503", "dropped", "duplicate"]
    assert len(system.called_back("fb-once")) == 1  # exactly once in effect
    (message,) = await messages(hub.db)
    assert message.state == SendState.DELIVERED and message.attempts == 3
    keys = {c.key for c in system.received}
    assert keys == {message.idempotency_key}


async def test_a_call_system_that_never_answers_leaves_a_dead_letter_for_admin(
    hub: Hub, system: CallSystem, broker: Any, fast: Settings
) -> None:
    await resolve(hub, await call(hub))
    system.fail(10)
    for _ in range(fast.outbox_max_attempts):
        await deliver_due(hub.db, broker, fast)
        await make_due(hub.db)
    (message,) = await messages(hub.db)
    assert message.state == SendState.DEAD and "503" in (message.last_error or "")
    assert system.effects == {}


# --- feedback -------------------------------------------------------------------------------


async def feedback(hub: Hub, case_id: str, satisfaction: str, token: str | None = None, **kw):
    variables = {"id": case_id, "s": satisfaction, **kw}
    return (await hub.gql(FEEDBACK, variables, token=token or hub.token("HOTLINE")))[
        "recordFeedback"
    ]


@pytest.mark.parametrize(
    ("satisfaction", "status"),
    [
        ("SATISFIED", "FEEDBACK_GIVEN"),
        ("BASICALLY_SATISFIED", "FEEDBACK_GIVEN"),
        ("UNREACHABLE", "FEEDBACK_GIVEN"),
        ("UNSATISFIED", "UNDER_REVIEW"),
    ],
)
async def test_feedback_table(hub: Hub, satisfaction: str, status: str) -> None:
    case_id = await call(hub)
    await resolve(hub, case_id)
    done = await feedback(hub, case_id, satisfaction)
    assert done["case"]["status"] == status
    found = (await hub.gql(STATUS, {"id": case_id}))["case"]
    assert found["timeline"][-1] == {"action": "FEEDBACK", "toStatus": status}
    hop = await current_hop(hub.db, case_id)
    if status == "UNDER_REVIEW":
        assert found["resolvedAt"] is None
        assert hop is not None and hop.phase == "REVIEW" and hop.yellow_at is not None
    else:
        assert hop is None  # the clocks stop with the feedback


async def test_unsatisfied_goes_back_to_supervision_and_a_new_result_is_called_back(
    hub: Hub, system: CallSystem
) -> None:
    case_id = await call(hub, callId="fb-again")
    await resolve(hub, case_id)
    await feedback(hub, case_id, "UNSATISFIED", note="还是有粉尘")
    closed = await hub.gql(
        "mutation($id: ID!) { closeCase(caseId: $id) { __typename ... on UserError { code } } }",
        {"id": case_id},
    )
    assert closed["closeCase"] == {"__typename": "UserError", "code": "INVALID_TRANSITION"}
    await step(hub, "reviewCase", "reviewCase(caseId: $id, input: {decision: RETURN})", case_id)
    await step(hub, "submitResult", RESOLVE[2][1], case_id)
    await step(hub, "reviewCase", RESOLVE[3][1], case_id)
    found = await messages(hub.db)
    assert [m.payload["callId"] for m in found] == ["fb-again", "fb-again"]
    assert len({m.idempotency_key for m in found}) == 2  # a second result, a second callback
    assert (await feedback(hub, case_id, "SATISFIED"))["case"]["status"] == "FEEDBACK_GIVEN"


async def current_hop(db: Database, case_id: str) -> CaseHop | None:
    scope = await system_scope(db)
    async with db.session(scope.tenant_ids) as session:
        return await session.scalar(
            select(CaseHop).where(CaseHop.case_id == uuid.UUID(case_id), CaseHop.ended_at.is_(None))
        )


async def test_the_feedback_limit_applies(hub: Hub) -> None:
    case_id = await call(hub)
    await resolve(hub, case_id)
    hop = await current_hop(hub.db, case_id)
    assert hop is not None and hop.phase == "FEEDBACK"
    # The default rule: feedback within 3 working days (yellow), 5 (red).
    assert timedelta(days=3) <= hop.yellow_at - hop.phase_started_at <= timedelta(days=7)
    assert hop.red_at > hop.yellow_at
    scope = await system_scope(hub.db)
    laiji = scope.directory.by_code["laiji"].id
    async with hub.db.session(scope.tenant_ids, write=True) as session:
        issued = await sweep(
            session, laiji, hop.yellow_at + timedelta(minutes=1), tz=ZoneInfo("Asia/Shanghai")
        )
        await session.commit()
    assert issued == 1
    async with hub.db.session(scope.tenant_ids) as session:
        card = await session.scalar(select(CaseCard).where(CaseCard.case_id == uuid.UUID(case_id)))
    assert card is not None and card.phase == "FEEDBACK" and card.level == "YELLOW"


# --- bad input ------------------------------------------------------------------------------


async def test_record_feedback_bad_input(hub: Hub) -> None:
    resolved = await call(hub)
    await resolve(hub, resolved)
    open_case = await call(hub, category="NOISE", description="噪音", callerPhone="13700000000")
    monitoring = await hub.gql(
        """mutation { registerCase(input: {channel: MONITORING, title: "超标",
        description: "烟尘超标", category: AIR, tenantCode: "laiji"}) {
        ... on CaseResult { case { id } } } }"""
    )
    monitored = monitoring["registerCase"]["case"]["id"]
    await resolve(hub, monitored)
    cases = [
        (resolved, "UNSATISFIED", hub.token("VIEWER"), {}, "FORBIDDEN", None),
        (resolved, "SATISFIED", hub.token("MEMBER", ["laiji"]), {}, "FORBIDDEN", None),
        (resolved, "UNSATISFIED", None, {"note": "n" * 4001}, "VALIDATION", "note"),
        (resolved, "SATISFIED", None, {"note": "a\x00b"}, "VALIDATION", "note"),
        (open_case, "UNSATISFIED", None, {}, "INVALID_TRANSITION", None),
        (monitored, "UNSATISFIED", None, {}, "INVALID_TRANSITION", None),
        (str(uuid.uuid4()), "SATISFIED", None, {}, "NOT_FOUND", "caseId"),
        ("not-an-id", "SATISFIED", None, {}, "NOT_FOUND", "caseId"),
        (resolved, "SATISFIED", hub.token("HOTLINE", ["dawei"]), {}, "NOT_FOUND", "caseId"),
    ]
    for case_id, satisfaction, token, extra, code, field in cases:
        error = await feedback(hub, case_id, satisfaction, token, **extra)
        assert error["__typename"] == "UserError", (case_id, satisfaction, error)
        assert error["code"] == code, (case_id, satisfaction, error)
        if field:
            assert error["field"] == field
    assert (await hub.gql(STATUS, {"id": resolved}))["case"]["status"] == "RESOLVED"
    wrong = await hub.post(FEEDBACK, {"id": resolved, "s": "HAPPY"}, token=hub.admin)
    assert wrong.json()["errors"] and "HAPPY" in wrong.text
