"""The people's side of cases and patrols through the live app, on both databases: tokens bound
to a member (`--member`), myWork, only the assignee works a case assigned to them, whom a case
may be dispatched to; patrols, their tracks and findings (GRID reports, solved on site)."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from hub.auth import create_token, issue_jwt
from hub.db import utcnow
from hub.demo import world
from hub.patrols.model import Finding, Patrol, TrackPoint
from tests.conftest import SECRET, Hub, register
from tests.helpers import snapshot
from tests.operations import op

LAIJI_1 = world.cell_code("laiji", 1)


async def laiji_people(hub: Hub) -> dict[str, dict[str, Any]]:
    """laiji's members by cell code: the town cell's chief first, then each village's."""
    rows = (await hub.gql(op("Members"), {"tenantCode": "laiji"}))["members"]
    found: dict[str, dict[str, Any]] = {}
    for row in rows:
        found.setdefault(row["gridCell"]["code"], row)
    return found


def member_token(member: dict[str, Any], town: str = "laiji") -> str:
    return issue_jwt(
        SECRET, f"m-{member['id']}", ["MEMBER"], [town], member=uuid.UUID(member["id"])
    )


async def assigned_case(hub: Hub, member: dict[str, Any]) -> dict[str, Any]:
    """A laiji case dispatched to `member` in their cell."""
    case = (await register(hub, tenantCode="laiji"))["case"]
    done = await hub.gql(
        op("DispatchCase"),
        {
            "caseId": case["id"],
            "input": {
                "tenantCode": "laiji",
                "gridCellId": member["gridCell"]["id"],
                "assigneeId": member["id"],
            },
        },
    )
    assert done["dispatchCase"]["__typename"] == "CaseResult", done
    return case


async def test_my_work_lists_the_members_cases(hub: Hub) -> None:
    people = await laiji_people(hub)
    mine, other = people[LAIJI_1], people["laiji"]
    case = await assigned_case(hub, mine)
    await assigned_case(hub, other)
    data = (await hub.gql(op("MyWork"), token=member_token(mine)))["myWork"]
    assert data["member"] == {
        "id": mine["id"],
        "name": mine["name"],
        "role": mine["role"],
        "tenantCode": "laiji",
    }
    assert [c["id"] for c in data["cases"]] == [case["id"]]
    assert data["cases"][0]["status"] == "DISPATCHED" and data["cases"][0]["card"] == "NONE"
    assert data["openPatrol"] is None and data["ledgerItems"] == []


async def test_my_work_needs_a_bound_member(hub: Hub) -> None:
    response = await hub.post(op("MyWork"), token=hub.token("MEMBER", ["laiji"]))
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "FORBIDDEN"
    assert "未绑定网格人员" in error["message"]


async def test_only_the_assignee_works_a_personal_case(hub: Hub) -> None:
    people = await laiji_people(hub)
    mine, other = people[LAIJI_1], people["laiji"]
    case = await assigned_case(hub, mine)
    refused = (await hub.gql(op("AcceptCase"), {"caseId": case["id"]}, token=member_token(other)))[
        "acceptCase"
    ]
    assert refused["code"] == "FORBIDDEN" and "被指派人" in refused["message"]
    unbound = hub.token("MEMBER", ["laiji"])
    refused = (await hub.gql(op("AcceptCase"), {"caseId": case["id"]}, token=unbound))["acceptCase"]
    assert refused["code"] == "FORBIDDEN"
    accepted = (await hub.gql(op("AcceptCase"), {"caseId": case["id"]}, token=member_token(mine)))[
        "acceptCase"
    ]
    assert accepted["case"]["status"] == "HANDLING"
    progress = {"caseId": case["id"], "note": "已到现场"}
    refused = await hub.gql(op("RecordProgress"), progress, token=member_token(other))
    assert refused["recordProgress"]["code"] == "FORBIDDEN"
    # The town's grid office works any case of the town.
    operator = hub.token("OPERATOR", ["laiji"])
    done = (await hub.gql(op("RecordProgress"), progress, token=operator))["recordProgress"]
    assert done["case"]["status"] == "HANDLING"


async def test_dispatch_candidates_are_the_cells_people_then_the_towns(hub: Hub) -> None:
    people = await laiji_people(hub)
    case = await assigned_case(hub, people[LAIJI_1])
    rows = (await hub.gql(op("DispatchCandidates"), {"caseId": case["id"]}))["dispatchCandidates"]
    cells = [r["gridCell"]["code"] for r in rows]
    assert cells[0] == LAIJI_1 and set(cells) == {LAIJI_1, "laiji"}
    assert cells == sorted(cells, key=lambda c: c != LAIJI_1)
    assert all(r["tenantCode"] == "laiji" for r in rows)
    response = await hub.post(
        op("DispatchCandidates"), {"caseId": str(uuid.uuid4())}, token=hub.admin
    )
    assert response.json()["errors"][0]["extensions"]["code"] == "NOT_FOUND"


async def test_token_bound_to_a_member(hub: Hub) -> None:
    staff = world.MEMBERS[0]
    row, token = await create_token(hub.db, "王", ["member"], [staff.tenant], staff.external_id)
    assert row.member_id is not None
    data = await hub.gql(op("MyWork"), token=token)
    assert data["myWork"]["member"]["id"] == str(row.member_id)


@pytest.mark.parametrize(
    ("roles", "towns", "staff_number", "says"),
    [
        (["member"], ["laiji"], "XM9999", "没有工号"),
        (["member"], ["chaohua"], world.MEMBERS[0].external_id, "没有工号"),
        (["member"], [], world.MEMBERS[0].external_id, "--tenant"),
        (["operator"], ["laiji"], world.MEMBERS[0].external_id, "MEMBER"),
    ],
)
async def test_token_member_refused(
    hub: Hub, roles: list[str], towns: list[str], staff_number: str, says: str
) -> None:
    assert world.MEMBERS[0].tenant == "laiji"
    with pytest.raises(ValueError, match=says):
        await create_token(hub.db, "x", roles, towns, staff_number)


# --- patrols ---------------------------------------------------------------------------------


def ago(minutes: float) -> str:
    return (utcnow() - timedelta(minutes=minutes)).isoformat()


async def mutate(hub: Hub, name: str, token: str, **variables: Any) -> dict[str, Any]:
    data = await hub.gql(op(name), variables, token=token)
    return next(iter(data.values()))


async def start(hub: Hub, token: str, client_id: str = "p-1", **fields: Any) -> dict[str, Any]:
    spec = {"kind": "ROUTINE", "startedAt": ago(60), "clientId": client_id, **fields}
    return await mutate(hub, "StartPatrol", token, input=spec)


def finding(**fields: Any) -> dict[str, Any]:
    return {
        "title": "路边焚烧垃圾",
        "description": "村口有人焚烧生活垃圾，浓烟",
        "category": "AIR",
        "clientId": "f-1",
        "latitude": 34.5105,
        "longitude": 113.4005,
        **fields,
    }


async def table_counts(hub: Hub) -> tuple[int, int, int, tuple[int, bool, int]]:
    async with hub.db.session([t.id for t in (await hub.scope()).directory.tenants]) as session:
        counts = [
            await session.scalar(select(func.count()).select_from(model))
            for model in (Patrol, TrackPoint, Finding)
        ]
    return counts[0], counts[1], counts[2], await snapshot(hub)


async def test_a_patrol_from_start_to_end(hub: Hub) -> None:
    people = await laiji_people(hub)
    mine = people[LAIJI_1]
    token = member_token(mine)
    started = await start(hub, token)
    patrol = started["patrol"]
    assert patrol["status"] == "OPEN" and patrol["gridCell"]["id"] == mine["gridCell"]["id"]
    assert (await start(hub, token))["patrol"]["id"] == patrol["id"]  # the phone's retry
    work = (await hub.gql(op("MyWork"), token=token))["myWork"]
    assert work["openPatrol"]["id"] == patrol["id"] and work["openPatrol"]["kind"] == "ROUTINE"
    # A track in two pieces, out of order, one piece sent twice: three points, about 2 x 111 m.
    first = {"latitude": 34.500, "longitude": 113.400, "at": ago(50)}
    second = {"latitude": 34.501, "longitude": 113.400, "at": ago(40)}
    third = {"latitude": 34.502, "longitude": 113.400, "at": ago(30)}
    await mutate(hub, "RecordTrack", token, patrolId=patrol["id"], points=[third, first])
    for _ in range(2):
        tracked = await mutate(hub, "RecordTrack", token, patrolId=patrol["id"], points=[second])
    assert tracked["patrol"]["pointCount"] == 3
    assert tracked["patrol"]["trackMeters"] == pytest.approx(221.8, abs=0.5)
    found = await mutate(hub, "RecordFinding", token, patrolId=patrol["id"], input=finding())
    assert found["case"]["channels"] == ["GRID"] and found["case"]["status"] == "REGISTERED"
    again = await mutate(hub, "RecordFinding", token, patrolId=patrol["id"], input=finding())
    assert again["case"]["id"] == found["case"]["id"]
    ended = await mutate(
        hub, "EndPatrol", token, patrolId=patrol["id"], summary="巡查 3 个村", endedAt=ago(1)
    )
    assert ended["patrol"]["status"] == "ENDED"
    assert [f["number"] for f in ended["patrol"]["findings"]] == [found["case"]["number"]]
    listed = await hub.gql(op("Patrols"), {"tenantCode": "laiji", "from": ago(120), "to": ago(0)})
    assert [(p["id"], p["findingCount"]) for p in listed["patrols"]] == [(patrol["id"], 1)]
    assert listed["patrols"][0]["member"]["name"] == mine["name"]
    window = {"from": ago(120), "to": ago(0)}
    assert (await hub.gql(op("Patrols"), window, token=token))["patrols"] == listed["patrols"]
    others = await hub.gql(op("Patrols"), window, token=member_token(people["laiji"]))
    assert others["patrols"] == []  # a member sees their own patrols only
    elsewhere = await hub.gql(op("Patrols"), window, token=hub.token("OPERATOR", ["chaohua"]))
    assert elsewhere["patrols"] == []  # another town's office sees none of laiji's
    assert (await table_counts(hub))[:3] == (1, 3, 1)


async def test_a_finding_resolved_on_site(hub: Hub) -> None:
    mine = (await laiji_people(hub))[LAIJI_1]
    token = member_token(mine)
    patrol = (await start(hub, token))["patrol"]
    spec = finding(resolvedOnSite=True, result="已劝阻并扑灭", category="SOLID_WASTE")
    found = await mutate(hub, "RecordFinding", token, patrolId=patrol["id"], input=spec)
    assert found["case"]["status"] == "CLOSED"
    detail = (await hub.gql(op("CaseDetail"), {"id": found["case"]["id"]}))["case"]
    steps = [(e["action"], e["toStatus"]) for e in detail["timeline"]]
    assert steps == [("REGISTER", "REGISTERED"), ("RESOLVED_ON_SITE", "CLOSED")]
    assert detail["closedAt"] is not None
    trail = (await hub.gql(op("AuditTrail"), {"subjectId": found["case"]["id"]}))["auditTrail"]
    assert [e["action"] for e in trail] == ["case.register", "case.resolved_on_site"]


async def test_patrol_bad_input_is_refused_by_field(hub: Hub) -> None:
    people = await laiji_people(hub)
    mine, other = people[LAIJI_1], people["laiji"]
    token = member_token(mine)
    patrol = (await start(hub, token))["patrol"]
    others = (await start(hub, member_token(other), client_id="o-1"))["patrol"]
    before = await table_counts(hub)
    point = {"latitude": 34.5, "longitude": 113.4, "at": ago(5)}
    refusals = [
        ("RecordTrack", token, {"patrolId": patrol["id"],
         "points": [point, {**point, "latitude": 200, "at": ago(4)}]},
         "VALIDATION", "points[1].latitude"),
        ("RecordTrack", token, {"patrolId": patrol["id"], "points": [{**point, "at": ago(90)}]},
         "VALIDATION", "points[0].at"),
        ("RecordFinding", token, {"patrolId": others["id"], "input": finding()},
         "FORBIDDEN", "patrolId"),
        ("RecordFinding", token, {"patrolId": patrol["id"],
         "input": finding(resolvedOnSite=True)}, "VALIDATION", "result"),
        ("StartPatrol", token, {"input": {"kind": "NIGHT", "startedAt": ago(1),
         "clientId": "p-2"}}, "CONFLICT", "clientId"),
        ("StartPatrol", member_token(people[world.cell_code("laiji", 2)]),
         {"input": {"kind": "NIGHT", "startedAt": ago(1), "clientId": "p-3",
                    "gridCellId": str(uuid.uuid4())}}, "NOT_FOUND", "gridCellId"),
        ("EndPatrol", token, {"patrolId": patrol["id"], "summary": "x", "endedAt": ago(120)},
         "VALIDATION", "endedAt"),
    ]  # fmt: skip
    for name, who, variables, code, field in refusals:
        refused = await mutate(hub, name, who, **variables)
        assert refused["__typename"] == "UserError", (name, refused)
        assert (refused["code"], refused["field"]) == (code, field), refused
        assert re.search(r"[\u4e00-\u9fff]", refused["message"]), refused
    assert await table_counts(hub) == before
    await mutate(hub, "EndPatrol", token, patrolId=patrol["id"], summary="完", endedAt=ago(1))
    late = await mutate(hub, "RecordFinding", token, patrolId=patrol["id"], input=finding())
    assert (late["code"], late["field"]) == ("VALIDATION", "patrolId")
    assert "已经结束" in late["message"]


async def test_patrols_need_a_bound_member(hub: Hub) -> None:
    refused = await start(hub, hub.token("MEMBER", ["laiji"]))
    assert refused["code"] == "FORBIDDEN" and "未绑定" in refused["message"]
    refused = await start(hub, hub.token("OPERATOR", ["laiji"]))
    assert refused["code"] == "FORBIDDEN"


async def test_a_finding_joins_the_open_case_about_the_same_problem(hub: Hub) -> None:
    mine = (await laiji_people(hub))[LAIJI_1]
    token = member_token(mine)
    # The same enterprise and category as an open case: the hub is sure it is one problem.
    source = (await hub.gql(op("Enterprises"), {"tenantCode": "laiji"}))["enterprises"][0]["id"]
    known = (await register(hub, category="AIR", sourceId=source, tenantCode="laiji"))["case"]
    patrol = (await start(hub, token))["patrol"]
    before = await table_counts(hub)
    spec = finding(resolvedOnSite=True, result="已劝阻", sourceId=source)
    refused = await mutate(hub, "RecordFinding", token, patrolId=patrol["id"], input=spec)
    assert (refused.get("code"), refused.get("field")) == ("VALIDATION", "resolvedOnSite"), refused
    assert known["number"] in refused["message"]
    assert await table_counts(hub) == before
    joined = await mutate(
        hub, "RecordFinding", token, patrolId=patrol["id"], input=finding(sourceId=source)
    )
    assert joined["case"]["id"] == known["id"]
    assert set(joined["case"]["channels"]) == {"HOTLINE", "GRID"}


async def test_retries_racing_double_nothing(hub: Hub) -> None:
    mine = (await laiji_people(hub))[LAIJI_1]
    token = member_token(mine)
    starts = await asyncio.gather(*(start(hub, token, "race") for _ in range(3)))
    assert len({s["patrol"]["id"] for s in starts}) == 1, starts
    patrol_id = starts[0]["patrol"]["id"]
    found = await asyncio.gather(
        *(
            mutate(hub, "RecordFinding", token, patrolId=patrol_id, input=finding())
            for _ in range(3)
        )
    )
    assert len({f["case"]["id"] for f in found}) == 1, found
    at = ago(1)
    ends = [
        await mutate(hub, "EndPatrol", token, patrolId=patrol_id, summary="完", endedAt=when)
        for when in (at, at, ago(2))
    ]
    assert [e["__typename"] for e in ends] == ["PatrolResult", "PatrolResult", "UserError"]
    assert ends[0]["patrol"]["endedAt"] == ends[1]["patrol"]["endedAt"]
    assert (ends[2]["code"], ends[2]["field"]) == ("VALIDATION", "patrolId")
    assert (await table_counts(hub))[:3] == (1, 0, 1)


# --- a person who leaves; retries after the end; the member rule for extensions ---------------

EXTENSION = """mutation($id: ID!, $due: DateTime!) {
  requestExtension(caseId: $id, dueAt: $due, reason: "需要更多时间") {
  __typename ... on ExtensionResult { requestId } ... on UserError { code message } } }"""


async def retire(hub: Hub, member: dict[str, Any]) -> None:
    spec = {
        "tenantCode": "laiji",
        "gridCellCode": member["gridCell"]["code"],
        "name": member["name"],
        "role": member["role"],
        "externalId": member["externalId"],
        "phone": member["phone"],
        "active": False,
    }
    done = await hub.gql(op("SaveMember"), {"input": spec})
    assert done["saveMember"]["__typename"] == "MemberResult", done


async def test_a_member_who_left_can_no_longer_act_or_be_dispatched_to(hub: Hub) -> None:
    staff = world.MEMBERS[0]
    row, api_token = await create_token(hub.db, "王", ["member"], [staff.tenant], staff.external_id)
    mine = next(m for m in (await laiji_people(hub)).values() if m["id"] == str(row.member_id))
    await retire(hub, mine)
    response = await hub.post(op("MyWork"), token=api_token)
    assert response.status_code == 401  # the API token bound to them is revoked
    response = await hub.post(op("MyWork"), token=member_token(mine))
    assert response.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"  # a JWT: refused
    refused = await start(hub, member_token(mine))
    assert refused["code"] == "FORBIDDEN" and "停用" in refused["message"]
    case = (await register(hub, tenantCode="laiji"))["case"]
    dispatch = {
        "caseId": case["id"],
        "input": {"tenantCode": "laiji", "assigneeId": mine["id"]},
    }
    answer = (await hub.gql(op("DispatchCase"), dispatch))["dispatchCase"]
    assert answer["__typename"] == "UserError" and answer["field"] == "assigneeId", answer


async def test_a_findings_retry_after_the_patrol_ended_gets_its_case(hub: Hub) -> None:
    token = member_token((await laiji_people(hub))[LAIJI_1])
    patrol = (await start(hub, token))["patrol"]
    found = await mutate(hub, "RecordFinding", token, patrolId=patrol["id"], input=finding())
    await mutate(hub, "EndPatrol", token, patrolId=patrol["id"], summary="完", endedAt=ago(1))
    again = await mutate(hub, "RecordFinding", token, patrolId=patrol["id"], input=finding())
    assert again["case"]["id"] == found["case"]["id"]
    other = finding(clientId="f-2")
    late = await mutate(hub, "RecordFinding", token, patrolId=patrol["id"], input=other)
    assert late["__typename"] == "UserError"  # a new finding on an ended patrol is refused


async def test_a_member_asks_for_more_time_on_their_own_case_only(hub: Hub) -> None:
    people = await laiji_people(hub)
    mine, other = people[LAIJI_1], people["laiji"]
    case = await assigned_case(hub, mine)
    due = (utcnow() + timedelta(days=30)).isoformat()
    variables = {"id": case["id"], "due": due}
    refused = await hub.gql(EXTENSION, variables, token=member_token(other))
    assert refused["requestExtension"]["code"] == "FORBIDDEN"
    asked = await hub.gql(EXTENSION, variables, token=member_token(mine))
    assert asked["requestExtension"]["__typename"] == "ExtensionResult", asked


MY_CASES = """query { myWork { cases { id gridCell { id } timeline { action } } } }"""
PATROL_FINDINGS = """query($from: DateTime!, $to: DateTime!) {
  patrols(from: $from, to: $to) { id findings { id gridCell { id } timeline { action } } } }"""


async def test_my_work_and_patrols_load_what_the_client_asks_of_their_cases(hub: Hub) -> None:
    people = await laiji_people(hub)
    mine = people[LAIJI_1]
    case = await assigned_case(hub, mine)
    token = member_token(mine)
    [row] = (await hub.gql(MY_CASES, token=token))["myWork"]["cases"]
    assert row["id"] == case["id"] and row["gridCell"] == {"id": mine["gridCell"]["id"]}
    assert [e["action"] for e in row["timeline"]] == ["REGISTER", "DISPATCH"]
    patrol = (await start(hub, token))["patrol"]
    found = await mutate(hub, "RecordFinding", token, patrolId=patrol["id"], input=finding())
    window = {"from": ago(120), "to": ago(0)}
    [listed] = (await hub.gql(PATROL_FINDINGS, window))["patrols"]
    [seen] = listed["findings"]
    assert seen["id"] == found["case"]["id"]
    detail = (await hub.gql("query($id: ID!) { case(id: $id) { gridCell { id } } }",
                            {"id": seen["id"]}))["case"]  # fmt: skip
    assert seen["gridCell"] == ({"id": detail["gridCell"]["id"]} if detail["gridCell"] else None)
    assert [e["action"] for e in seen["timeline"]] == ["REGISTER"]


async def test_a_patrol_list_past_its_cap_asks_to_narrow_the_window(
    hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hub.patrols import service

    people = await laiji_people(hub)
    for n, member in enumerate(list(people.values())[:3]):
        await start(hub, member_token(member), client_id=f"cap-{n}")
    monkeypatch.setattr(service, "LIST_MAX_ROWS", 2)
    window = {"tenantCode": "laiji", "from": ago(120), "to": ago(0)}
    response = await hub.post(op("Patrols"), window, token=hub.admin)
    error = response.json()["errors"][0]
    assert error["extensions"] == {"code": "VALIDATION", "field": "from"}
    assert "缩小时间范围" in error["message"]
    monkeypatch.setattr(service, "LIST_MAX_ROWS", 3)
    listed = await hub.gql(op("Patrols"), window)
    assert len(listed["patrols"]) == 3
