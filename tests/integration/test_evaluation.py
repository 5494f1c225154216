"""The monthly evaluation (考核) through the live app, on both databases.

A hand-checked month: November 2026 (Asia/Shanghai) with known activity for three members of two
towns, including rows just inside and just outside the month in local time, a tie that shares a
rank, a member who joined during the month and one who left. Every figure below is worked by
hand from the default rules (docs/evaluation.md):

    A (laiji, village 1)   patrols 3 -> 25 x 3/20 = 3.75      findings 3 -> 15 x 3/4 = 11.25
                           solved on site 1 -> 10 x 1/2 = 5   cases handled 3 -> 10 x 3/4 = 7.5
                           on time 2 of (3 resolved + 1 overdue) = 0.5 -> 15 x 0.5/0.9 = 8.33
                           diary days 2 -> 10 x 2/20 = 1       spot checks passed 1 -> 5
                           ledger on time 1 -> 10              yellow 3 -> -6, red 1 -> -5
                           spot checks failed 1 -> -5          score 35.83, rank 1
    B (laiji, town cell)   patrols 8 -> 10, no case (rate null) -> 15, diary 20 -> 10: 35.00
    C (chaohua)            patrols 4 -> 5, findings 2 -> 7.5, cases 1 -> 2.5, rate 1 -> 15,
                           diary 10 -> 5: 35.00 (B and C share rank 2)
    everyone else active   nothing but the empty rate: 15.00 (rank 4)
    L (left, laiji)        one failed spot check: 15 - 5 = 10.00, marked left, last
    J (joined 11-10)       15.00, marked joined;  Z (left, no record) and N (added in
                           December) are not in November at all.
"""

from __future__ import annotations

import io
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook
from sqlalchemy import select, update

from graphql import OperationDefinitionNode, parse, print_ast
from hub.cases.model import Case
from hub.demo import world
from hub.diaries.model import Diary, SpotCheck
from hub.grid.model import GridCell, Member
from hub.ledgers.model import LedgerItem
from hub.patrols.model import Finding, Patrol
from hub.supervision.model import CaseCard
from tests.conftest import SECRET, Hub
from tests.helpers import snapshot
from tests.operations import op, operations

from hub.auth import issue_jwt  # isort: skip

TZ = ZoneInfo("Asia/Shanghai")
LONG_AGO = datetime(2026, 1, 1, tzinfo=UTC)


def local(y: int, m: int, d: int, hh: int = 12, mm: int = 0, ss: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, ss, tzinfo=TZ).astimezone(UTC)


@dataclass
class People:
    a: Member
    b: Member
    c: Member
    left: Member
    gone: Member
    joined: Member
    new: Member
    idle: list[uuid.UUID]  # active, no record: every demo member but A, B, C, L, Z, and J


class World:
    """Rows written straight through the models (as the features' services would)."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.seq = 0
        self.rows: list[Any] = []

    def n(self) -> int:
        self.seq += 1
        return self.seq

    def case(self, member: Member | None, created: datetime, **fields: Any) -> Case:
        row = Case(
            id=uuid.uuid4(),
            tenant_id=member.tenant_id if member else fields.pop("tenant_id"),
            number=f"EV-2026-{self.n():06d}",
            title="考核测试案件",
            description="考核测试",
            status=fields.pop("status", "CLOSED"),
            category="AIR",
            priority="NORMAL",
            assignee_id=member.id if member else None,
            created_at=created,
            updated_at=created,
            **fields,
        )
        self.rows.append(row)
        return row

    def patrol(self, member: Member, started: datetime, findings: int = 0, solved: int = 0) -> None:
        patrol = Patrol(
            id=uuid.uuid4(),
            tenant_id=member.tenant_id,
            member_id=member.id,
            kind="ROUTINE",
            status="ENDED",
            client_id=f"p-{self.n()}",
            source_ids=[],
            started_at=started,
            ended_at=started + timedelta(minutes=40),
        )
        self.rows.append(patrol)
        for k in range(findings):
            found = self.case(None, started, tenant_id=member.tenant_id, channel_mask=8)
            self.rows.append(
                Finding(
                    tenant_id=member.tenant_id,
                    patrol_id=patrol.id,
                    client_id=f"f-{self.n()}",
                    case_id=found.id,
                    resolved_on_site=k < solved,
                    data={},
                    created_at=started + timedelta(minutes=20),
                )
            )

    def card(self, member: Member, case: Case, level: str, issued: datetime) -> None:
        self.rows.append(
            CaseCard(
                tenant_id=member.tenant_id,
                case_id=case.id,
                member_id=member.id,
                level=level,
                phase="HANDLE",
                reason="超期",
                automatic=False,
                issued_at=issued,
                issued_by_id="test",
                issued_by_name="督查",
            )
        )

    def diary(self, member: Member, day: date, text: str = "巡查辖区，走访企业") -> None:
        self.rows.append(Diary(tenant_id=member.tenant_id, member_id=member.id, day=day, text=text))

    def check(self, member: Member, day: date, result: str) -> None:
        self.rows.append(
            SpotCheck(
                tenant_id=member.tenant_id,
                member_id=member.id,
                day=day,
                result=result,
                note="抽查",
                checked_by="督查",
            )
        )

    def ledger(self, member: Member, deadline: date, **fields: Any) -> None:
        self.rows.append(
            LedgerItem(
                tenant_id=member.tenant_id,
                number=f"TZ-2026-{self.n():04d}",
                kind="RECTIFICATION",
                title="限期整改",
                description="整改",
                measures=[],
                deadline=deadline,
                responsible_member_id=member.id,
                opened_by="网格办",
                opened_at=local(2026, 10, 1),
                **fields,
            )
        )

    async def save(self) -> None:
        async with self.hub.db.session(await _everyone(self.hub), write=True) as session:
            # Without relationships the flush does not order the tables: referenced rows first.
            for kind in (Case, Patrol):
                session.add_all(r for r in self.rows if isinstance(r, kind))
                await session.flush()
            session.add_all(r for r in self.rows if not isinstance(r, (Case, Patrol)))
            await session.commit()
        self.rows = []


async def _everyone(hub: Hub) -> list[uuid.UUID]:
    return [t.id for t in (await hub.scope()).directory.tenants]


async def _people(hub: Hub) -> People:
    """The demo members, backdated to the start of the year, and the ones this month needs."""
    towns = {t.code: t.id for t in (await hub.scope()).directory.tenants}
    async with hub.db.session(await _everyone(hub), write=True) as session:
        await session.execute(update(Member).values(created_at=LONG_AGO))
        rows = (
            await session.execute(
                select(Member, GridCell.code)
                .join(GridCell, GridCell.id == Member.grid_cell_id)
                .order_by(Member.name)
            )
        ).all()
        by_cell: dict[str, Member] = {}
        for m, code in rows:
            by_cell.setdefault(code, m)
        laiji = [m for m, _ in rows if m.tenant_id == towns["laiji"]]
        chaohua = [m for m, _ in rows if m.tenant_id == towns["chaohua"]]
        a, b = by_cell[world.cell_code("laiji", 1)], by_cell["laiji"]
        c = chaohua[0]
        left, gone = [m for m in laiji if m not in (a, b)][:2]
        left.active = gone.active = False
        joined = Member(
            tenant_id=towns["laiji"], name="新来的", role="SECONDED", active=True,
            external_id="XMJ001", created_at=local(2026, 11, 10),
        )  # fmt: skip
        new = Member(
            tenant_id=towns["chaohua"], name="十二月到岗", role="SECONDED", active=True,
            external_id="XMN001", created_at=local(2026, 12, 2),
        )  # fmt: skip
        session.add_all([joined, new])
        await session.commit()
        idle = [m.id for m, _ in rows if m.active and m not in (a, b, c)] + [joined.id]
    return People(a, b, c, left, gone, joined, new, idle)


async def build_november(hub: Hub) -> People:
    p = await _people(hub)
    w = World(hub)
    a, b, c = p.a, p.b, p.c
    # A's patrols: three in November (the first minute and the last ten), two just outside.
    w.patrol(a, local(2026, 11, 1, 0, 10), findings=2, solved=1)
    w.patrol(a, local(2026, 11, 15, 9))
    w.patrol(a, local(2026, 11, 30, 23, 50), findings=1)  # its finding is recorded in December
    w.patrol(a, local(2026, 10, 31, 23, 50), findings=1, solved=1)  # October
    w.patrol(a, local(2026, 12, 1, 0, 5))  # December
    # A's cases: resolved on time, resolved late, open and overdue, open not due, one of
    # October's last minute, one of November's last minute without a deadline.
    w.case(a, local(2026, 11, 3), due_at=local(2026, 11, 8), resolved_at=local(2026, 11, 7))
    late = w.case(a, local(2026, 11, 4), due_at=local(2026, 11, 9), resolved_at=local(2026, 11, 12))
    overdue = w.case(a, local(2026, 11, 10), status="HANDLING", due_at=local(2026, 11, 20))
    w.case(a, local(2026, 11, 25), status="HANDLING", due_at=datetime(2027, 6, 1, tzinfo=UTC))
    w.case(
        a, local(2026, 10, 31, 23, 59), due_at=local(2026, 11, 5), resolved_at=local(2026, 11, 2)
    )
    w.case(a, local(2026, 11, 30, 23, 59), resolved_at=local(2026, 12, 1, 9))
    # A's cards: the month's first second counts, December's first half hour does not.
    w.card(a, overdue, "YELLOW", local(2026, 11, 21))
    w.card(a, overdue, "YELLOW", local(2026, 11, 1, 0, 0, 0))
    w.card(a, late, "RED", local(2026, 11, 10))
    w.card(a, late, "RED", local(2026, 12, 1, 0, 30))
    # A's ledger: closed on the deadline's last local minute (on time), closed ten minutes into
    # the next day (late), an open item carded yellow in November.
    w.ledger(a, date(2026, 11, 20), status="CLOSED", closed_at=local(2026, 11, 20, 23, 30),
             closed_by="网格办", percent=100)  # fmt: skip
    w.ledger(a, date(2026, 11, 10), status="CLOSED", closed_at=local(2026, 11, 11, 0, 10),
             closed_by="网格办", percent=100)  # fmt: skip
    w.ledger(a, date(2026, 11, 5), card="YELLOW", carded_at=local(2026, 11, 6))
    # A's diary: two days with words; a blank one and the neighbours' days do not count.
    for day, text in (
        (date(2026, 11, 1), "巡查"),
        (date(2026, 11, 2), "   "),
        (date(2026, 11, 30), "月底巡查"),
        (date(2026, 10, 31), "十月"),
        (date(2026, 12, 1), "十二月"),
    ):
        w.diary(a, day, text)
    w.check(a, date(2026, 11, 5), "PASS")
    w.check(a, date(2026, 11, 6), "FAIL")
    w.check(a, date(2026, 12, 1), "FAIL")
    # B: eight patrols, twenty diary days, no case.
    for day in range(1, 9):
        w.patrol(b, local(2026, 11, day, 8))
    for day in range(1, 21):
        w.diary(b, date(2026, 11, day))
    # C: four patrols (two findings on one), one case resolved on time, ten diary days.
    for day in range(2, 6):
        w.patrol(c, local(2026, 11, day, 8), findings=2 if day == 2 else 0)
    w.case(c, local(2026, 11, 6), due_at=local(2026, 11, 9), resolved_at=local(2026, 11, 8))
    for day in range(11, 21):
        w.diary(c, date(2026, 11, day))
    # L left but failed a spot check in November; Z left with nothing in November.
    w.check(p.left, date(2026, 11, 12), "FAIL")
    w.check(p.gone, date(2026, 10, 12), "FAIL")
    await w.save()
    return p


EXPECTED_A = {
    "score": 35.83,
    "patrols": 3,
    "findings": 3,
    "solvedOnSite": 1,
    "casesHandled": 3,
    "onTimeRate": 0.5,
    "yellowCards": 3,
    "redCards": 1,
    "diaryDays": 2,
    "spotChecksPassed": 1,
    "spotChecksFailed": 1,
}
EXPECTED_A_POINTS = {
    "patrols": (3, 3.75),
    "findings": (3, 11.25),
    "solvedOnSite": (1, 5.0),
    "casesHandled": (3, 7.5),
    "onTimeRate": (0.5, 8.33),
    "diaryDays": (2, 1.0),
    "spotChecksPassed": (1, 5.0),
    "ledgerOnTime": (1, 10.0),
    "yellowCards": (3, -6.0),
    "redCards": (1, -5.0),
    "spotChecksFailed": (1, -5.0),
}
EMPTY = dict.fromkeys(
    ["patrols", "findings", "solvedOnSite", "casesHandled", "yellowCards", "redCards",
     "diaryDays", "spotChecksPassed", "spotChecksFailed"], 0
) | {"onTimeRate": None}  # fmt: skip


CONTRACT = ("EvaluationRules", "SetEvaluationRule", "MonthlyEvaluation", "PublishEvaluation")
CONTRACT_FILE = Path("/work/shared/contract/evaluation.graphql")


def test_the_contract_operations_are_kept_verbatim() -> None:
    kept = operations()
    assert set(CONTRACT) <= kept.keys()
    if CONTRACT_FILE.exists():  # the shared contract, where this checkout has it
        agreed = {
            node.name.value: print_ast(node)
            for node in parse(CONTRACT_FILE.read_text()).definitions
            if isinstance(node, OperationDefinitionNode) and node.name
        }
        assert {name: kept[name] for name in CONTRACT} == {name: agreed[name] for name in CONTRACT}


def by_member(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["member"]["id"]: r for r in rows}


async def november(hub: Hub, token: str | None = None, **variables: Any) -> dict[str, Any]:
    data = await hub.gql(op("MonthlyEvaluation"), {"month": "2026-11", **variables}, token=token)
    return data["monthlyEvaluation"]


def check_row(row: dict[str, Any], score: float, rank: int, **figures: Any) -> None:
    expected = EMPTY | figures
    assert row["score"] == score, row
    assert row["rank"] == rank, row
    assert {k: row[k] for k in expected} == expected, row
    assert sum(p["points"] for p in row["breakdown"]) == pytest.approx(score)


async def test_a_hand_checked_month(hub: Hub) -> None:
    p = await build_november(hub)
    found = await november(hub)
    assert found["month"] == "2026-11" and found["published"] is False
    rows = by_member(found["rows"])
    a, b, c = (rows[str(m.id)] for m in (p.a, p.b, p.c))
    check_row(a, 35.83, 1, **{k: v for k, v in EXPECTED_A.items() if k != "score"})
    assert {x["key"]: (x["value"], x["points"]) for x in a["breakdown"]} == EXPECTED_A_POINTS
    assert [x["label"] for x in a["breakdown"]][:3] == ["巡查次数", "发现问题", "现场解决"]
    assert a["tenantCode"] == "laiji" and a["member"]["name"] == p.a.name
    check_row(b, 35.0, 2, patrols=8, diaryDays=20)
    check_row(c, 35.0, 2, patrols=4, findings=2, casesHandled=1, onTimeRate=1.0, diaryDays=10)
    assert c["tenantCode"] == "chaohua"
    # Everyone else active scores the empty rate's 15 and shares rank 4.
    for member_id in p.idle:
        check_row(rows[str(member_id)], 15.0, 4)
    left = rows[str(p.left.id)]
    check_row(left, 10.0, 4 + len(p.idle), spotChecksFailed=1)
    assert str(p.gone.id) not in rows and str(p.new.id) not in rows
    assert len(rows) == 3 + len(p.idle) + 1
    # Ranked order: the tie by town code (chaohua before laiji), the rest after.
    ids = [r["member"]["id"] for r in found["rows"]]
    assert ids[:3] == [str(p.a.id), str(p.c.id), str(p.b.id)] and ids[-1] == str(p.left.id)
    # The schema's extra fields: who left, who joined, the note and the rules scored with.
    extra = await hub.gql(
        "query($m: String!) { monthlyEvaluation(month: $m) { note rules { key weight target }"
        " rows { member { id } left joined ledgerOnTime } } }",
        {"m": "2026-11"},
    )
    flags = {r["member"]["id"]: r for r in extra["monthlyEvaluation"]["rows"]}
    assert flags[str(p.left.id)]["left"] and not flags[str(p.left.id)]["joined"]
    assert flags[str(p.joined.id)]["joined"] and not flags[str(p.joined.id)]["left"]
    assert flags[str(p.a.id)]["ledgerOnTime"] == 1
    assert "尚未发布" in extra["monthlyEvaluation"]["note"]


async def test_one_town_and_who_reads_what(hub: Hub) -> None:
    p = await build_november(hub)
    laiji = await november(hub, tenantCode="laiji")
    rows = by_member(laiji["rows"])
    assert {r["tenantCode"] for r in laiji["rows"]} == {"laiji"}
    assert rows[str(p.a.id)]["rank"] == 1 and rows[str(p.b.id)]["rank"] == 2
    idle = [m for m in p.idle if str(m) in rows]
    assert {rows[str(m)]["rank"] for m in idle} == {3}
    assert rows[str(p.left.id)]["rank"] == 3 + len(idle)
    # A town office sees its own town, ranked within it; another town does not exist for it.
    operator = hub.token("OPERATOR", ["laiji"])
    assert (await november(hub, operator))["rows"] == laiji["rows"]
    response = await hub.post(
        op("MonthlyEvaluation"), {"month": "2026-11", "tenantCode": "chaohua"}, token=operator
    )
    error = response.json()["errors"][0]
    assert error["extensions"] == {"code": "VALIDATION", "field": "tenantCode"}
    assert "chaohua" in error["message"]
    # A member reads their own row, with their rank in their town.
    member = issue_jwt(SECRET, "m-a", ["MEMBER"], ["laiji"], member=p.a.id)
    own = (await november(hub, member))["rows"]
    assert [r["member"]["id"] for r in own] == [str(p.a.id)] and own[0]["rank"] == 1
    assert own[0]["score"] == 35.83
    # Supervision reads the city; the command centre and machines do not read staff figures.
    assert len((await november(hub, hub.token("SUPERVISOR")))["rows"]) == len(rows) + len(
        [r for r in (await november(hub))["rows"] if r["tenantCode"] != "laiji"]
    )
    for role, towns in (("DISPATCHER", []), ("VIEWER", []), ("HOTLINE", []), ("MEMBER", ["laiji"])):
        response = await hub.post(
            op("MonthlyEvaluation"), {"month": "2026-11"}, token=hub.token(role, towns)
        )
        assert response.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN", role


@pytest.mark.parametrize("month", ["2026-13", "2026/11", "2026-1", "26-11", "2026-11-01"])
async def test_bad_months_name_the_field(hub: Hub, month: str) -> None:
    response = await hub.post(op("MonthlyEvaluation"), {"month": month}, token=hub.admin)
    error = response.json()["errors"][0]
    assert error["extensions"] == {"code": "VALIDATION", "field": "month"}
    assert "月份" in error["message"]
    before = await snapshot(hub)
    done = (await hub.gql(op("PublishEvaluation"), {"month": month}))["publishEvaluation"]
    assert done["__typename"] == "UserError" and done["code"] == "VALIDATION"
    assert done["field"] == "month"
    assert await snapshot(hub) == before


async def test_rules_are_data_admin_changes_them_audited(hub: Hub) -> None:
    rules = (await hub.gql(op("EvaluationRules"), token=hub.token("MEMBER", ["laiji"])))[
        "evaluationRules"
    ]
    assert rules[0] == {"key": "patrols", "label": "巡查次数", "weight": 25.0, "target": 20.0}
    assert {r["key"]: r["target"] for r in rules}["yellowCards"] is None
    before = await snapshot(hub)
    done = (await hub.gql(op("SetEvaluationRule"), {"key": "patrols", "weight": 30, "target": 24}))[
        "setEvaluationRule"
    ]
    assert done == {
        "__typename": "EvaluationRuleResult",
        "rule": {"key": "patrols", "label": "巡查次数", "weight": 30.0, "target": 24.0},
    }
    after = await snapshot(hub)
    assert after[2] == before[2] + 1  # one audit entry
    trail = (await hub.gql(op("AuditTrail"), {"subjectId": "patrols"}))["auditTrail"]
    assert [e["action"] for e in trail] == ["evaluation.set_rule"]
    rules = (await hub.gql(op("EvaluationRules")))["evaluationRules"]
    assert rules[0]["weight"] == 30.0 and rules[0]["target"] == 24.0
    # Without a target: weight points per unit.
    done = (await hub.gql(op("SetEvaluationRule"), {"key": "findings", "weight": 1.5}))[
        "setEvaluationRule"
    ]
    assert done["rule"]["target"] is None


@pytest.mark.parametrize(
    ("variables", "field"),
    [
        ({"key": "smiles", "weight": 5}, "key"),
        ({"key": "patrols", "weight": -1, "target": 20}, "weight"),
        ({"key": "patrols", "weight": 1e9}, "weight"),
        ({"key": "patrols", "weight": 10, "target": 0}, "target"),
        ({"key": "patrols", "weight": 10, "target": -3}, "target"),
        ({"key": "onTimeRate", "weight": 10, "target": 1.5}, "target"),
    ],
)
async def test_bad_rules_are_refused(hub: Hub, variables: dict[str, Any], field: str) -> None:
    before = await snapshot(hub)
    done = (await hub.gql(op("SetEvaluationRule"), variables))["setEvaluationRule"]
    assert done["__typename"] == "UserError" and done["code"] == "VALIDATION", done
    assert done["field"] == field and done["message"]
    assert await snapshot(hub) == before
    assert (await hub.gql(op("EvaluationRules")))["evaluationRules"][0]["weight"] == 25.0


async def test_only_admin_changes_rules(hub: Hub) -> None:
    for role in ("SUPERVISOR", "OPERATOR", "DISPATCHER"):
        token = hub.token(role, ["laiji"] if role == "OPERATOR" else [])
        done = (
            await hub.gql(op("SetEvaluationRule"), {"key": "patrols", "weight": 1}, token=token)
        )["setEvaluationRule"]
        assert done["code"] == "FORBIDDEN" and "管理员" in done["message"], role


async def test_publishing_freezes_the_month(hub: Hub) -> None:
    p = await build_november(hub)
    live = await november(hub)
    supervisor = hub.token("SUPERVISOR")
    before = await snapshot(hub)
    done = (await hub.gql(op("PublishEvaluation"), {"month": "2026-11"}, token=supervisor))[
        "publishEvaluation"
    ]
    assert done["__typename"] == "EvaluationResult"
    evaluation = done["evaluation"]
    assert evaluation["month"] == "2026-11" and evaluation["published"] is True
    published_at = datetime.fromisoformat(evaluation["publishedAt"])
    assert abs(published_at - datetime.now(UTC)) < timedelta(minutes=1)
    assert (await snapshot(hub))[2] == before[2] + 1
    trail = (await hub.gql(op("AuditTrail"), {"subjectId": "2026-11"}))["auditTrail"]
    assert [e["action"] for e in trail] == ["evaluation.publish"]
    frozen = await november(hub)
    assert frozen["published"] is True and frozen["rows"] == live["rows"]
    # Later changes to the rules and to the record leave November as it was published...
    await hub.gql(op("SetEvaluationRule"), {"key": "patrols", "weight": 50, "target": 20})
    w = World(hub)
    w.patrol(p.b, local(2026, 11, 20, 8))
    w.check(p.c, date(2026, 11, 20), "FAIL")
    await w.save()
    async with hub.db.session(await _everyone(hub), write=True) as session:
        await session.execute(update(Member).where(Member.id == p.a.id).values(name="改名"))
        await session.commit()
    assert (await november(hub))["rows"] == live["rows"]
    page = await hub.gql(
        'query { monthlyEvaluation(month: "2026-11") { note publishedBy rules { key weight } } }'
    )
    assert (
        "已于" in page["monthlyEvaluation"]["note"] and "冻结" in page["monthlyEvaluation"]["note"]
    )
    assert page["monthlyEvaluation"]["rules"][0] == {"key": "patrols", "weight": 25.0}
    # ... while a month not published scores with the new rule and the new rows: A's one
    # October patrol is 50 x 1/20 = 2.5.
    october = (await hub.gql(op("MonthlyEvaluation"), {"month": "2026-10"}))["monthlyEvaluation"]
    a_october = by_member(october["rows"])[str(p.a.id)]
    assert october["published"] is False and a_october["patrols"] == 1
    assert {x["key"]: x["points"] for x in a_october["breakdown"]}["patrols"] == 2.5
    assert a_october["member"]["name"] == "改名"
    # Publishing again is a conflict, and changes nothing.
    before = await snapshot(hub)
    again = (await hub.gql(op("PublishEvaluation"), {"month": "2026-11"}))["publishEvaluation"]
    assert again["__typename"] == "UserError" and again["code"] == "CONFLICT"
    assert again["field"] == "month" and "已于" in again["message"]
    assert await snapshot(hub) == before
    # A town office reads the frozen month of its town only.
    laiji = await november(hub, hub.token("OPERATOR", ["laiji"]))
    assert laiji["published"] and {r["tenantCode"] for r in laiji["rows"]} == {"laiji"}
    assert by_member(laiji["rows"])[str(p.a.id)]["member"]["name"] == p.a.name


async def test_who_may_publish_and_when(hub: Hub) -> None:
    cases = [
        (hub.token("OPERATOR", ["laiji"]), "2026-11", "FORBIDDEN"),
        (hub.token("DISPATCHER"), "2026-11", "FORBIDDEN"),
        (hub.token("SUPERVISOR", ["laiji"]), "2026-11", "FORBIDDEN"),  # not the whole city
        (hub.admin, "2099-01", "VALIDATION"),  # not ended
        (hub.admin, datetime.now(TZ).strftime("%Y-%m"), "VALIDATION"),  # this month
    ]
    before = await snapshot(hub)
    for token, month, code in cases:
        done = (await hub.gql(op("PublishEvaluation"), {"month": month}, token=token))[
            "publishEvaluation"
        ]
        assert done["__typename"] == "UserError" and done["code"] == code, (month, done)
        assert done["message"]
    assert await snapshot(hub) == before
    done = (await hub.gql(op("PublishEvaluation"), {"month": "2026-11"}))["publishEvaluation"]
    assert done["evaluation"]["published"] is True


# --- the workbook -------------------------------------------------------------------------------


async def download(hub: Hub, month: str, token: str | None, **params: str) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return await hub.http.get(f"/exports/evaluation/{month}.xlsx", headers=headers, params=params)


async def test_the_workbook(hub: Hub) -> None:
    p = await build_november(hub)
    response = await download(hub, "2026-11", hub.token("SUPERVISOR"))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert "evaluation-2026-11.xlsx" in response.headers["content-disposition"]
    book = load_workbook(io.BytesIO(response.content))
    assert book.sheetnames == ["考核", "考核办法", "说明"]
    sheet = book["考核"]
    rows = list(sheet.iter_rows(values_only=True))
    head = rows[0]
    assert head[:6] == ("排名", "姓名", "乡镇", "角色", "状态", "得分")
    assert head[6:8] == ("巡查次数", "巡查次数得分")
    assert sheet.freeze_panes == "A2" and sheet.auto_filter.ref
    first = dict(zip(head, rows[1], strict=True))
    assert first["姓名"] == p.a.name and first["乡镇"] == "来集镇" and first["排名"] == 1
    assert first["得分"] == 35.83 and first["巡查次数"] == 3 and first["巡查次数得分"] == 3.75
    assert first["按时办结率"] == "50.00%" and first["按时办结率得分"] == 8.33
    assert first["黄牌得分"] == -6 and first["台账按期销号"] == 1
    statuses = {dict(zip(head, r, strict=True))["姓名"]: r[4] for r in rows[1:]}
    assert statuses[p.left.name] == "离岗" and statuses[p.joined.name] == "本月新增"
    assert len(rows) - 1 == len((await november(hub))["rows"])
    method = list(book["考核办法"].iter_rows(values_only=True))
    assert method[0][:5] == ("考核项", "代码", "加/扣分", "权重", "目标值")
    assert method[1][:5] == ("巡查次数", "patrols", "加分", 25, 20)
    about = dict(book["说明"].iter_rows(min_row=2, values_only=True))
    assert about["月份"] == "2026-11" and about["状态"].startswith("未发布")
    # A town office downloads its own town.
    response = await download(hub, "2026-11", hub.token("OPERATOR", ["laiji"]))
    book = load_workbook(io.BytesIO(response.content))
    assert {r[2] for r in book["考核"].iter_rows(min_row=2, values_only=True)} == {"来集镇"}


@pytest.mark.parametrize(
    ("month", "role", "towns", "params", "status", "field"),
    [
        ("2026-11", None, [], {}, 401, None),
        ("2026-11", "MEMBER", ["laiji"], {}, 403, None),
        ("2026-11", "DISPATCHER", [], {}, 403, None),
        ("2026-13", "ADMIN", [], {}, 400, "month"),
        ("2026-1", "ADMIN", [], {}, 400, "month"),
        ("2026-11", "OPERATOR", ["laiji"], {"tenantCode": "chaohua"}, 400, "tenantCode"),
    ],
)
async def test_the_workbook_refuses(
    hub: Hub,
    month: str,
    role: str | None,
    towns: list[str],
    params: dict[str, str],
    status: int,
    field: str | None,
) -> None:
    token = hub.token(role, towns) if role else None
    response = await download(hub, month, token, **params)
    assert response.status_code == status, response.text
    error = response.json()["errors"][0]
    assert error["message"] and error.get("field") == field
