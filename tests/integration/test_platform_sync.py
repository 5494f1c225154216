"""The platform connector against the simulator on a loopback socket, on every backend:
the pull (exactly once, the cursor, updates never moving a case backwards, bad items, backoff
and the pause), the push (every status in order through the outbox, a refusal dead-lettered
and visible to ADMIN), POST and pull sharing one intake, and reconciliation."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from connectors.platform import install, push
from connectors.platform.adapter import HttpPlatform, Refused, StatusUpdate
from connectors.platform.demo import advance_platform_cases
from connectors.platform.model import PlatformCursor, PlatformUpdate
from connectors.platform.pull import CURSOR, pull_once
from connectors.platform.reconcile import reconcile
from connectors.platform.settings import PlatformSettings
from connectors.platform.simulator import Chaos, Simulator, serving
from hub import jobs
from hub.auth import system_scope
from hub.cases import loaders, steps, timeline
from hub.cases.enums import CaseStatus
from hub.cases.model import Case, Event, ExternalRef
from hub.config import Settings
from hub.db import Database
from hub.outbox.model import OutboxMessage, SendState
from tests.conftest import Hub
from tests.helpers import eventually, runtime_of

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture
async def sim() -> AsyncIterator[tuple[Simulator, PlatformSettings]]:
    simulator = Simulator(token="sim-token", seed=7)
    async with serving(simulator) as url:
        psettings = PlatformSettings(
            url=url,
            token="sim-token",
            read_timeout_seconds=0.5,
            connect_timeout_seconds=0.5,
            page_size=50,
            backoff_seconds=0.05,
            backoff_max_seconds=0.2,
            pause_after_failures=3,
            pause_seconds=60,
            _env_file=None,
        )
        yield simulator, psettings


async def pull(db: Database, settings: Settings, psettings: PlatformSettings):
    platform = HttpPlatform(psettings)
    try:
        return await pull_once(db, settings, psettings, platform)
    finally:
        await platform.aclose()


async def platform_cases(db: Database) -> dict[str, Case]:
    scope = await system_scope(db)
    async with db.session(scope.tenant_ids) as session:
        rows = await session.execute(
            select(ExternalRef.external_id, Case)
            .join(Case, Case.id == ExternalRef.case_id)
            .where(ExternalRef.system == "platform")
        )
        return {external_id: case for external_id, case in rows}


async def updates(db: Database) -> dict[str, PlatformUpdate]:
    async with db.session(()) as session:
        return {u.update_id: u for u in await session.scalars(select(PlatformUpdate))}


async def cursor(db: Database) -> PlatformCursor:
    async with db.session(()) as session:
        row = await session.get(PlatformCursor, CURSOR)
        assert row is not None
        return row


# --- the pull -----------------------------------------------------------------------------------


async def test_each_assignment_becomes_one_case_and_the_cursor_moves(
    db: Database, settings: Settings, sim: tuple[Simulator, PlatformSettings]
) -> None:
    simulator, psettings = sim
    assigned = [simulator.assign() for _ in range(120)]  # three pages of 50
    result = await pull(db, settings, psettings)
    assert result.error is None and result.pages == 3
    assert result.outcomes == {"APPLIED": 120}
    cases = await platform_cases(db)
    assert set(cases) == {a["assignment"]["platformCaseId"] for a in assigned}
    first = assigned[0]["assignment"]
    case = cases[first["platformCaseId"]]
    assert case.due_at == datetime.fromisoformat(first["deadline"]) and case.due_fixed
    assert case.status == CaseStatus.REGISTERED and case.title == first["title"]
    assert (await cursor(db)).cursor == "120" and (await cursor(db)).taken == 120

    again = await pull(db, settings, psettings)  # nothing new: one empty page
    assert again.items == 0 and len(await platform_cases(db)) == 120


async def test_a_page_delivered_again_is_recognised_by_update_id(
    db: Database, settings: Settings, sim: tuple[Simulator, PlatformSettings]
) -> None:
    simulator, psettings = sim
    for _ in range(10):
        simulator.assign()
    await pull(db, settings, psettings)
    async with db.session((), write=True) as session, session.begin():
        row = await session.get(PlatformCursor, CURSOR)
        assert row is not None
        row.cursor = None  # as if the cursor's commit was lost after the items' commit
    result = await pull(db, settings, psettings)
    assert result.outcomes == {"SEEN": 10}
    assert len(await platform_cases(db)) == 10


async def test_pushed_then_pulled_is_one_case(
    hub: Hub, settings: Settings, sim: tuple[Simulator, PlatformSettings]
) -> None:
    simulator, psettings = sim
    body = simulator.new_assignment()
    token = hub.token("PLATFORM")
    posted = await hub.http.post(
        "/ingest/platform", json=body, headers={"Authorization": f"Bearer {token}"}
    )
    assert posted.status_code == 201, posted.text
    simulator.assign(body)
    result = await pull(hub.db, settings, psettings)
    assert result.outcomes == {"APPLIED": 1}
    cases = await platform_cases(hub.db)
    assert [str(c.id) for c in cases.values()] == [posted.json()["caseId"]]
    (record,) = (await updates(hub.db)).values()
    assert "此前已交办" in record.reason


async def test_updates_apply_once_and_never_move_a_case_backwards(
    db: Database, settings: Settings, sim: tuple[Simulator, PlatformSettings]
) -> None:
    simulator, psettings = sim
    item = simulator.assign()
    case_id = item["platformCaseId"]
    assigned_at = datetime.fromisoformat(item["at"])
    later = (assigned_at + timedelta(days=10)).isoformat()
    newer = simulator.update(
        case_id, "DEADLINE", deadline=later, at=(assigned_at + timedelta(hours=2)).isoformat()
    )
    first = await pull(db, settings, psettings)
    assert first.outcomes == {"APPLIED": 2}
    # Within a page updates are taken in the platform's time order; across pages, an update
    # made before the one already taken arrives late:
    older = simulator.update(
        case_id,
        "DEADLINE",
        deadline=(assigned_at + timedelta(days=2)).isoformat(),
        at=(assigned_at + timedelta(hours=1)).isoformat(),
    )
    urged = simulator.update(case_id, "URGED", note="请加快办理")
    unknown = simulator.update("ZZ-NOBODY", "URGED", note="?")
    simulator.feed.append(dict(newer))  # the same update delivered again
    simulator.feed.append({"updateId": "U-BAD", "platformCaseId": case_id, "type": "DEADLINE"})
    simulator.feed.append(["not", "an", "object"])

    result = await pull(db, settings, psettings)
    assert result.outcomes == {
        "APPLIED": 1,  # the urge
        "STALE": 1,
        "UNKNOWN_CASE": 1,
        "SEEN": 1,
        "REFUSED": 2,
    }
    seen = await updates(db)
    assert seen[newer["updateId"]].outcome == "APPLIED"
    assert seen[older["updateId"]].outcome == "STALE"  # recorded, the case left alone
    assert seen[urged["updateId"]].outcome == "APPLIED"
    assert seen[unknown["updateId"]].outcome == "UNKNOWN_CASE"
    assert seen["U-BAD"].outcome == "REFUSED"
    assert seen["U-BAD"].reason == "at: 时间不能为空"  # the field named, and why
    case = (await platform_cases(db))[case_id]
    assert case.due_at == datetime.fromisoformat(later)
    scope = await system_scope(db)
    async with db.session(scope.tenant_ids) as session:
        actions = list(
            await session.scalars(
                select(Event.action).where(Event.case_id == case.id).order_by(Event.at)
            )
        )
    assert actions == ["REGISTER", "DEADLINE_CHANGED", "URGE"]


async def test_an_older_update_than_a_hub_extension_is_stale(
    db: Database, settings: Settings, sim: tuple[Simulator, PlatformSettings]
) -> None:
    simulator, psettings = sim
    item = simulator.assign()
    await pull(db, settings, psettings)
    case = (await platform_cases(db))[item["platformCaseId"]]
    scope = await system_scope(db)
    extended = datetime.now(UTC) + timedelta(days=30)
    async with db.session(scope.tenant_ids, write=True) as session, session.begin():
        row = await loaders.case_for_change(session, case.id)
        row.due_at = extended
        await timeline.record(session, scope, row, "EXTENSION_APPROVED", None, None, "hub")
    made_before = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    simulator.update(
        item["platformCaseId"], "DEADLINE", deadline=extended.isoformat(), at=made_before
    )
    result = await pull(db, settings, psettings)
    assert result.outcomes == {"STALE": 1}
    assert (await platform_cases(db))[item["platformCaseId"]].due_at == extended


async def test_a_failing_platform_is_backed_off_then_paused(
    db: Database, settings: Settings, sim: tuple[Simulator, PlatformSettings]
) -> None:
    simulator, psettings = sim
    psettings = psettings.model_copy(update={"backoff_seconds": 0.4, "backoff_max_seconds": 0.4})
    simulator.assign()
    simulator.chaos = Chaos(error_rate=1.0)
    first = await pull(db, settings, psettings)
    assert first.error and "500" in first.error
    state = await cursor(db)
    assert state.failures == 1 and state.next_attempt_at is not None
    assert (await pull(db, settings, psettings)).skipped_until == state.next_attempt_at
    for failures in (2, 3):
        await asyncio.sleep(0.45)  # the backoff (at most 0.4 s) has passed
        await pull(db, settings, psettings)
        assert (await cursor(db)).failures == failures
    paused = await cursor(db)
    assert paused.next_attempt_at - paused.updated_at >= timedelta(seconds=59)  # the pause
    simulator.chaos = Chaos()
    async with db.session((), write=True) as session, session.begin():
        row = await session.get(PlatformCursor, CURSOR)
        assert row is not None
        row.next_attempt_at = None  # the pause is over
    assert (await pull(db, settings, psettings)).outcomes == {"APPLIED": 1}
    state = await cursor(db)
    assert state.failures == 0 and state.last_error is None


async def test_a_page_that_is_not_the_protocol_is_a_failure_not_a_crash(
    db: Database, settings: Settings
) -> None:
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse, PlainTextResponse
    from starlette.routing import Route

    answers = iter(
        [
            PlainTextResponse("<html>"),
            JSONResponse({"items": "no"}),
            JSONResponse({"items": [], "next": 5}),
        ]
    )

    class Odd(Simulator):
        def app(self) -> Starlette:
            return Starlette(routes=[Route("/assignments", lambda r: next(answers))])

    async with serving(Odd()) as url:
        psettings = PlatformSettings(
            url=url, backoff_seconds=0.01, backoff_max_seconds=0.01, _env_file=None
        )
        for expected in ("not JSON", "items", "next"):
            result = await pull(db, settings, psettings)
            assert result.error and expected in result.error
            async with db.session((), write=True) as session, session.begin():
                row = await session.get(PlatformCursor, CURSOR)
                assert row is not None
                row.next_attempt_at = None
    assert (await cursor(db)).failures == 3


# --- the push -----------------------------------------------------------------------------------


def fast(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "outbox_backoff_seconds": 0.05,
            "outbox_backoff_max_seconds": 0.2,
            "relay_interval_seconds": 0.05,
            "outbox_visibility_seconds": 5.0,
        }
    )


async def hub_statuses(db: Database, case_id: Any) -> list[str]:
    scope = await system_scope(db)
    async with db.session(scope.tenant_ids) as session:
        return list(
            await session.scalars(
                select(Event.to_status)
                .where(Event.case_id == case_id, Event.to_status.is_not(None))
                .order_by(Event.at, Event.id)
            )
        )


async def outbox_states(db: Database) -> dict[str, int]:
    scope = await system_scope(db)
    async with db.session(scope.tenant_ids) as session:
        rows = await session.execute(
            select(OutboxMessage.state, func.count())
            .where(OutboxMessage.topic == push.TOPIC)
            .group_by(OutboxMessage.state)
        )
        return dict(rows.all())


async def test_every_status_goes_up_in_order_once_and_reconcile_agrees(
    hub: Hub, settings: Settings, sim: tuple[Simulator, PlatformSettings]
) -> None:
    simulator, psettings = sim
    install(runtime_of(settings, hub.db, platform=psettings))
    for _ in range(4):
        simulator.assign()
    await pull(hub.db, settings, psettings)
    simulator.chaos = Chaos(
        error_rate=0.2, timeout_rate=0.1, hang_seconds=1.0, slow_rate=0.1, slow_seconds=0.1
    )
    runtime = await jobs.start_embedded(runtime_of(fast(settings), hub.db, platform=psettings))
    try:
        for _ in range(6):  # REGISTERED -> ... -> CLOSED
            tz = hub.app.state.runtime.tz
            await advance_platform_cases(hub.db, 4, simulator.cases.keys(), tz)

        async def delivered() -> bool:
            return set(await outbox_states(hub.db)) == {SendState.DELIVERED}

        await eventually(delivered)
    finally:
        await jobs.stop(runtime)
    names = push_names()
    for platform_case_id, case in (await platform_cases(hub.db)).items():
        expected = [names[s] for s in await hub_statuses(hub.db, case.id)]
        assert expected[-1] == "CLOSED"
        assert simulator.statuses(platform_case_id) == expected
    simulator.chaos = Chaos()
    platform = HttpPlatform(psettings)
    try:
        done = await reconcile(hub.db, settings, psettings, platform)
    finally:
        await platform.aclose()
    assert (done.repaired, done.attention, done.waiting) == ([], [], [])
    assert done.checked_cases == 4 and done.checked_assignments == 4


def push_names() -> dict[str, str]:
    from connectors.platform.protocol import STATUSES

    return {str(k): v for k, v in STATUSES.items()}


DEAD = "{ deadLetters { topic orderingKey state attempts lastError } }"


async def test_a_status_refused_for_good_is_a_dead_letter_admin_sees(
    hub: Hub, settings: Settings, sim: tuple[Simulator, PlatformSettings]
) -> None:
    simulator, psettings = sim
    install(runtime_of(settings, hub.db, platform=psettings))
    item = simulator.assign()
    await pull(hub.db, settings, psettings)
    simulator.cases[item["platformCaseId"]].refuse = 409
    runtime = await jobs.start_embedded(runtime_of(fast(settings), hub.db, platform=psettings))
    try:

        async def dead() -> bool:
            return (await outbox_states(hub.db)).get(SendState.DEAD) == 1

        await eventually(dead)
    finally:
        await jobs.stop(runtime)
    (letter,) = (await hub.gql(DEAD))["deadLetters"]
    assert letter["topic"] == "platform.status" and letter["attempts"] == 1
    assert "409" in letter["lastError"]
    assert simulator.cases[item["platformCaseId"]].deliveries == 1  # not retried
    denied = await hub.post(DEAD, token=hub.token("DISPATCHER"))
    assert denied.json()["errors"]

    simulator.cases[item["platformCaseId"]].refuse = None
    platform = HttpPlatform(psettings)
    try:
        done = await reconcile(hub.db, settings, psettings, platform)
    finally:
        await platform.aclose()
    (line,) = done.attention
    assert item["platformCaseId"] in line and "dead letter" in line


async def test_reconcile_takes_missing_assignments_and_resends_lost_statuses(
    db: Database, settings: Settings, sim: tuple[Simulator, PlatformSettings]
) -> None:
    simulator, psettings = sim
    install(runtime_of(settings, db, platform=psettings))
    first, second = simulator.assign(), simulator.assign()
    await pull(db, settings, psettings)
    missed = simulator.assign()  # the pull never saw it
    async with db.session((), write=True) as session, session.begin():
        row = await session.get(PlatformCursor, CURSOR)
        assert row is not None
        row.next_attempt_at = datetime.now(UTC) + timedelta(hours=1)
    # The platform lost the second case's status (its outbox row says DELIVERED).
    scope = await system_scope(db)
    async with db.session(scope.tenant_ids, write=True) as session, session.begin():
        for row in await session.scalars(select(OutboxMessage)):
            row.state = SendState.DELIVERED
    platform = HttpPlatform(psettings)
    try:
        dry = await reconcile(db, settings, psettings, platform, repair=False)
        assert len(dry.repaired) == 3 and "would take" in dry.repaired[0]
        assert simulator.statuses(first["platformCaseId"]) == []  # a dry run changes nothing
        done = await reconcile(db, settings, psettings, platform)
        lines = "\n".join(done.repaired)
        assert missed["platformCaseId"] in lines and "registered" in lines
        for item in (first, second):
            assert f"{item['platformCaseId']} (" in lines and "sent REGISTERED" in lines
        assert simulator.statuses(first["platformCaseId"]) == ["RECEIVED"]
        # The missed case's status is in the outbox (in flight), not repaired twice.
        again = await reconcile(db, settings, psettings, platform)
        assert again.repaired == [] and len(again.waiting) == 1
    finally:
        await platform.aclose()
    assert set(await platform_cases(db)) == {
        first["platformCaseId"],
        second["platformCaseId"],
        missed["platformCaseId"],
    }


# --- the adapter's answers ----------------------------------------------------------------------


async def test_the_adapter_tells_refusals_from_failures(
    sim: tuple[Simulator, PlatformSettings],
) -> None:
    simulator, psettings = sim
    item = simulator.assign()
    platform = HttpPlatform(psettings)
    status = StatusUpdate(
        item["platformCaseId"],
        "XM-1",
        CaseStatus.HANDLING,
        None,
        datetime.now(UTC).isoformat(),
        "k-1",
    )
    try:
        await platform.send_status(status)
        await platform.send_status(status)  # the same key: no second effect
        assert simulator.statuses(item["platformCaseId"]) == ["HANDLING"]
        with pytest.raises(Refused):  # unknown case
            await platform.send_status(
                StatusUpdate("ZZ-NONE", "XM-1", CaseStatus.HANDLING, None, status.at, "k-2")
            )
        assert await platform.view("ZZ-NONE") is None
        view = await platform.view(item["platformCaseId"])
        assert view is not None and view.status == CaseStatus.HANDLING
        wrong = HttpPlatform(psettings.model_copy(update={"token": "wrong"}))
        with pytest.raises(Refused):
            await wrong.assignments(None, 10)
        await wrong.aclose()
    finally:
        await platform.aclose()


async def test_a_batch_with_a_refusal_or_a_repeat_is_taken_one_by_one(
    db: Database, settings: Settings, sim: tuple[Simulator, PlatformSettings]
) -> None:
    simulator, psettings = sim
    good = [simulator.assign() for _ in range(3)]
    body = simulator.new_assignment()
    simulator.assign(body)
    again = simulator.update(body["platformCaseId"], "ASSIGNED", assignment=body)  # same body
    changed = simulator.update(
        body["platformCaseId"], "ASSIGNED", assignment={**body, "title": "改了标题"}
    )
    nowhere = simulator.assign(town="atlantis")  # the hub knows no such town: 422
    result = await pull(db, settings, psettings)
    assert result.outcomes == {"APPLIED": 5, "REFUSED": 2}
    seen = await updates(db)
    assert "此前已交办" in seen[again["updateId"]].reason
    assert seen[changed["updateId"]].outcome == "REFUSED"
    assert "409" in seen[changed["updateId"]].reason
    assert seen[nowhere["updateId"]].outcome == "REFUSED"
    assert "town" in seen[nowhere["updateId"]].reason and "乡镇" in seen[nowhere["updateId"]].reason
    cases = await platform_cases(db)
    assert set(cases) == {g["platformCaseId"] for g in good} | {body["platformCaseId"]}


async def test_a_merged_platform_case_tells_the_platform_where_it_went(
    db: Database, settings: Settings, sim: tuple[Simulator, PlatformSettings]
) -> None:
    simulator, psettings = sim
    install(runtime_of(settings, db, platform=psettings))
    merged, kept = simulator.assign(), simulator.assign()
    await pull(db, settings, psettings)
    cases = await platform_cases(db)
    scope = await system_scope(db)
    async with db.session(scope.tenant_ids, write=True) as session, session.begin():
        target = cases[kept["platformCaseId"]]
        await steps.merge(
            session, scope, str(cases[merged["platformCaseId"]].id), str(target.id), "同一工地"
        )
    async with db.session(scope.tenant_ids) as session:
        rows = list(
            await session.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.topic == push.TOPIC)
                .order_by(OutboxMessage.created_at)
            )
        )
    last = rows[-1].payload
    assert last["platformCaseId"] == merged["platformCaseId"] and last["status"] == "MERGED"
    assert last["note"] == f"并入 {target.number}：同一工地"
    assert len(rows) == 3  # two registrations and the merge; the kept case's status is unchanged


HOPS = """query($id: ID!) { caseClocks(caseId: $id) { phase yellowAt redAt }
  case(id: $id) { dueAt tenant { code } timeline { action label note } } }"""


async def test_a_platform_deadline_change_re_times_the_running_clock(
    hub: Hub, db: Database, settings: Settings, sim: tuple[Simulator, PlatformSettings]
) -> None:
    simulator, psettings = sim
    item = simulator.assign()
    await pull(db, settings, psettings)
    case_id = str((await platform_cases(db))[item["platformCaseId"]].id)
    town = (await hub.gql(HOPS, {"id": case_id}))["case"]["tenant"]["code"]
    dispatch = """mutation($id: ID!, $town: String!) { dispatchCase(caseId: $id,
      input: {tenantCode: $town}) { __typename } }"""
    await hub.gql(dispatch, {"id": case_id, "town": town})
    await hub.gql("mutation($id: ID!) { acceptCase(caseId: $id) { __typename } }", {"id": case_id})
    before = await hub.gql(HOPS, {"id": case_id})
    old_yellow = datetime.fromisoformat(before["caseClocks"][-1]["yellowAt"])
    shorter = old_yellow - timedelta(days=4)
    simulator.update(item["platformCaseId"], "DEADLINE", deadline=shorter.isoformat())
    assert (await pull(db, settings, psettings)).outcomes == {"APPLIED": 1}

    after = await hub.gql(HOPS, {"id": case_id})
    hop = after["caseClocks"][-1]
    assert hop["phase"] == "HANDLE"
    assert datetime.fromisoformat(hop["yellowAt"]) == shorter, "the cards fire by the new one"
    assert datetime.fromisoformat(after["case"]["dueAt"]) == shorter
    last = after["case"]["timeline"][-1]
    assert (last["action"], last["label"]) == ("DEADLINE_CHANGED", "期限调整")
