"""Time limits, cards and supervision through GraphQL, with the sweep run at chosen times."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from hub.cases.enums import CaseStatus
from hub.db import utcnow
from hub.outbox.model import OutboxMessage
from hub.supervision.model import CaseCard
from tests.conftest import Hub, register
from tests.helpers import mutate, sweep_at
from tests.operations import op

CLOCKS = """query($id: ID!) { caseClocks(caseId: $id) { seq level tenantCode phase yellowAt redAt
  suspended card acceptedAt endedAt endReason }
  caseCards(caseId: $id) { level phase automatic reason tenantCode }
  case(id: $id) { status card dueAt timeline { action note } } }"""

DISPATCH = """mutation($id: ID!, $input: DispatchInput!) {
  dispatchCase(caseId: $id, input: $input) {
  __typename ... on CaseResult { case { id status dueAt } } ... on UserError { code message } } }"""


async def clocks(hub: Hub, case_id: str) -> dict:
    return await hub.gql(CLOCKS, {"id": case_id})


async def dispatched(hub: Hub, town: str = "laiji", **fields: Any) -> str:
    case = (await register(hub, tenantCode=town, **fields))["case"]
    result = await mutate(hub, DISPATCH, id=case["id"], input={"tenantCode": town})
    assert result["case"]["status"] == "DISPATCHED"
    return case["id"]


def iso(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def test_dispatch_starts_an_accept_clock_and_accept_starts_handling(hub: Hub) -> None:
    case_id = await dispatched(hub)
    state = await clocks(hub, case_id)
    hop = state["caseClocks"][-1]
    assert hop["level"] == "TOWN" and hop["phase"] == "ACCEPT" and hop["tenantCode"] == "laiji"
    opened = utcnow()
    assert timedelta(hours=1.9) < iso(hop["yellowAt"]) - opened <= timedelta(hours=2)
    assert iso(hop["redAt"]) - iso(hop["yellowAt"]) == timedelta(hours=2)
    accept = op("AcceptCase")
    await hub.gql(accept, {"caseId": case_id}, token=hub.token("OPERATOR", ["laiji"]))
    hop = (await clocks(hub, case_id))["caseClocks"][-1]
    assert hop["phase"] == "HANDLE" and hop["acceptedAt"]
    assert iso(hop["yellowAt"]) - utcnow() > timedelta(days=4), "5 working days at a town"


async def test_sweep_cards_yellow_then_red_once_and_recalls_an_unaccepted_hop(hub: Hub) -> None:
    case_id = await dispatched(hub, "chaohua")
    hop = (await clocks(hub, case_id))["caseClocks"][-1]
    yellow, red = iso(hop["yellowAt"]), iso(hop["redAt"])

    assert await sweep_at(hub, "chaohua", yellow - timedelta(minutes=1)) == 0
    assert await sweep_at(hub, "chaohua", yellow + timedelta(minutes=1)) == 1
    assert await sweep_at(hub, "chaohua", yellow + timedelta(minutes=2)) == 0, "twice: nothing"
    state = await clocks(hub, case_id)
    assert state["case"]["card"] == "YELLOW"
    assert state["caseCards"] == [
        {
            "level": "YELLOW",
            "phase": "ACCEPT",
            "automatic": True,
            "reason": "超过签收时限",
            "tenantCode": "chaohua",
        }
    ]

    assert await sweep_at(hub, "chaohua", red + timedelta(minutes=1)) == 1
    state = await clocks(hub, case_id)
    assert state["case"]["card"] == "RED"
    assert state["case"]["status"] == "REGISTERED", "not accepted in time: back to the queue"
    assert state["caseClocks"][-2]["endReason"] == "NOT_ACCEPTED"
    actions = [e["action"] for e in state["case"]["timeline"]]
    assert actions[-3:] == ["CARD", "CARD", "RECALL"]
    notices = await outbox_count(hub, "notify")
    assert notices == 2, "one notification per card"


async def outbox_count(hub: Hub, topic: str) -> int:
    scope = await hub.scope()
    async with hub.db.session(scope.tenant_ids) as session:
        return int(
            await session.scalar(
                select(func.count()).select_from(OutboxMessage).where(OutboxMessage.topic == topic)
            )
            or 0
        )


async def test_two_sweeps_at_once_issue_no_double_cards(hub: Hub) -> None:
    ids = [await dispatched(hub, "dawei", externalId=f"s{n}") for n in range(5)]
    later = utcnow() + timedelta(hours=3)
    results = await asyncio.gather(*(sweep_at(hub, "dawei", later) for _ in range(4)))
    assert sum(results) == 5
    scope = await hub.scope()
    async with hub.db.session(scope.tenant_ids) as session:
        cards = await session.scalar(select(func.count()).select_from(CaseCard))
    assert cards == 5
    for case_id in ids:
        assert (await clocks(hub, case_id))["case"]["card"] == "YELLOW"


ISSUE = """mutation($id: ID!, $level: Card!, $reason: String!) {
  issueCard(caseId: $id, level: $level, reason: $reason) {
    __typename ... on CaseResult { case { id card } } ... on UserError { code message field } } }"""
URGE = op("UrgeCase")


async def test_cards_by_hand_need_the_same_or_a_higher_office(hub: Hub) -> None:
    case_id = await dispatched(hub, "laiji")  # a TOWN hop
    member = await mutate(
        hub, ISSUE, hub.token("MEMBER", ["laiji"]), id=case_id, level="YELLOW", reason="迟缓"
    )
    assert member["code"] == "FORBIDDEN"
    town = await mutate(
        hub, ISSUE, hub.token("OPERATOR", ["laiji"]), id=case_id, level="YELLOW", reason="迟缓"
    )
    assert town["case"]["card"] == "YELLOW"
    none = await mutate(hub, ISSUE, hub.token("SUPERVISOR"), id=case_id, level="NONE", reason="x")
    assert none["code"] == "VALIDATION" and none["field"] == "level"
    city = await mutate(
        hub, ISSUE, hub.token("SUPERVISOR"), id=case_id, level="RED", reason="屡催不办"
    )
    assert city["case"]["card"] == "RED"
    cards = (await clocks(hub, case_id))["caseCards"]
    assert [(c["level"], c["automatic"]) for c in cards] == [("YELLOW", False), ("RED", False)]

    city_case = (await register(hub, tenantCode="xinmi"))["case"]["id"]
    refused = await mutate(
        hub, ISSUE, hub.token("OPERATOR", ["laiji"]), id=city_case, level="YELLOW", reason="x"
    )
    assert refused["code"] in {"FORBIDDEN", "NOT_FOUND"}


async def test_urge_is_on_timeline_audit_and_notified(hub: Hub) -> None:
    case_id = await dispatched(hub, "goutang")
    before = await outbox_count(hub, "notify")
    urged = await mutate(hub, URGE, hub.token("SUPERVISOR"), caseId=case_id, note="请今日办结")
    assert urged["__typename"] == "CaseResult"
    state = await clocks(hub, case_id)
    assert state["case"]["timeline"][-1] == {"action": "URGE", "note": "请今日办结"}
    trail = await hub.gql(
        "query($id: ID!) { auditTrail(subjectId: $id) { action } }", {"id": case_id}
    )
    assert trail["auditTrail"][-1]["action"] == "case.urge"
    assert await outbox_count(hub, "notify") == before + 1
    refused = await mutate(hub, URGE, hub.token("MEMBER", ["goutang"]), caseId=case_id, note="x")
    assert refused["code"] == "FORBIDDEN"


SUSPEND = """mutation($id: ID!) { suspendCase(caseId: $id, reason: "等待检测报告") {
  __typename ... on UserError { code } } }"""
RESUME = (
    """mutation($id: ID!) { resumeCase(caseId: $id) { __typename ... on UserError { code } } }"""
)


async def test_suspend_stops_the_clock_and_resume_moves_it_on(hub: Hub) -> None:
    case_id = await dispatched(hub, "pingmo")
    before = (await clocks(hub, case_id))["caseClocks"][-1]
    assert (await mutate(hub, SUSPEND, id=case_id))["__typename"] == "CaseResult"
    paused = (await clocks(hub, case_id))["caseClocks"][-1]
    assert paused["suspended"] and paused["yellowAt"] is None
    assert await sweep_at(hub, "pingmo", utcnow() + timedelta(days=30)) == 0, "no card while paused"
    assert (await mutate(hub, SUSPEND, id=case_id))["code"] == "INVALID_TRANSITION"
    await asyncio.sleep(0.05)
    assert (await mutate(hub, RESUME, id=case_id))["__typename"] == "CaseResult"
    after = (await clocks(hub, case_id))["caseClocks"][-1]
    assert not after["suspended"]
    assert iso(after["yellowAt"]) > iso(before["yellowAt"]), "the pause moved the threshold"
    assert (await mutate(hub, RESUME, id=case_id))["code"] == "INVALID_TRANSITION"


REQUEST = """mutation($id: ID!, $due: DateTime!) { requestExtension(caseId: $id, dueAt: $due,
  reason: "需第三方检测") { __typename ... on ExtensionResult { requestId status }
  ... on UserError { code field } } }"""
DECIDE = """mutation($r: ID!, $ok: Boolean!) { decideExtension(requestId: $r, approve: $ok) {
  __typename ... on CaseResult { case { dueAt } } ... on UserError { code } } }"""


async def test_extension_needs_a_supervisor_and_moves_the_deadline(hub: Hub) -> None:
    case_id = await dispatched(hub, "quliang")
    await hub.gql(op("AcceptCase"), {"caseId": case_id})
    due = (utcnow() + timedelta(days=30)).replace(microsecond=0)
    asked = await mutate(
        hub, REQUEST, hub.token("OPERATOR", ["quliang"]), id=case_id, due=due.isoformat()
    )
    assert asked["status"] == "PENDING"
    refused = await mutate(
        hub, DECIDE, hub.token("OPERATOR", ["quliang"]), r=asked["requestId"], ok=True
    )
    assert refused["code"] == "FORBIDDEN"
    approved = await mutate(hub, DECIDE, hub.token("SUPERVISOR"), r=asked["requestId"], ok=True)
    assert iso(approved["case"]["dueAt"]) == due
    hop = (await clocks(hub, case_id))["caseClocks"][-1]
    assert iso(hop["yellowAt"]) == due
    again = await mutate(hub, DECIDE, hub.token("SUPERVISOR"), r=asked["requestId"], ok=False)
    assert again["code"] == "CONFLICT"
    earlier = await mutate(hub, REQUEST, id=case_id, due=(due - timedelta(days=1)).isoformat())
    assert earlier["code"] == "VALIDATION" and earlier["field"] == "dueAt"


async def test_nobody_decides_their_own_extension_request(hub: Hub) -> None:
    case_id = await dispatched(hub, "quliang", externalId="own-ext")
    await hub.gql(op("AcceptCase"), {"caseId": case_id})
    due = (utcnow() + timedelta(days=20)).replace(microsecond=0)
    both = hub.token("ADMIN", sub="admin-who-asks")
    asked = await mutate(hub, REQUEST, both, id=case_id, due=due.isoformat())
    assert asked["status"] == "PENDING"
    own = await mutate(hub, DECIDE, both, r=asked["requestId"], ok=True)
    assert own["code"] == "FORBIDDEN", "asking and granting are two people's steps"
    other = await mutate(hub, DECIDE, hub.token("SUPERVISOR"), r=asked["requestId"], ok=True)
    assert iso(other["case"]["dueAt"]) == due


async def test_case_stats_count_open_overdue_against_the_on_time_rate(hub: Hub) -> None:
    late = await dispatched(hub, "niudian", externalId="late")
    await dispatched(hub, "niudian", externalId="fresh")
    await sweep_at(hub, "niudian", utcnow() + timedelta(hours=3))
    scope = await hub.scope()
    async with hub.db.session(scope.tenant_ids, write=True) as session:
        from hub.cases.model import Case

        case = await session.get(Case, __import__("uuid").UUID(late))
        case.due_at = utcnow() - timedelta(hours=1)
        await session.commit()
    stats = await hub.gql(op("CaseStats"), {"groupBy": "TENANT"})
    row = next(r for r in stats["caseStats"] if r["label"] == "牛店镇")
    assert row["total"] == 2 and row["open"] == 2 and row["overdue"] == 1
    assert row["resolved"] == 0 and row["onTimeRate"] == 0.0
    assert row["yellowCards"] == 2 and row["redCards"] == 0
    by_channel = await hub.gql(op("CaseStats"), {"groupBy": "CHANNEL"})
    assert {r["key"] for r in by_channel["caseStats"] if r["total"]} == {"HOTLINE"}
    empty = await hub.gql(
        op("CaseStats"),
        {
            "groupBy": "STATUS",
            "from": "2000-01-01T00:00:00+00:00",
            "to": "2000-01-02T00:00:00+00:00",
        },
    )
    # every status answers, with zeros (tests/integration/test_case_stats.py)
    assert {r["key"] for r in empty["caseStats"]} == {s.value for s in CaseStatus}
    assert all(r["total"] == 0 and r["onTimeRate"] is None for r in empty["caseStats"])


async def test_the_working_calendar_is_data_an_admin_can_edit(hub: Hub) -> None:
    got = await hub.gql("""{ workCalendar(tenantCode: "laiji", from: "2025-10-01",
      to: "2025-10-12") { day workday reason } }""")
    days = {d["day"]: d for d in got["workCalendar"]}
    assert days["2025-10-01"] == {"day": "2025-10-01", "workday": False, "reason": "国庆节"}
    assert days["2025-10-11"]["workday"] is True and days["2025-10-11"]["reason"] == "调休上班"
    edit = """mutation($w: Boolean!) { setWorkDay(tenantCode: "laiji", day: "2025-10-02",
      workday: $w, reason: "防汛值班") { __typename ... on WorkDay { workday reason }
      ... on UserError { code } } }"""
    refused = await hub.gql(edit, {"w": True}, token=hub.token("DISPATCHER"))
    assert refused["setWorkDay"]["code"] == "FORBIDDEN"
    done = await hub.gql(edit, {"w": True})
    assert done["setWorkDay"] == {"__typename": "WorkDay", "workday": True, "reason": "防汛值班"}


SET_RULE = """mutation($i: TimeLimitRuleInput!) { setTimeLimitRule(input: $i) {
  __typename ... on TimeLimitRule { level phase unit yellowAfter redAfter }
  ... on UserError { code field } } }"""


async def test_time_limits_are_data_an_admin_can_change(hub: Hub) -> None:
    rule = {
        "level": "TOWN",
        "phase": "ACCEPT",
        "unit": "HOURS",
        "yellowAfter": 0.5,
        "redAfter": 1,
        "category": "NOISE",
    }
    refused = await mutate(hub, SET_RULE, hub.token("SUPERVISOR"), i=rule)
    assert refused["code"] == "FORBIDDEN"
    bad = await mutate(hub, SET_RULE, i={**rule, "yellowAfter": 2})
    assert bad["code"] == "VALIDATION" and bad["field"] == "yellowAfter"
    unknown = await mutate(hub, SET_RULE, i={**rule, "category": "SMELL"})
    assert unknown["code"] == "VALIDATION" and unknown["field"] == "category"
    done = await mutate(hub, SET_RULE, i=rule)
    assert done["yellowAfter"] == 0.5
    noise = await dispatched(hub, "laiji", category="NOISE", externalId="noise")
    dust = await dispatched(hub, "laiji", externalId="dust")
    noise_hop = (await clocks(hub, noise))["caseClocks"][-1]
    dust_hop = (await clocks(hub, dust))["caseClocks"][-1]
    assert iso(noise_hop["redAt"]) - iso(noise_hop["yellowAt"]) == timedelta(minutes=30)
    assert iso(dust_hop["redAt"]) - iso(dust_hop["yellowAt"]) == timedelta(hours=2)
    rules = await hub.gql("{ timeLimitRules { level phase category yellowAfter } }")
    assert {"level": "TOWN", "phase": "ACCEPT", "category": "NOISE", "yellowAfter": 0.5} in rules[
        "timeLimitRules"
    ]


COUNTS = """query($g: CardGroup!) { cardCounts(groupBy: $g) { key label yellowCards redCards } }"""


async def test_cards_are_counted_per_town_and_per_member(hub: Hub) -> None:
    cells = (await hub.gql(op("GridCells"), {"tenantCode": "laiji"}))["gridCells"]
    member = next(c for c in cells if c["level"] == 3)["members"][0]
    case = (await register(hub, tenantCode="laiji"))["case"]["id"]
    await mutate(hub, DISPATCH, id=case, input={"tenantCode": "laiji", "assigneeId": member["id"]})
    assert await sweep_at(hub, "laiji", utcnow() + timedelta(hours=5)) == 2  # yellow and red
    towns = (await hub.gql(COUNTS, {"g": "TENANT"}))["cardCounts"]
    assert towns == [{"key": towns[0]["key"], "label": "来集镇", "yellowCards": 1, "redCards": 1}]
    members = (await hub.gql(COUNTS, {"g": "MEMBER"}))["cardCounts"]
    assert members == [
        {"key": member["id"], "label": member["name"], "yellowCards": 1, "redCards": 1}
    ]
    hops = (await clocks(hub, case))["caseClocks"]
    assert hops[1]["level"] == "GRID", "a dispatch naming a member opens a grid-level hop"


async def notify_texts(hub: Hub, kind: str) -> list[dict]:
    scope = await hub.scope()
    async with hub.db.session(scope.tenant_ids) as session:
        rows = await session.scalars(select(OutboxMessage).where(OutboxMessage.topic == "notify"))
        return [r.payload for r in rows if r.payload["kind"] == kind]


async def test_notifications_name_the_town_the_assignee_and_local_times(hub: Hub) -> None:
    cells = await hub.gql('{ gridCells(tenantCode: "chaohua") { id members { id name } } }', {})
    cell = next(c for c in cells["gridCells"] if c["members"])
    member = cell["members"][0]
    day = (utcnow() + timedelta(days=3)).date()
    due = datetime(day.year, day.month, day.day, 16, tzinfo=UTC)  # local midnight, next day
    case = (await register(hub, tenantCode="chaohua", title="水泥厂粉尘"))["case"]
    inp = {"tenantCode": "chaohua", "assigneeId": member["id"], "dueAt": due.isoformat()}
    assert (await mutate(hub, DISPATCH, id=case["id"], input=inp))["case"]["dueAt"]
    midnight = f"{day + timedelta(days=1)} 00:00"

    urged = await mutate(hub, URGE, hub.token("SUPERVISOR"), caseId=case["id"], note="请今日办结")
    assert urged["__typename"] == "CaseResult"
    [note] = await notify_texts(hub, "case.urged")
    assert note["text"].startswith(f"督办：超化镇 案件{case['number']}（水泥厂粉尘）")
    assert f"承办人：{member['name']}" in note["text"] and midnight in note["text"]
    assert note["data"]["town"] == "chaohua" and note["data"]["townName"] == "超化镇"
    assert note["data"]["assignee"] == member["name"]

    hop = (await clocks(hub, case["id"]))["caseClocks"][-1]
    assert await sweep_at(hub, "chaohua", iso(hop["yellowAt"]) + timedelta(minutes=1)) == 1
    [card] = await notify_texts(hub, "case.carded")
    assert card["text"].startswith(f"超时自动亮黄牌：超化镇 案件{case['number']}")
    assert member["name"] in card["text"] and midnight in card["text"]
    assert "T16:00" not in card["text"] and "+00:00" not in card["text"]


async def test_a_case_names_its_codes_in_chinese(hub: Hub) -> None:
    case_id = await dispatched(hub, "chaohua", category="DUST")
    query = """query($id: ID!) { case(id: $id) { status statusLabel category categoryLabel
      priorityLabel card cardLabel channels channelLabels timeline { action label } } }"""
    case = (await hub.gql(query, {"id": case_id}))["case"]
    assert (case["status"], case["statusLabel"]) == ("DISPATCHED", "转办")
    assert (case["category"], case["categoryLabel"]) == ("DUST", "扬尘")
    assert case["priorityLabel"] == "一般" and (case["card"], case["cardLabel"]) == ("NONE", "无")
    assert len(case["channelLabels"]) == len(case["channels"]) >= 1
    assert [e["label"] for e in case["timeline"]][:2] == ["登记", "转办"]
