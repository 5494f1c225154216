"""The rules people work by (issue 12, items 1-6): a clock from registration, deadlines from
outside, separation of duties, hand-backs, the extension queue, facts that can be read back."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import update

from hub.cases.model import Case
from hub.db import utcnow
from tests.conftest import Hub, register
from tests.helpers import PLATFORM_ASSIGNMENT, mutate, post_json, sweep_at
from tests.operations import op

CLOCKS = """query($id: ID!) { caseClocks(caseId: $id) { seq level tenantCode phase yellowAt redAt
  card endedAt endReason }
  case(id: $id) { status card dueAt timeline { action note } } }"""

DISPATCH = op("DispatchCase")


async def clocks(hub: Hub, case_id: str) -> dict:
    return await hub.gql(CLOCKS, {"id": case_id})


def iso(value: str) -> datetime:
    return datetime.fromisoformat(value)


# --- 1. a clock from registration -----------------------------------------------------------


async def test_a_registered_case_has_a_dispatch_clock_and_is_carded_undispatched(
    hub: Hub,
) -> None:
    case_id = (await register(hub, tenantCode="laiji"))["case"]["id"]
    state = await clocks(hub, case_id)
    assert state["case"]["status"] == "REGISTERED"
    [hop] = state["caseClocks"]
    assert (hop["phase"], hop["level"], hop["tenantCode"]) == ("DISPATCH", "TOWN", "laiji")
    yellow = iso(hop["yellowAt"])
    assert timedelta(hours=1.9) < yellow - utcnow() <= timedelta(hours=2), "a hotline call: 2h"
    assert await sweep_at(hub, "laiji", yellow + timedelta(minutes=1)) == 1
    state = await clocks(hub, case_id)
    assert state["case"]["card"] == "YELLOW"
    assert state["case"]["timeline"][-1]["note"] == "黄牌：超过转办时限"

    await mutate(hub, DISPATCH, caseId=case_id, input={"tenantCode": "laiji"})
    first, second = (await clocks(hub, case_id))["caseClocks"]
    assert first["endReason"] == "DISPATCHED" and first["endedAt"]
    assert second["phase"] == "ACCEPT"


async def test_an_undispatched_platform_case_is_carded_by_the_platform_deadline(
    hub: Hub,
) -> None:
    now = utcnow().replace(microsecond=0)
    deadline = now + timedelta(minutes=30)
    body = {
        **PLATFORM_ASSIGNMENT,
        "assignedAt": now.isoformat(),
        "deadline": deadline.isoformat(),
        "town": None,
        "latitude": None,
        "longitude": None,
        "address": None,
        "description": "市平台交办：某建筑工地未覆盖裸土，扬尘严重，请核查处理。",  # names no place
    }
    answer = await post_json(hub, body, url="/ingest/platform", role="PLATFORM")
    assert answer.status_code == 201, answer.text
    [hop] = (await clocks(hub, answer.json()["caseId"]))["caseClocks"]
    assert hop["phase"] == "DISPATCH" and hop["level"] == "CITY"
    assert iso(hop["yellowAt"]) == deadline, "the platform's deadline comes before the rule's"
    assert iso(hop["redAt"]) <= deadline + timedelta(hours=2)


async def test_a_monitoring_case_waits_one_hour_for_dispatch(hub: Hub) -> None:
    case = await register(hub, channel="MONITORING", tenantCode="chaohua")
    [hop] = (await clocks(hub, case["case"]["id"]))["caseClocks"]
    assert timedelta(minutes=59) < iso(hop["yellowAt"]) - utcnow() <= timedelta(hours=1)
    assert iso(hop["redAt"]) - iso(hop["yellowAt"]) == timedelta(hours=1)


# --- 3. separation of duties ----------------------------------------------------------------

SUBMIT = op("SubmitResult")
REVIEW = op("ReviewCase")


async def handled(hub: Hub, token: str, town: str = "laiji") -> str:
    """A case registered, dispatched and accepted by one token, now HANDLING."""
    case_id = (await register(hub, token, tenantCode=town, channel="GRID"))["case"]["id"]
    await mutate(hub, DISPATCH, token, caseId=case_id, input={"tenantCode": town})
    await mutate(hub, op("AcceptCase"), token, caseId=case_id)
    return case_id


async def test_whoever_submitted_a_result_may_not_approve_it(hub: Hub) -> None:
    operator = hub.token("OPERATOR", ["laiji"], sub="op-wang")
    case_id = await handled(hub, operator)
    submitted = await mutate(hub, SUBMIT, operator, caseId=case_id, input={"result": "已整改"})
    assert submitted["case"]["status"] == "UNDER_REVIEW"
    own = await mutate(hub, REVIEW, operator, caseId=case_id, input={"decision": "APPROVE"})
    assert own["code"] == "FORBIDDEN" and "提交人以外" in own["message"]
    colleague = hub.token("OPERATOR", ["laiji"], sub="op-li")
    other = await mutate(hub, REVIEW, colleague, caseId=case_id, input={"decision": "APPROVE"})
    assert other["case"]["status"] == "RESOLVED"


async def test_a_setting_asks_for_a_reviewer_outside_the_handling_office(hub: Hub) -> None:
    hub.settings.review_outside_office = True
    operator = hub.token("OPERATOR", ["laiji"], sub="op-wang")
    case_id = await handled(hub, operator)
    await mutate(hub, SUBMIT, operator, caseId=case_id, input={"result": "已整改"})
    colleague = hub.token("OPERATOR", ["laiji"], sub="op-li")
    town = await mutate(hub, REVIEW, colleague, caseId=case_id, input={"decision": "APPROVE"})
    assert town["code"] == "FORBIDDEN" and "承办单位以外" in town["message"]
    city = await mutate(
        hub, REVIEW, hub.token("SUPERVISOR"), caseId=case_id, input={"decision": "APPROVE"}
    )
    assert city["case"]["status"] == "RESOLVED"


async def test_on_site_in_the_future_or_before_registration_is_refused(hub: Hub) -> None:
    operator = hub.token("OPERATOR", ["laiji"], sub="op-wang")
    case_id = await handled(hub, operator)
    for when in ("2030-01-01T10:00:00+08:00", "2020-01-01T10:00:00+08:00"):
        refused = await mutate(
            hub, SUBMIT, operator, caseId=case_id, input={"result": "已整改", "onSiteAt": when}
        )
        assert (refused["code"], refused["field"]) == ("VALIDATION", "onSiteAt"), refused
    skewed = (utcnow() + timedelta(minutes=1)).isoformat()  # a phone's clock a little ahead
    taken = await mutate(
        hub, SUBMIT, operator, caseId=case_id, input={"result": "已整改", "onSiteAt": skewed}
    )
    assert taken["case"]["status"] == "UNDER_REVIEW"


# --- 4. hand-backs --------------------------------------------------------------------------

RETURN = """mutation($id: ID!, $reason: String!) { returnCase(caseId: $id, reason: $reason) {
  __typename ... on CaseResult { case { id status } } ... on UserError { code message field } } }"""
QUEUE = """{ cases(first: 50, filter: {status: [REGISTERED], tenantCodes: ["xinmi"]}) {
  edges { node { id status returnedReason tenant { code } timeline { action label note } } } } }"""


async def test_a_town_returns_a_misrouted_case_to_the_command_centre(hub: Hub) -> None:
    case_id = (await register(hub, tenantCode="niudian"))["case"]["id"]
    await mutate(hub, DISPATCH, caseId=case_id, input={"tenantCode": "niudian"})
    other_town = hub.token("OPERATOR", ["laiji"])
    assert (await mutate(hub, RETURN, other_town, id=case_id, reason="不属本镇"))["code"] in {
        "NOT_FOUND",
        "FORBIDDEN",
    }
    member = hub.token("MEMBER", ["niudian"])
    assert (await mutate(hub, RETURN, member, id=case_id, reason="不属本镇"))["code"] == "FORBIDDEN"
    operator = hub.token("OPERATOR", ["niudian"])
    blank = await mutate(hub, RETURN, operator, id=case_id, reason=" ")
    assert (blank["code"], blank["field"]) == ("VALIDATION", "reason")

    returned = await mutate(hub, RETURN, operator, id=case_id, reason="地址位于来集镇，非本镇辖区")
    assert returned["case"]["status"] == "REGISTERED"

    queue = (await hub.gql(QUEUE, token=hub.token("DISPATCHER")))["cases"]["edges"]
    [node] = [e["node"] for e in queue if e["node"]["id"] == case_id]
    assert node["returnedReason"] == "地址位于来集镇，非本镇辖区"
    last = node["timeline"][-1]
    assert (last["action"], last["label"]) == ("HAND_BACK", "退回指挥中心")
    hops = (await clocks(hub, case_id))["caseClocks"]
    assert hops[-2]["endReason"] == "HANDED_BACK"
    assert (hops[-1]["phase"], hops[-1]["level"], hops[-1]["tenantCode"]) == (
        "DISPATCH",
        "CITY",
        "xinmi",
    )
    trail = await hub.gql(
        "query($id: ID!) { auditTrail(subjectId: $id) { action } }", {"id": case_id}
    )
    assert "case.hand_back" in [e["action"] for e in trail["auditTrail"]]
    again = await mutate(hub, RETURN, id=case_id, reason="再退")
    assert again["code"] == "INVALID_TRANSITION", "already with the command centre"

    await mutate(hub, DISPATCH, caseId=case_id, input={"tenantCode": "laiji"})
    assert (await hub.gql(QUEUE))["cases"]["edges"] == []
    detail = await hub.gql("query($id: ID!) { case(id: $id) { returnedReason } }", {"id": case_id})
    assert detail["case"]["returnedReason"] is None, "dispatched again: no longer returned"


# --- 5. the extension queue -----------------------------------------------------------------

REQUEST = """mutation($id: ID!, $due: DateTime!, $reason: String!) {
  requestExtension(caseId: $id, dueAt: $due, reason: $reason) {
  __typename ... on ExtensionResult { requestId status } ... on UserError { code message } } }"""
DECIDE = """mutation($r: ID!, $ok: Boolean!) { decideExtension(requestId: $r, approve: $ok) {
  __typename ... on CaseResult { case { id dueAt } } ... on UserError { code message } } }"""
QUEUE_OF_EXTENSIONS = """query($status: ExtensionStatus) { extensionRequests(status: $status) {
  id status tenantCode requestedBy requestedDueAt reason requestedAt ageHours decidedBy
  case { id number } } }"""


async def asked_for_more_time(hub: Hub, town: str) -> tuple[str, str, str]:
    """A HANDLING case of `town` whose operator asked for 30 more days: (case, request, due)."""
    operator = hub.token("OPERATOR", [town], sub=f"op-{town}")
    case_id = (await register(hub, tenantCode=town))["case"]["id"]
    await mutate(hub, DISPATCH, caseId=case_id, input={"tenantCode": town})
    await mutate(hub, op("AcceptCase"), operator, caseId=case_id)
    due = (utcnow() + timedelta(days=30)).replace(microsecond=0).isoformat()
    asked = await mutate(hub, REQUEST, operator, id=case_id, due=due, reason="需第三方检测")
    return case_id, asked["requestId"], due


async def test_the_supervisors_queue_lists_pending_requests_in_their_towns(hub: Hub) -> None:
    laiji_case, laiji_request, due = await asked_for_more_time(hub, "laiji")
    _, quliang_request, _ = await asked_for_more_time(hub, "quliang")

    city = hub.token("SUPERVISOR")
    queue = await hub.gql(QUEUE_OF_EXTENSIONS, {"status": "PENDING"}, token=city)
    assert [r["id"] for r in queue["extensionRequests"]] == [laiji_request, quliang_request]
    first = queue["extensionRequests"][0]
    assert first["case"]["id"] == laiji_case and first["tenantCode"] == "laiji"
    assert (first["requestedBy"], first["reason"], first["status"]) == (
        "op-laiji",
        "需第三方检测",
        "PENDING",
    )
    assert iso(first["requestedDueAt"]) == iso(due)
    assert 0 <= first["ageHours"] < 1

    town = hub.token("SUPERVISOR", ["laiji"])
    mine = await hub.gql(QUEUE_OF_EXTENSIONS, {"status": "PENDING"}, token=town)
    assert [r["id"] for r in mine["extensionRequests"]] == [laiji_request]
    refused = await hub.post(QUEUE_OF_EXTENSIONS, {}, token=hub.token("OPERATOR", ["laiji"]))
    assert refused.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"

    await mutate(hub, DECIDE, city, r=laiji_request, ok=False)
    pending = await hub.gql(QUEUE_OF_EXTENSIONS, {"status": "PENDING"}, token=city)
    assert [r["id"] for r in pending["extensionRequests"]] == [quliang_request]
    refused_ones = await hub.gql(QUEUE_OF_EXTENSIONS, {"status": "REFUSED"}, token=city)
    assert [r["decidedBy"] for r in refused_ones["extensionRequests"]] == ["test-supervisor"]
    timeline = (await clocks(hub, laiji_case))["case"]["timeline"]
    assert timeline[-1]["action"] == "EXTENSION_REFUSED"
    assert "延期申请" in timeline[-1]["note"]


# --- 6. facts that can be read back ---------------------------------------------------------

FEEDBACK = op("RecordFeedback")
FACTS = """query($id: ID!) { case(id: $id) { onSiteAt satisfaction
  timeline { action onSiteAt satisfaction } } }"""
STATS = """{ caseStats(groupBy: TENANT) { key label total satisfactionRate onSiteHoursMean
  onSiteHoursMedian } }"""


async def registered_hours_ago(hub: Hub, hours: float) -> str:
    case_id = (await register(hub, tenantCode="dawei"))["case"]["id"]
    scope = await hub.scope()
    async with hub.db.session(scope.tenant_ids, write=True) as session:
        await session.execute(
            update(Case)
            .where(Case.id == uuid.UUID(case_id))
            .values(created_at=utcnow() - timedelta(hours=hours))
        )
        await session.commit()
    return case_id


async def resolved_with(hub: Hub, case_id: str, on_site: datetime, satisfaction: str) -> None:
    operator = hub.token("OPERATOR", ["dawei"], sub="op-zhao")
    await mutate(hub, DISPATCH, caseId=case_id, input={"tenantCode": "dawei"})
    await mutate(hub, op("AcceptCase"), operator, caseId=case_id)
    result = {"result": "已整改", "onSiteAt": on_site.isoformat()}
    await mutate(hub, SUBMIT, operator, caseId=case_id, input=result)
    supervisor = hub.token("SUPERVISOR")
    await mutate(hub, REVIEW, supervisor, caseId=case_id, input={"decision": "APPROVE"})
    answer = {"satisfaction": satisfaction}
    fed = await mutate(hub, FEEDBACK, hub.token("HOTLINE"), caseId=case_id, input=answer)
    assert fed["__typename"] == "CaseResult", fed


async def test_on_site_and_satisfaction_are_on_the_case_timeline_and_stats(hub: Hub) -> None:
    now = utcnow().replace(microsecond=0)
    answers = [(1, "SATISFIED"), (2, "UNSATISFIED"), (6, "UNREACHABLE"), (3, "BASICALLY_SATISFIED")]
    ids = [await registered_hours_ago(hub, hours) for hours, _ in answers]
    for case_id, (_, satisfaction) in zip(ids, answers, strict=True):
        await resolved_with(hub, case_id, now, satisfaction)

    facts = (await hub.gql(FACTS, {"id": ids[0]}))["case"]
    assert iso(facts["onSiteAt"]) == now and facts["satisfaction"] == "SATISFIED"
    by_action = {e["action"]: e for e in facts["timeline"]}
    assert iso(by_action["SUBMIT"]["onSiteAt"]) == now
    assert by_action["FEEDBACK"]["satisfaction"] == "SATISFIED"
    assert by_action["DISPATCH"]["onSiteAt"] is None

    rows = (await hub.gql(STATS))["caseStats"]  # every town answers, the others with zeros
    dawei = next(r for r in rows if r["label"] == "大隗镇")
    assert dawei["total"] == 4 and sum(r["total"] for r in rows) == 4
    assert dawei["satisfactionRate"] == round(2 / 3, 4), "UNREACHABLE does not count"
    assert abs(dawei["onSiteHoursMean"] - 3.0) < 0.05
    assert abs(dawei["onSiteHoursMedian"] - 2.5) < 0.05
