"""The demo's month of work (hub/demo/month.py), on both databases: written through the services
once (a rerun adds nothing), with patrols and tracks inside the cells, findings as GRID cases
(some solved on site), diaries with a few days missing, spot checks, ledger items (one closed
with verification, one overdue and carded by the sweep), two joint actions, and a previous month
whose evaluation ranks the members sensibly.

The month is seeded once per backend for the module, for one town (laiji, the demo accounts'
town: both ledger items and a joint action are there); the whole city is what `sanwang demo`
writes, and takes longer than a test should.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from shapely.geometry import Point, shape
from sqlalchemy import func, select

from hub.audit.model import AuditEntry
from hub.auth import system_scope
from hub.cases.duplicates import Rules
from hub.cases.enums import CaseStatus
from hub.cases.model import Case
from hub.db import Database, utcnow
from hub.demo import world
from hub.demo.month import profiles, seed_month, span
from hub.diaries.model import Diary, SpotCheck, SpotCheckResult
from hub.diaries.service import missing_diaries
from hub.evaluation.service import monthly_evaluation
from hub.grid.model import GridCell, Member
from hub.joint.model import JointAction, JointActionCase
from hub.ledgers.model import LedgerItem, LedgerStatus
from hub.patrols.model import Finding, Patrol, PatrolStatus, TrackPoint
from tests.conftest import Backend

pytestmark = pytest.mark.slow  # the module's seeding takes tens of seconds on a busy machine

TZ = ZoneInfo("Asia/Shanghai")
TOWNS = frozenset({"laiji"})


@dataclass
class Seeded:
    url: str
    first: dict[str, int]
    second: dict[str, int]


@pytest.fixture(scope="module")
def seeded(backend: Backend, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    url = backend.fresh_url(tmp_path_factory.mktemp("month"))

    async def run() -> tuple[dict[str, int], dict[str, int]]:
        db = Database(url)
        try:
            kw = {"tz": TZ, "prefix": "XM", "rules": Rules(), "towns": TOWNS}
            return await seed_month(db, **kw), await seed_month(db, **kw)  # type: ignore[arg-type]
        finally:
            await db.dispose()

    first, second = asyncio.run(run())
    yield Seeded(url, first, second)
    backend.drop(url)


@pytest.fixture
async def mdb(seeded: Seeded) -> Iterator[Database]:
    database = Database(seeded.url)
    yield database
    await database.dispose()


def previous_month() -> str:
    first, _ = span(utcnow().astimezone(TZ).date())
    return f"{first:%Y-%m}"


async def test_a_rerun_adds_nothing(seeded: Seeded, mdb: Database) -> None:
    assert set(seeded.second.values()) == {0}
    first = seeded.first
    assert first["patrols"] >= 100 and first["diaries"] >= 100
    assert first["findings"] >= 10 and first["case_steps"] >= 10
    assert first["spot_checks"] >= 8
    assert first["ledger"] >= 2 + 2 + 1, "two items opened, their progress, one closed"
    assert first["joint"] == 2
    scope = await system_scope(mdb)
    async with mdb.session(scope.tenant_ids) as session:
        assert await session.scalar(select(func.count(Patrol.id))) == first["patrols"]
        assert await session.scalar(select(func.count(Finding.id))) == first["findings"]
        assert await session.scalar(select(func.count(Diary.id))) == first["diaries"]
        assert await session.scalar(select(func.count(SpotCheck.id))) == first["spot_checks"]
        assert await session.scalar(select(func.count(JointAction.id))) == 2


async def test_patrols_have_tracks_inside_their_cells(mdb: Database) -> None:
    scope = await system_scope(mdb)
    async with mdb.session(scope.tenant_ids) as session:
        cells = {c.id: shape(c.polygon) for c in await session.scalars(select(GridCell))}
        patrols = list(await session.scalars(select(Patrol)))
        points = list(await session.scalars(select(TrackPoint)))
    by_patrol = {p.id: p for p in patrols}
    assert all(p.status == PatrolStatus.ENDED and p.track_meters > 0 for p in patrols)
    assert all(p.point_count >= 2 for p in patrols)
    for point in points:
        patrol = by_patrol[point.patrol_id]
        assert patrol.grid_cell_id is not None
        assert cells[patrol.grid_cell_id].contains(Point(point.longitude, point.latitude))
        assert patrol.started_at <= point.at <= (patrol.ended_at or point.at)
    first = min(p.started_at for p in patrols).astimezone(TZ)
    assert f"{first:%Y-%m}" == previous_month() and first.day <= 5


async def test_findings_are_grid_cases_some_solved_on_site(mdb: Database) -> None:
    scope = await system_scope(mdb)
    async with mdb.session(scope.tenant_ids) as session:
        rows = list(
            await session.execute(
                select(Finding, Case, Patrol)
                .join(Case, Case.id == Finding.case_id)
                .join(Patrol, Patrol.id == Finding.patrol_id)
            )
        )
    on_site = [(f, c) for f, c, _ in rows if f.resolved_on_site]
    sent = [(f, c) for f, c, _ in rows if not f.resolved_on_site]
    assert on_site and sent
    assert all(c.status == CaseStatus.CLOSED and c.assignee_id is None for _, c in on_site)
    assert all(c.channel_mask and c.number.startswith("XM-") for _, c, _ in rows)
    # Registered when the finding was made, during its patrol (the simulated clock); a finding
    # sent on may have joined an earlier open case about the same enterprise.
    for f, c, p in rows:
        assert p.started_at <= f.created_at <= (p.ended_at or f.created_at)
        assert c.created_at == f.created_at if f.resolved_on_site else c.created_at <= f.created_at
    resolved = [c for _, c in sent if c.status == CaseStatus.RESOLVED]
    assert resolved and all(c.assignee_id is not None for c in resolved)
    assert all(c.resolved_at and c.resolved_at > c.created_at for c in resolved)
    assert {c.tenant_id for _, c in sent} <= {c.tenant_id for _, c, _ in rows}


async def test_ledger_items_one_closed_one_overdue_and_carded(mdb: Database) -> None:
    scope = await system_scope(mdb)
    async with mdb.session(scope.tenant_ids) as session:
        items = list(await session.scalars(select(LedgerItem)))
        carded = list(
            await session.scalars(select(AuditEntry).where(AuditEntry.action == "ledger.carded"))
        )
    today = utcnow().astimezone(TZ).date()
    assert len(items) == 2 and all(i.source_id and i.responsible_member_id for i in items)
    closed = [i for i in items if i.status == LedgerStatus.CLOSED]
    overdue = [i for i in items if i.status == LedgerStatus.OPEN and i.deadline < today]
    assert len(closed) == 1 and closed[0].verification and closed[0].closed_at
    assert closed[0].closed_at.astimezone(TZ).date() <= closed[0].deadline
    assert len(overdue) == 1 and overdue[0].card in ("YELLOW", "RED")
    [late] = overdue
    assert late.carded_at is not None and late.carded_at.astimezone(TZ).date() > late.deadline
    assert {e.subject_id for e in carded} == {str(late.id)}


async def test_two_joint_actions_over_demo_cases(mdb: Database) -> None:
    scope = await system_scope(mdb)
    async with mdb.session(scope.tenant_ids) as session:
        actions = list(await session.scalars(select(JointAction)))
        linked = list(await session.scalars(select(JointActionCase)))
    assert len(actions) == 2
    assert all(a.departments and a.note for a in actions)
    assert {c.action_id for c in linked} == {a.id for a in actions}


async def test_the_evaluation_ranks_the_members_sensibly(mdb: Database) -> None:
    scope = await system_scope(mdb)
    async with mdb.session(scope.tenant_ids) as session:
        for town in sorted(TOWNS):
            evaluation = await monthly_evaluation(session, scope, previous_month(), town, tz=TZ)
            rows = evaluation.rows
            assert len(rows) >= 6 and not any(r.joined for r in rows)
            scores = [r.score for r in rows]
            assert len(set(scores)) >= len(rows) - 2, scores
            top, bottom = rows[0], rows[-1]
            assert top.score > bottom.score
            assert top.figure("patrols") > bottom.figure("patrols")
            assert sum(r.figure("diaryDays") for r in rows) > 0
            assert sum(r.figure("spotChecksPassed") for r in rows) > 0


async def test_a_few_members_miss_diaries(mdb: Database) -> None:
    scope = await system_scope(mdb)
    first, _ = span(utcnow().astimezone(TZ).date())
    month_end = (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    async with mdb.session(scope.tenant_ids) as session:
        missing = []
        for town in sorted(TOWNS):
            missing += await missing_diaries(session, scope, town, first, month_end, tz=TZ)
        members = await session.scalar(
            select(func.count(Member.id)).where(
                Member.tenant_id.in_([scope.directory.by_code[t].id for t in TOWNS])
            )
        )
        checks = list(await session.scalars(select(SpotCheck)))
    who = {m.name for _, m in missing}
    lax = {m.name for m in world.MEMBERS if m.tenant in TOWNS and profiles()[m.external_id].lax}
    assert missing and who == lax and len(who) < (members or 0) // 2
    passed = sum(c.result == SpotCheckResult.PASS for c in checks)
    assert 0 < len(checks) - passed < passed, "mostly PASS, a few FAIL"
