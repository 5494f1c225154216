"""caseStats adds up, on both databases: a row for every town (and status, category, channel)
with zeros where nothing happened, total = open + resolved + withdrawn in every row, the ALL row
equal to the sum of the towns, the statuses and the categories; the seed's categories counted by
hand on the quarter of tests/reporting.py."""

from __future__ import annotations

from typing import Any

from hub.cases.enums import CaseStatus, Category, Channel
from hub.reports.quarters import parse_quarter
from tests.conftest import Hub
from tests.operations import op
from tests.reporting import TZ, build_quarter, quarter_now

STATS = """query($from: DateTime, $to: DateTime, $groupBy: StatsGroup!) {
  caseStats(from: $from, to: $to, groupBy: $groupBy) {
    key label total open resolved withdrawn overdue yellowCards redCards onTimeRate
    networkFound platformAssigned solvedOnSite jointActions } }"""
ADDITIVE = (
    "total",
    "open",
    "resolved",
    "withdrawn",
    "overdue",
    "networkFound",
    "platformAssigned",
    "solvedOnSite",
)


async def stats(
    hub: Hub, group: str, token: str | None = None, **period: str
) -> list[dict[str, Any]]:
    return (await hub.gql(STATS, {"groupBy": group, **period}, token=token))["caseStats"]


def total(rows: list[dict[str, Any]], name: str) -> int:
    return sum(r[name] for r in rows)


async def test_an_empty_period_answers_a_zero_row_for_every_key(hub: Hub) -> None:
    period = {"from": "2000-01-01T00:00:00+08:00", "to": "2000-04-01T00:00:00+08:00"}
    scope = await hub.scope()
    towns = await stats(hub, "TENANT", **period)
    assert {r["key"] for r in towns} == {str(t) for t in scope.tenant_ids}
    assert {r["label"] for r in towns} >= {"来集镇", "牛店镇"}
    for group, keys in (("STATUS", CaseStatus), ("CATEGORY", Category), ("CHANNEL", Channel)):
        rows = await stats(hub, group, **period)
        assert {r["key"] for r in rows} == {k.value for k in keys}, group
    (everything,) = await stats(hub, "ALL", **period)
    assert everything["key"] == "ALL" and everything["label"] == "合计"
    for rows in (towns, [everything]):
        for row in rows:
            assert all(row[name] == 0 for name in (*ADDITIVE, "jointActions", "yellowCards"))
            assert row["onTimeRate"] is None
    # a town office: its own town's row, zero
    own = await stats(hub, "TENANT", hub.token("OPERATOR", ["laiji"]), **period)
    assert [(r["label"], r["total"]) for r in own] == [("来集镇", 0)]


async def test_the_parts_add_up_and_the_seeds_categories_by_hand(hub: Hub) -> None:
    await build_quarter(hub)
    start, end = parse_quarter(quarter_now()).bounds(TZ)
    period = {"from": start.isoformat(), "to": end.isoformat()}
    (everything,) = await stats(hub, "ALL", **period)
    assert {name: everything[name] for name in ADDITIVE} == {
        "total": 5,
        "open": 1,  # c2
        "resolved": 3,  # c1 closed, c4 on site, c5 resolved
        "withdrawn": 1,  # c3 rejected
        "overdue": 1,
        "networkFound": 4,  # every case but the patrol's finding
        "platformAssigned": 1,
        "solvedOnSite": 1,
    }
    assert (everything["yellowCards"], everything["redCards"]) == (1, 1)
    assert everything["jointActions"] == 2  # actions A and B
    assert everything["onTimeRate"] == 0.5  # c1, c4 on time / 3 resolved + 1 overdue
    for group in ("TENANT", "STATUS", "CATEGORY"):
        rows = await stats(hub, group, **period)
        for name in (*ADDITIVE, "yellowCards", "redCards"):
            assert total(rows, name) == everything[name], (group, name)
        for row in rows:
            assert row["total"] == row["open"] + row["resolved"] + row["withdrawn"], row
    towns = {r["label"]: r for r in await stats(hub, "TENANT", **period)}
    assert towns["来集镇"]["networkFound"] == 3 and towns["牛店镇"]["networkFound"] == 1
    # B acted on a case of each town: once for each (the towns' sum, 3, exceeds the 2 actions)
    assert (towns["来集镇"]["jointActions"], towns["牛店镇"]["jointActions"]) == (2, 1)
    channels = {r["key"]: r["total"] for r in await stats(hub, "CHANNEL", **period)}
    assert channels == {"HOTLINE": 3, "PLATFORM": 1, "GRID": 1, "MONITORING": 0, "OTHER": 0}
    contract = await hub.gql(op("CaseStats"), {"groupBy": "TENANT", **period})
    assert len(contract["caseStats"]) == len(towns)  # the contract's operation still answers
