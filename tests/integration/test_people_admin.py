"""Administering the grid through the contract's operations, against the live app: members, grid
cells and enterprises created, updated, saved again (nothing changes), retired, kept to their
town, audited, and each bad input refused by field with nothing written."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select
from stdnum.cn import uscc

from hub.audit.model import AuditEntry
from hub.demo import world
from hub.grid.model import GridCell, Member
from hub.sources.model import Source
from tests.conftest import Hub
from tests.helpers import snapshot
from tests.operations import op

LAIJI_CELL = world.cell_code("laiji", 1)
CHAOHUA_CELL = world.cell_code("chaohua", 1)
# A small square in laiji (cells of different levels overlap; the deepest wins).
SQUARE = {
    "type": "Polygon",
    "coordinates": [
        [[113.40, 34.50], [113.41, 34.50], [113.41, 34.51], [113.40, 34.51], [113.40, 34.50]]
    ],
}


def credit_code(n: int) -> str:
    """A valid 统一社会信用代码 (GB 32100 check digit) for the n-th test enterprise."""
    base = f"9141018300000{n:04d}"
    return base + uscc.calc_check_digit(base)


def member_input(**fields: Any) -> dict[str, Any]:
    return {
        "tenantCode": "laiji",
        "gridCellCode": LAIJI_CELL,
        "name": "王建国",
        "role": "SECONDED",
        "externalId": "LJ-0001",
        "phone": "13803710999",
        **fields,
    }


def cell_input(**fields: Any) -> dict[str, Any]:
    return {
        "tenantCode": "laiji",
        "code": "laiji-99",
        "name": "新建社区网格",
        "level": 3,
        "parentCode": "laiji",
        "polygon": SQUARE,
        **fields,
    }


def enterprise_input(**fields: Any) -> dict[str, Any]:
    return {
        "tenantCode": "laiji",
        "creditCode": credit_code(1),
        "name": "来集镇新兴耐火材料厂",
        "industry": "耐火材料",
        "address": "来集镇新兴路 8 号",
        "latitude": 34.505,
        "longitude": 113.405,
        "gridCellCode": LAIJI_CELL,
        **fields,
    }


async def save(hub: Hub, name: str, value: dict[str, Any], token: str | None = None) -> Any:
    data = await hub.gql(op(name), {"input": value}, token=token)
    return next(iter(data.values()))


def operator(town: str, hub: Hub) -> str:
    return hub.token("OPERATOR", [town], sub=f"operator-{town}")


async def trail(hub: Hub, subject_id: str) -> list[AuditEntry]:
    scope = await hub.scope()
    async with hub.db.session(scope.tenant_ids) as session:
        return list(
            await session.scalars(
                select(AuditEntry)
                .where(AuditEntry.subject_id == subject_id)
                .order_by(AuditEntry.tenant_id, AuditEntry.seq)
            )
        )


async def count(hub: Hub, model: type[Any]) -> int:
    scope = await hub.scope()
    async with hub.db.session(scope.tenant_ids) as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


# --- members ------------------------------------------------------------------------------------


async def test_a_member_is_created_updated_saved_again_and_retired(hub: Hub) -> None:
    first = await save(hub, "SaveMember", member_input())
    assert first["__typename"] == "MemberResult", first
    member = first["member"]
    assert member["name"] == "王建国" and member["role"] == "SECONDED"
    assert member["externalId"] == "LJ-0001" and member["tenantCode"] == "laiji"
    assert member["active"] is True and member["gridCell"]["code"] == LAIJI_CELL

    moved = world.cell_code("laiji", 2)
    second = await save(hub, "SaveMember", member_input(gridCellCode=moved, role="CHIEF"))
    assert second["member"]["id"] == member["id"]
    assert second["member"]["gridCell"]["code"] == moved and second["member"]["role"] == "CHIEF"

    before = await snapshot(hub)
    again = await save(hub, "SaveMember", member_input(gridCellCode=moved, role="CHIEF"))
    assert again["member"] == second["member"]
    assert await snapshot(hub) == before  # no change, no audit entry

    gone = await save(
        hub, "SaveMember", member_input(gridCellCode=moved, role="CHIEF", active=False)
    )
    assert gone["member"]["active"] is False and gone["member"]["id"] == member["id"]

    active = await hub.gql(op("Members"), {"tenantCode": "laiji", "active": True})
    assert member["id"] not in {m["id"] for m in active["members"]}
    retired = await hub.gql(op("Members"), {"tenantCode": "laiji", "active": False})
    assert [m["externalId"] for m in retired["members"]] == ["LJ-0001"]
    assert retired["members"][0]["gridCell"]["level"] == 3

    entries = await trail(hub, member["id"])
    assert [e.action for e in entries] == [
        "grid.member_created",
        "grid.member_updated",
        "grid.member_deactivated",
    ]
    assert entries[1].data["changes"]["role"] == ["SECONDED", "CHIEF"]
    laiji = (await hub.scope()).directory.by_code["laiji"].id
    assert {e.tenant_id for e in entries} == {laiji}
    assert entries[0].actor_name


async def test_members_lists_the_demo_staff_by_town_and_cell(hub: Hub) -> None:
    everyone = (await hub.gql(op("Members")))["members"]
    assert len(everyone) == len(world.MEMBERS)
    laiji = (await hub.gql(op("Members"), {"tenantCode": "laiji"}))["members"]
    assert {m["tenantCode"] for m in laiji} == {"laiji"}
    assert len(laiji) == sum(m.tenant == "laiji" for m in world.MEMBERS)
    cell = laiji[0]["gridCell"]
    in_cell = (await hub.gql(op("Members"), {"gridCellId": cell["id"]}))["members"]
    assert in_cell and {m["gridCell"]["id"] for m in in_cell} == {cell["id"]}
    assert (await hub.gql(op("Members"), {"gridCellId": "not-an-id"}))["members"] == []


async def test_a_demo_member_is_updated_by_staff_number(hub: Hub) -> None:
    demo = next(m for m in world.MEMBERS if m.tenant == "laiji" and m.role == "GRIDMAN")
    listed = (await hub.gql(op("Members"), {"tenantCode": "laiji"}))["members"]
    row = next(m for m in listed if m["externalId"] == demo.external_id)
    value = member_input(name=demo.name, externalId=demo.external_id, gridCellCode=demo.cell)
    saved = await save(hub, "SaveMember", {**value, "role": "CHIEF", "phone": demo.phone})
    assert saved["member"]["id"] == row["id"] and saved["member"]["role"] == "CHIEF"
    assert await count(hub, Member) == len(world.MEMBERS)


async def test_an_operator_administers_its_own_town_only(hub: Hub) -> None:
    laiji = operator("laiji", hub)
    own = await save(hub, "SaveMember", member_input(), token=laiji)
    assert own["__typename"] == "MemberResult", own
    chaohua = await save(hub, "SaveMember", member_input(externalId="CH-0001", name="李明"))
    assert chaohua["__typename"] == "MemberResult"

    before = await snapshot(hub)
    refused = await save(
        hub,
        "SaveMember",
        member_input(tenantCode="chaohua", gridCellCode=CHAOHUA_CELL, externalId="CH-0002"),
        token=laiji,
    )
    assert refused["__typename"] == "UserError"
    assert refused["code"] == "FORBIDDEN" and refused["field"] == "tenantCode"
    assert "超化镇" in refused["message"]
    assert await snapshot(hub) == before

    seen = (await hub.gql(op("Members"), token=laiji))["members"]
    assert seen and {m["tenantCode"] for m in seen} == {"laiji"}
    assert (await hub.gql(op("Members"), {"tenantCode": "chaohua"}, token=laiji))["members"] == []

    for name, value in [
        ("SaveGridCell", cell_input(tenantCode="chaohua", parentCode="chaohua")),
        ("SaveEnterprise", enterprise_input(tenantCode="chaohua", gridCellCode=None)),
    ]:
        answer = await save(hub, name, value, token=laiji)
        assert (answer["code"], answer["field"]) == ("FORBIDDEN", "tenantCode"), answer


@pytest.mark.parametrize("role", ["MEMBER", "DISPATCHER", "VIEWER"])
async def test_other_roles_may_not_administer(hub: Hub, role: str) -> None:
    answer = await save(hub, "SaveMember", member_input(), token=hub.token(role, ["laiji"]))
    assert answer["code"] == "FORBIDDEN", answer


BAD_MEMBERS = [
    ({"gridCellCode": CHAOHUA_CELL}, "VALIDATION", "gridCellCode", "超化镇"),
    ({"gridCellCode": "no-such-cell"}, "VALIDATION", "gridCellCode", "不存在"),
    ({"tenantCode": "atlantis"}, "VALIDATION", "tenantCode", "不存在"),
    ({"phone": "12345"}, "VALIDATION", "phone", "不是有效"),
    ({"name": "   "}, "VALIDATION", "name", "姓名"),
    ({"externalId": "LJ 0001"}, "VALIDATION", "externalId", "工号"),
    ({"externalId": "x" * 65}, "VALIDATION", "externalId", "64"),
]


@pytest.mark.parametrize(("fields", "code", "field", "words"), BAD_MEMBERS)
async def test_a_bad_member_is_refused_by_field_and_nothing_is_written(
    hub: Hub, fields: dict[str, Any], code: str, field: str, words: str
) -> None:
    before = await snapshot(hub), await count(hub, Member)
    answer = await save(hub, "SaveMember", member_input(**fields))
    assert answer["__typename"] == "UserError", answer
    assert (answer["code"], answer["field"]) == (code, field), answer
    assert words in answer["message"]
    assert (await snapshot(hub), await count(hub, Member)) == before


async def test_a_staff_number_given_to_another_name_is_a_conflict(hub: Hub) -> None:
    await save(hub, "SaveMember", member_input())
    before = await snapshot(hub)
    answer = await save(hub, "SaveMember", member_input(name="王建军", phone=None))
    assert (answer["code"], answer["field"]) == ("CONFLICT", "externalId"), answer
    assert "LJ-0001" in answer["message"] and "王建国" in answer["message"]
    assert await snapshot(hub) == before
    # The same staff number in another town is another person.
    other = await save(
        hub,
        "SaveMember",
        member_input(tenantCode="chaohua", gridCellCode=CHAOHUA_CELL, name="王建军"),
    )
    assert other["__typename"] == "MemberResult", other


# --- grid cells ---------------------------------------------------------------------------------


async def test_a_cell_is_created_routes_points_and_is_retired(hub: Hub) -> None:
    from hub.grid.service import grid_index

    outside = (await grid_index(hub.db)).locate(113.405, 34.505)
    assert outside is None or outside.level < 3  # no village cell there yet: no tie below
    laiji = operator("laiji", hub)
    first = await save(hub, "SaveGridCell", cell_input(), token=laiji)
    assert first["__typename"] == "GridCellResult", first
    cell = first["cell"]
    assert cell["level"] == 3 and cell["active"] is True and cell["tenantCode"] == "laiji"
    assert cell["polygon"] == SQUARE and cell["parentId"]

    before = await snapshot(hub)
    again = await save(hub, "SaveGridCell", cell_input(), token=laiji)
    assert again["cell"] == cell
    assert await snapshot(hub) == before

    # The routing index sees the new polygon at once (its cache was dropped on commit).
    found = (await grid_index(hub.db)).locate(113.405, 34.505)
    assert found is not None and str(found.cell_id) == cell["id"]

    staffed = await save(hub, "SaveMember", member_input(gridCellCode="laiji-99"), token=laiji)
    assert staffed["__typename"] == "MemberResult"
    blocked = await save(hub, "SaveGridCell", cell_input(active=False), token=laiji)
    assert (blocked["code"], blocked["field"]) == ("CONFLICT", "active"), blocked
    await save(hub, "SaveMember", member_input(gridCellCode="laiji-99", active=False), token=laiji)
    retired = await save(hub, "SaveGridCell", cell_input(active=False), token=laiji)
    assert retired["cell"]["active"] is False and retired["cell"]["id"] == cell["id"]
    found = (await grid_index(hub.db)).locate(113.405, 34.505)
    assert found is None or str(found.cell_id) != cell["id"]

    listed = (await hub.gql(op("GridCells"), {"tenantCode": "laiji"}))["gridCells"]
    assert any(c["id"] == cell["id"] for c in listed)  # kept, with its history
    entries = await trail(hub, cell["id"])
    assert [e.action for e in entries] == ["grid.cell_created", "grid.cell_deactivated"]


BAD_CELLS = [
    ({"polygon": {"type": "Point", "coordinates": [113.4, 34.5]}}, "polygon", "Polygon"),
    (
        {"polygon": {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}},
        "polygon",
        "无效",
    ),
    (
        {
            "polygon": {
                "type": "Polygon",
                "coordinates": [[[113, 200], [114, 34], [113, 34], [113, 200]]],
            }
        },
        "polygon",
        "超出范围",
    ),
    ({"level": 4}, "level", "层级"),
    ({"level": 1, "parentCode": None}, "level", "一级"),
    ({"parentCode": "nowhere"}, "parentCode", "不存在"),
    ({"parentCode": LAIJI_CELL, "level": 3}, "parentCode", "层级"),
    ({"code": "   "}, "code", "网格编码"),
]


@pytest.mark.parametrize(("fields", "field", "words"), BAD_CELLS)
async def test_a_bad_cell_is_refused_by_field_and_nothing_is_written(
    hub: Hub, fields: dict[str, Any], field: str, words: str
) -> None:
    before = await snapshot(hub), await count(hub, GridCell)
    answer = await save(hub, "SaveGridCell", cell_input(**fields))
    assert answer["__typename"] == "UserError", answer
    assert (answer["code"], answer["field"]) == ("VALIDATION", field), answer
    assert words in answer["message"]
    assert (await snapshot(hub), await count(hub, GridCell)) == before


# --- enterprises --------------------------------------------------------------------------------


async def test_an_enterprise_is_created_updated_saved_again_and_closed(hub: Hub) -> None:
    first = await save(hub, "SaveEnterprise", enterprise_input(), token=operator("laiji", hub))
    assert first["__typename"] == "EnterpriseResult", first
    enterprise = first["enterprise"]
    assert (
        enterprise["creditCode"] == credit_code(1) and enterprise["gridCell"]["code"] == LAIJI_CELL
    )
    assert enterprise["monitoringPoints"] == [] and enterprise["active"] is True

    lower = enterprise_input(creditCode=credit_code(1).lower(), industry="耐火材料制品")
    second = await save(hub, "SaveEnterprise", lower)
    assert second["enterprise"]["id"] == enterprise["id"]
    assert second["enterprise"]["industry"] == "耐火材料制品"

    before = await snapshot(hub)
    assert (await save(hub, "SaveEnterprise", lower))["enterprise"] == second["enterprise"]
    assert await snapshot(hub) == before

    closed = await save(hub, "SaveEnterprise", {**lower, "active": False})
    assert closed["enterprise"]["active"] is False
    listed = await hub.gql(op("Enterprises"), {"tenantCode": "laiji", "active": False})
    assert [e["id"] for e in listed["enterprises"]] == [enterprise["id"]]
    entries = await trail(hub, enterprise["id"])
    assert [e.action for e in entries] == [
        "sources.enterprise_created",
        "sources.enterprise_updated",
        "sources.enterprise_deactivated",
    ]


async def test_enterprises_show_their_monitoring_points(hub: Hub) -> None:
    listed = (await hub.gql(op("Enterprises")))["enterprises"]
    assert len(listed) == len(world.SOURCES)
    watched = {p.source for p in world.POINTS if p.source}
    with_points = {e["name"] for e in listed if e["monitoringPoints"]}
    assert with_points == watched


async def test_a_credit_code_of_another_town_is_a_conflict(hub: Hub) -> None:
    await save(hub, "SaveEnterprise", enterprise_input())
    before = await snapshot(hub), await count(hub, Source)
    moved = enterprise_input(tenantCode="chaohua", gridCellCode=CHAOHUA_CELL)
    for token in (hub.admin, operator("chaohua", hub)):  # seen, and unseen by the caller
        answer = await save(hub, "SaveEnterprise", moved, token=token)
        assert (answer["code"], answer["field"]) == ("CONFLICT", "creditCode"), answer
    same_name = enterprise_input(creditCode=credit_code(2))
    answer = await save(hub, "SaveEnterprise", same_name)
    assert (answer["code"], answer["field"]) == ("CONFLICT", "name"), answer
    assert (await snapshot(hub), await count(hub, Source)) == before


# The first test code with its check digit replaced by another one.
WRONG_CHECK = credit_code(1)[:-1] + next(c for c in "0123456789" if c != credit_code(1)[-1])

BAD_ENTERPRISES = [
    ({"creditCode": WRONG_CHECK}, "creditCode", "校验位"),
    ({"creditCode": "123"}, "creditCode", "18"),
    ({"latitude": 200.0}, "latitude", "纬度"),
    ({"longitude": None}, "longitude", "经纬度"),
    ({"gridCellCode": CHAOHUA_CELL}, "gridCellCode", "超化镇"),
    ({"gridCellCode": "no-such-cell"}, "gridCellCode", "不存在"),
    ({"industry": ""}, "industry", "行业"),
]


@pytest.mark.parametrize(("fields", "field", "words"), BAD_ENTERPRISES)
async def test_a_bad_enterprise_is_refused_by_field_and_nothing_is_written(
    hub: Hub, fields: dict[str, Any], field: str, words: str
) -> None:
    before = await snapshot(hub), await count(hub, Source)
    answer = await save(hub, "SaveEnterprise", enterprise_input(**fields))
    assert answer["__typename"] == "UserError", answer
    assert (answer["code"], answer["field"]) == ("VALIDATION", field), answer
    assert words in answer["message"]
    assert (await snapshot(hub), await count(hub, Source)) == before
