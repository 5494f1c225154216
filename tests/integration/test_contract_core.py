"""Every operation of graphql/operations/core.graphql, run against the live ASGI app, in the
order a bureau meets them: register, dispatch, handle, review, feed back, close; merge; reject."""

from __future__ import annotations

from typing import Any

from hub.db import utcnow
from hub.demo import world
from tests.conftest import Hub
from tests.operations import op, operations

CONTRACT = {
    "Me",
    "Tenants",
    "GridCells",
    "Cases",
    "CaseDetail",
    "RegisterCase",
    "DispatchCase",
    "AcceptCase",
    "RecordProgress",
    "SubmitResult",
    "ReviewCase",
    "RecordFeedback",
    "CloseCase",
    "MergeCase",
    "RejectCase",
    "AuditTrail",
    "VerifyAudit",
    "CaseEvents",
}


def test_every_contract_operation_is_kept_in_graphql_operations() -> None:
    assert operations().keys() >= CONTRACT


def center(cell: world.DemoCell) -> tuple[float, float]:
    lons, lats = zip(*cell.ring[:-1], strict=True)
    return sum(lons) / len(lons), sum(lats) / len(lats)


async def run(hub: Hub, name: str, token: str | None = None, **variables: Any) -> dict[str, Any]:
    return await hub.gql(op(name), variables, token=token, operation=name)


async def register(hub: Hub, **fields: Any) -> dict[str, Any]:
    data = {
        "channel": "HOTLINE",
        "title": "夜间扬尘",
        "description": "厂区夜间扬尘",
        "category": "DUST",
        **fields,
    }
    return (await run(hub, "RegisterCase", input=data))["registerCase"]


async def test_me_and_tenants(hub: Hub) -> None:
    me = (await run(hub, "Me", hub.token("OPERATOR", ["laiji"])))["me"]
    assert me["roles"] == ["OPERATOR"]
    assert [t["code"] for t in me["tenants"]] == ["laiji"]
    tenants = (await run(hub, "Tenants"))["tenants"]
    codes = {t["code"]: t for t in tenants}
    assert codes["xinmi"]["kind"] == "CITY" and codes["xinmi"]["parentCode"] is None
    assert {t.code for t in world.TOWNS} <= codes.keys()
    assert codes["laiji"] == {
        "code": "laiji",
        "name": "来集镇",
        "kind": "TOWN",
        "parentCode": "xinmi",
    }


async def test_grid_cells_of_a_town_with_members(hub: Hub) -> None:
    cells = (await run(hub, "GridCells", tenantCode="laiji"))["gridCells"]
    assert {c["tenantCode"] for c in cells} == {"laiji"}
    assert {c["level"] for c in cells} == {2, 3}
    town = next(c for c in cells if c["level"] == 2)
    villages = [c for c in cells if c["level"] == 3]
    assert all(v["parentId"] == town["id"] for v in villages)
    assert all(v["members"] for v in villages), "every village cell has its 网格员"


async def test_the_whole_workflow_through_the_contract(hub: Hub) -> None:
    village = next(c for c in world.CELLS if c.tenant == "laiji" and c.level == 3)
    lon, lat = center(village)
    created = await register(
        hub,
        externalId="12369-0001",
        latitude=lat,
        longitude=lon,
        reporterName="张三",
        reporterPhone="13812345678",
    )
    assert created["__typename"] == "CaseResult"
    case = created["case"]
    assert case["status"] == "REGISTERED" and case["tenant"]["code"] == "laiji"
    assert case["number"].startswith("XM-")
    case_id = case["id"]

    cells = (await run(hub, "GridCells", tenantCode="laiji"))["gridCells"]
    cell = next(c for c in cells if c["code"] == village.code)
    member = cell["members"][0]
    dispatched = (
        await run(
            hub,
            "DispatchCase",
            caseId=case_id,
            input={
                "tenantCode": "laiji",
                "gridCellId": cell["id"],
                "assigneeId": member["id"],
                "note": "请尽快核查",
            },
        )
    )["dispatchCase"]
    assert dispatched["case"]["status"] == "DISPATCHED"
    assert dispatched["case"]["gridCell"]["id"] == cell["id"]
    assert dispatched["case"]["assignee"]["id"] == member["id"]
    assert dispatched["case"]["dueAt"] is not None

    # Only the assignee works a case assigned to a person: the member's token is bound to them.
    member_token = hub.token("MEMBER", ["laiji"], member=member["id"])
    steps = [
        ("AcceptCase", member_token, {"note": "已签收"}, "acceptCase", "HANDLING"),
        ("RecordProgress", member_token, {"note": "已到现场"}, "recordProgress", "HANDLING"),
        (
            "SubmitResult",
            member_token,
            {"input": {"result": "已责令停产整改", "onSiteAt": utcnow().isoformat()}},
            "submitResult",
            "UNDER_REVIEW",
        ),
        (
            "ReviewCase",
            hub.token("SUPERVISOR"),
            {"input": {"decision": "RETURN", "note": "证据不足"}},
            "reviewCase",
            "HANDLING",
        ),
        (
            "SubmitResult",
            member_token,
            {"input": {"result": "补充照片"}},
            "submitResult",
            "UNDER_REVIEW",
        ),
        (
            "ReviewCase",
            hub.token("SUPERVISOR"),
            {"input": {"decision": "APPROVE"}},
            "reviewCase",
            "RESOLVED",
        ),
        (
            "RecordFeedback",
            hub.token("HOTLINE"),
            {"input": {"satisfaction": "SATISFIED"}},
            "recordFeedback",
            "FEEDBACK_GIVEN",
        ),
        ("CloseCase", hub.token("DISPATCHER"), {"note": "结案"}, "closeCase", "CLOSED"),
    ]
    for name, token, variables, field, status in steps:
        result = (await run(hub, name, token, caseId=case_id, **variables))[field]
        assert result["__typename"] == "CaseResult", (name, result)
        assert result["case"]["status"] == status, name
    closed = (await run(hub, "CloseCase", caseId=case_id))["closeCase"]
    assert closed["__typename"] == "UserError" and closed["code"] == "INVALID_TRANSITION"

    detail = (await run(hub, "CaseDetail", id=case_id))["case"]
    assert detail["status"] == "CLOSED" and detail["closedAt"]
    assert detail["channels"] == ["HOTLINE"]
    assert detail["reports"][0]["externalId"] == "12369-0001"
    assert detail["reports"][0]["reporter"] == {"name": "张三", "phone": "13812345678"}
    actions = [e["action"] for e in detail["timeline"]]
    assert actions == [
        "REGISTER",
        "DISPATCH",
        "ACCEPT",
        "PROGRESS",
        "SUBMIT",
        "RETURN",
        "SUBMIT",
        "APPROVE",
        "FEEDBACK",
        "CLOSE",
    ]
    assert detail["timeline"][1]["fromStatus"] == "REGISTERED"
    assert detail["timeline"][1]["toStatus"] == "DISPATCHED"

    viewer = (await run(hub, "CaseDetail", hub.token("VIEWER"), id=case_id))["case"]
    assert viewer["reports"][0]["reporter"]["phone"] == "138****5678"

    trail = (await run(hub, "AuditTrail", subjectId=case_id))["auditTrail"]
    assert [e["action"] for e in trail][:2] == ["case.register", "case.dispatch"]
    changes = [e for e in trail if e["action"].startswith("case.")]
    assert len(changes) == len(actions)
    reads = [e for e in trail if e["action"] == "reporter.unmasked"]
    assert len(reads) == 1, "the ADMIN's read of the full phone number is audited, not the VIEWER's"
    assert all(len(e["hash"]) == 64 for e in trail)
    verified = (await run(hub, "VerifyAudit", tenantCode="laiji"))["verifyAuditTrail"]
    assert verified == {
        "ok": True,
        "checked": verified["checked"],
        "brokenAtSeq": None,
        "tenantCode": "laiji",
    }
    assert verified["checked"] >= len(actions)


async def test_repeat_delivery_returns_the_same_case_and_adds_nothing(hub: Hub) -> None:
    first = await register(hub, externalId="12369-rep", tenantCode="chaohua")
    again = await register(hub, externalId="12369-rep", tenantCode="chaohua")
    assert again["case"]["id"] == first["case"]["id"]
    assert again["case"]["reportCount"] == 1


async def test_same_source_and_category_attaches_to_the_open_case(hub: Hub) -> None:
    sources = await _sources(hub)
    source_id = sources[0]
    first = await register(hub, externalId="a1", sourceId=source_id)
    second = await register(hub, externalId="a2", sourceId=source_id, channel="GRID")
    assert second["duplicateOf"]["id"] == first["case"]["id"]
    assert second["case"]["reportCount"] == 2
    other = await register(hub, externalId="a3", sourceId=source_id, category="NOISE")
    assert other["duplicateOf"] is None and other["case"]["id"] != first["case"]["id"]
    listed = await run(hub, "Cases", filter={"sourceId": source_id, "categories": ["DUST"]})
    node = listed["cases"]["edges"][0]["node"]
    assert listed["cases"]["totalCount"] == 1
    assert node["channels"] == ["HOTLINE", "GRID"] and node["reportCount"] == 2
    assert node["source"]["id"] == source_id


async def test_merge_moves_reports_and_reject_closes(hub: Hub) -> None:
    a = (await register(hub, externalId="m1", tenantCode="dawei"))["case"]
    b = (await register(hub, externalId="m2", tenantCode="dawei"))["case"]
    merged = await run(hub, "MergeCase", caseId=b["id"], intoCaseId=a["id"], note="同一问题")
    result = merged["mergeCase"]
    assert result["case"] == {"id": a["id"], "status": "REGISTERED", "reportCount": 2}
    detail = (await run(hub, "CaseDetail", id=b["id"]))["case"]
    assert detail["status"] == "MERGED"
    assert detail["links"] == [
        {
            "kind": "DUPLICATE",
            "case": {"id": a["id"], "number": a["number"], "status": "REGISTERED"},
        }
    ]
    survivor = (await run(hub, "CaseDetail", id=a["id"]))["case"]
    assert {r["externalId"] for r in survivor["reports"]} == {"m1", "m2"}
    again = (await run(hub, "MergeCase", caseId=b["id"], intoCaseId=a["id"]))["mergeCase"]
    assert again["code"] == "INVALID_TRANSITION"

    c = (await register(hub, externalId="r1", tenantCode="dawei"))["case"]
    rejected = (await run(hub, "RejectCase", caseId=c["id"], reason="不属于环保职责"))["rejectCase"]
    assert rejected["case"]["status"] == "REJECTED"


async def test_cases_list_pages_with_cursors(hub: Hub) -> None:
    ids = [
        (await register(hub, externalId=f"p{i}", tenantCode="pingmo"))["case"]["id"]
        for i in range(5)
    ]
    seen: list[str] = []
    after = None
    while True:
        page = (await run(hub, "Cases", filter={"tenantCodes": ["pingmo"]}, first=2, after=after))[
            "cases"
        ]
        assert page["totalCount"] == 5
        seen += [e["node"]["id"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == list(reversed(ids)), "newest first, each once"


async def _sources(hub: Hub) -> list[str]:
    query = "{ cases(first: 1) { totalCount } }"
    await hub.gql(query)
    from sqlalchemy import select

    from hub.sources.model import Source

    scope = await hub.scope()
    async with hub.db.session(scope.tenant_ids) as session:
        rows = await session.scalars(select(Source.id).order_by(Source.name))
        return [str(r) for r in rows]
