"""The people's side of cases and patrols through the live app, on both databases: tokens bound
to a member (`--member`), myWork, only the assignee works a case assigned to them, whom a case
may be dispatched to; patrols, their tracks and findings (GRID reports, solved on site)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from hub.auth import create_token, issue_jwt
from hub.demo import world
from tests.conftest import SECRET, Hub, register
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
