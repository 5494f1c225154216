"""The 12369 calls in the case graph, through POST /ingest/hotline and GraphQL on every
backend: routing (each step, and why, on the timeline), one problem one case (sure merges,
candidates the dispatcher merges, priority), splitting a report off, and bad input."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from hub.demo import world
from tests.conftest import Hub, register
from tests.operations import op

URL = "/ingest/hotline"
DETAIL = """
query Case($id: ID!) {
  case(id: $id) {
    id number status priority category reportCount tenant { code } gridCell { code }
    source { name }
    reports { id externalId outcomeReason }
    timeline { action note fromStatus toStatus }
    links { kind case { id number } }
    possibleDuplicates { case { id number status } distanceMeters reason }
  }
}"""
SPLIT = op("SplitReport")
MERGE = """
mutation Merge($caseId: ID!, $into: ID!) {
  mergeCase(caseId: $caseId, intoCaseId: $into) {
    __typename
    ... on CaseResult { case { id reportCount } }
    ... on UserError { code message }
  }
}"""
M = 1 / 111_195  # degrees of latitude in a metre


def source(town: str, industry: str) -> world.DemoSource:
    return next(s for s in world.SOURCES if s.tenant == town and s.industry == industry)


def cell(town: str, number: int) -> world.DemoCell:
    return next(c for c in world.CELLS if c.code == world.cell_code(town, number))


def centre(c: world.DemoCell) -> tuple[float, float]:
    lons, lats = [p[0] for p in c.ring], [p[1] for p in c.ring]
    return (min(lons) + max(lons)) / 2, (min(lats) + max(lats)) / 2


class Calls:
    """Posts calls with fresh ids; each caller a different number unless told."""

    def __init__(self, hub: Hub) -> None:
        self.hub, self.n = hub, 0

    async def post(self, **fields: Any) -> dict[str, Any]:
        self.n += 1
        body = {
            "callId": f"net-{self.n}-{uuid.uuid4().hex[:6]}",
            "receivedAt": f"2026-11-28T09:{self.n:02d}:00+08:00",  # in the order posted
            "description": "夜间扬尘严重",
            "category": "DUST",
            "callerPhone": f"1390000{self.n:04d}",
            **fields,
        }
        body = {k: v for k, v in body.items() if v is not None}
        token = self.hub.token("HOTLINE")
        response = await self.hub.http.post(
            URL, json=body, headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code in (200, 201), response.text
        return response.json()

    async def case(self, case_id: str, token: str | None = None) -> dict[str, Any]:
        return (await self.hub.gql(DETAIL, {"id": case_id}, token=token))["case"]


# --- routing -----------------------------------------------------------------------------------

LAIJI_FACTORY = source("laiji", "REFRACTORY")  # 新密市来集镇宏达耐火材料有限公司
CEMENT = source("chaohua", "CEMENT")  # 新密市超化镇瑞丰水泥有限公司
ROUTES = [
    # (name, call fields, town, grid cell code or None, route step, words in the reason)
    ("town named", {"town": "laiji"}, "laiji", None, "TOWN", "来集镇"),
    (
        "point in a village",
        dict(zip(("longitude", "latitude"), centre(cell("chaohua", 2)), strict=True)),
        "chaohua",
        "chaohua-02",
        "GRID_CELL",
        "网格",
    ),
    ("source named", {"sourceName": "瑞丰水泥厂"}, "chaohua", "chaohua-03", "SOURCE", "污染源"),
    (
        "address names a village",
        {"address": "新密市大隗镇五虎庙村东头"},
        "dawei",
        "dawei-03",
        "ADDRESS",
        "五虎庙村",
    ),
    ("address names a town", {"address": "来集镇政府对面"}, "laiji", "laiji", "ADDRESS", "来集镇"),
    (
        "address with a village stem only",
        {"address": "苏寨那边的路口"},
        "laiji",
        "laiji-03",
        "ADDRESS",
        "苏寨",
    ),
    (
        "point outside every town, address names a village",
        {"longitude": 113.19, "latitude": 34.36, "address": "平陌镇崔庄村"},
        "pingmo",
        "pingmo-03",
        "ADDRESS",
        "崔庄村",
    ),
    (
        "point outside every town, no address",
        {"longitude": 113.19, "latitude": 34.36},
        "xinmi",
        "xinmi",
        "GRID_CELL",
        "指挥中心",
    ),
    (
        "address of two towns",
        {"address": "来集镇超化村"},
        "xinmi",
        None,
        "COMMAND_CENTRE",
        "指挥中心",
    ),
    (
        "address outside the county",
        {"address": "郑州市金水区"},
        "xinmi",
        None,
        "COMMAND_CENTRE",
        "",
    ),
    ("nothing to go by", {}, "xinmi", None, "COMMAND_CENTRE", "指挥中心"),
    (
        "no address, the description names a village",
        {"description": "超化镇马鞍河村附近水泥厂粉尘很大"},
        "chaohua",
        "chaohua-03",
        "ADDRESS",
        "描述提到超化镇、马鞍河村",
    ),
    (
        "an address naming nothing known: the description is not read",
        {"address": "郑州市金水区", "description": "超化镇马鞍河村附近粉尘很大"},
        "xinmi",
        None,
        "COMMAND_CENTRE",
        "",
    ),
    (
        "town beats the address",
        {"town": "goutang", "address": "来集镇李堂村"},
        "goutang",
        None,
        "TOWN",
        "苟堂镇",
    ),
    (
        "point beats the address",
        {
            **dict(zip(("longitude", "latitude"), centre(cell("niudian", 1)), strict=True)),
            "address": "来集镇李堂村",
        },
        "niudian",
        "niudian-01",
        "GRID_CELL",
        "牛店镇",
    ),
]


@pytest.mark.parametrize(
    ("fields", "town", "cell_code", "step", "words"),
    [r[1:] for r in ROUTES],
    ids=[r[0] for r in ROUTES],
)
async def test_routing_table(
    hub: Hub, fields: dict[str, Any], town: str, cell_code: str | None, step: str, words: str
) -> None:
    calls = Calls(hub)
    answer = await calls.post(**fields)
    found = await calls.case(answer["caseId"])
    assert found["tenant"]["code"] == town
    assert (found["gridCell"] or {}).get("code") == cell_code
    register = found["timeline"][0]
    assert register["action"] == "REGISTER" and register["toStatus"] == "REGISTERED"
    assert register["note"].startswith("分派依据：") and words in register["note"]
    async with hub.db.session((await hub.scope()).tenant_ids) as session:
        from sqlalchemy import select

        from hub.cases.model import Event

        data = await session.scalar(
            select(Event.data).where(Event.case_id == uuid.UUID(answer["caseId"]))
        )
    assert data["routeStep"] == step


@pytest.mark.parametrize(
    ("address", "town", "cell_code"),
    [(None, "chaohua", "chaohua-03"), ("郑州市金水区", "xinmi", None)],
    ids=["no address", "an address naming nothing known"],
)
async def test_register_case_routes_by_the_description_without_an_address(
    hub: Hub, address: str | None, town: str, cell_code: str | None
) -> None:
    """registerCase reads the description for a place only when no address is given."""
    fields = {"address": address} if address else {}
    done = await register(hub, description="超化镇马鞍河村附近水泥厂粉尘很大", **fields)
    found = await Calls(hub).case(done["case"]["id"])
    assert found["tenant"]["code"] == town
    assert (found["gridCell"] or {}).get("code") == cell_code


# --- one problem, one case -------------------------------------------------------------------


async def test_a_repeat_caller_joins_their_open_case(hub: Hub) -> None:
    calls = Calls(hub)
    first = await calls.post(town="laiji", callerPhone="13911112222")
    again = await calls.post(callerPhone="+86 139-1111-2222", description="又打来了，扬尘还是很大")
    assert again["duplicateOf"] == first["caseId"] == again["caseId"]
    found = await calls.case(first["caseId"])
    assert found["reportCount"] == 2
    assert "同一来电号码" in found["reports"][1]["outcomeReason"]
    assert [e["action"] for e in found["timeline"]] == ["REGISTER", "REPORT_ATTACHED"]
    other = await calls.post(callerPhone="13911112222", category="NOISE", description="噪音")
    assert other["duplicateOf"] is None and other["caseId"] != first["caseId"]


async def test_the_same_number_in_another_town_is_another_problem(hub: Hub) -> None:
    calls = Calls(hub)
    first = await calls.post(town="laiji", callerPhone="13911112222")
    second = await calls.post(town="dawei", callerPhone="13911112222")
    assert second["duplicateOf"] is None and second["caseId"] != first["caseId"]


async def test_a_nearby_case_is_a_candidate_the_dispatcher_merges(hub: Hub) -> None:
    calls = Calls(hub)
    lon, lat = centre(cell("laiji", 2))
    first = await calls.post(longitude=lon, latitude=lat)
    near = await calls.post(longitude=lon, latitude=lat + 120 * M)
    far = await calls.post(longitude=lon, latitude=lat + 600 * M)
    noise = await calls.post(longitude=lon, latitude=lat, category="NOISE", description="噪音")
    assert near["duplicateOf"] is None and near["caseId"] != first["caseId"]
    candidates = (await calls.case(near["caseId"]))["possibleDuplicates"]
    assert len(candidates) == 1
    assert candidates[0]["case"]["id"] == first["caseId"]
    desk = await hub.gql(op("PossibleDuplicates"), {"id": near["caseId"]})
    assert desk["case"]["possibleDuplicates"][0]["case"]["status"] == "REGISTERED"
    assert (
        desk["case"]["possibleDuplicates"][0]["distanceMeters"] == candidates[0]["distanceMeters"]
    )
    assert candidates[0]["distanceMeters"] == pytest.approx(120, abs=2)
    assert "120" in candidates[0]["reason"] and "同类未结案件" in candidates[0]["reason"]
    for other in (far, noise, first):
        assert (await calls.case(other["caseId"]))["possibleDuplicates"] == []
    merged = await hub.gql(
        MERGE, {"caseId": near["caseId"], "into": first["caseId"]}, token=hub.token("DISPATCHER")
    )
    assert merged["mergeCase"]["case"] == {"id": first["caseId"], "reportCount": 2}


async def test_candidates_are_configurable(hub: Hub) -> None:
    hub.settings.duplicate_distance_meters = 1000.0
    calls = Calls(hub)
    lon, lat = centre(cell("laiji", 2))
    first = await calls.post(longitude=lon, latitude=lat)
    far = await calls.post(longitude=lon, latitude=lat + 600 * M)
    found = (await calls.case(far["caseId"]))["possibleDuplicates"]
    assert [c["case"]["id"] for c in found] == [first["caseId"]]


async def test_a_town_operator_sees_no_candidate_of_another_town(hub: Hub) -> None:
    calls = Calls(hub)
    # laiji's south edge meets nothing; two points 100 m apart on either side of a cell edge
    # of one town are both laiji's: use the city to hold one of them instead.
    lon, lat = centre(cell("laiji", 1))
    city = await calls.post(town="xinmi", longitude=lon, latitude=lat)
    town = await calls.post(longitude=lon, latitude=lat + 50 * M)
    admin_view = (await calls.case(town["caseId"]))["possibleDuplicates"]
    assert [c["case"]["id"] for c in admin_view] == [city["caseId"]]
    operator = hub.token("OPERATOR", ["laiji"])
    assert (await calls.case(town["caseId"], operator))["possibleDuplicates"] == []


async def test_several_callers_make_a_case_urgent_once(hub: Hub) -> None:
    calls = Calls(hub)
    answers = [
        await calls.post(town="laiji", sourceName="宏达耐火材料厂", callerPhone=f"1371111000{i}")
        for i in range(4)
    ]
    case_id = answers[0]["caseId"]
    assert all(a["caseId"] == case_id for a in answers)
    found = await calls.case(case_id)
    assert found["priority"] == "URGENT" and found["reportCount"] == 4
    raised = [e for e in found["timeline"] if e["action"] == "PRIORITY_RAISED"]
    assert len(raised) == 1 and "3" in raised[0]["note"]
    before = [e["action"] for e in found["timeline"]]
    assert before.index("PRIORITY_RAISED") == 3  # after the third caller's report


async def test_one_caller_phoning_thrice_is_not_several_callers(hub: Hub) -> None:
    calls = Calls(hub)
    for _ in range(3):
        answer = await calls.post(town="laiji", callerPhone="13922223333")
    assert (await calls.case(answer["caseId"]))["priority"] == "NORMAL"


# --- splitting a report off -----------------------------------------------------------------


async def test_split_a_report_off_keeps_history_on_both(hub: Hub) -> None:
    calls = Calls(hub)
    first = await calls.post(town="laiji", sourceName="宏达耐火材料厂")
    second = await calls.post(town="laiji", sourceName="宏达耐火材料厂", description="另一件事")
    assert second["duplicateOf"] == first["caseId"]
    old = await calls.case(first["caseId"])
    report_id = old["reports"][1]["id"]
    split = await hub.gql(
        SPLIT, {"reportId": report_id, "note": "不是同一问题"}, token=hub.token("DISPATCHER")
    )
    new = split["splitReport"]
    assert new["__typename"] == "CaseResult", new
    assert new["case"]["status"] == "REGISTERED" and new["case"]["reportCount"] == 1
    assert new["case"]["tenant"]["code"] == "laiji"
    new_case = await calls.case(new["case"]["id"])
    old = await calls.case(first["caseId"])
    assert old["reportCount"] == 1 and [r["id"] for r in new_case["reports"]] == [report_id]
    assert [e["action"] for e in old["timeline"]] == [
        "REGISTER",
        "REPORT_ATTACHED",
        "REPORT_SPLIT",
    ]
    assert [e["action"] for e in new_case["timeline"]] == ["SPLIT_FROM"]
    assert new_case["timeline"][0]["note"] == "不是同一问题"
    assert new_case["links"] == [
        {"kind": "RELATED", "case": {"id": first["caseId"], "number": old["number"]}}
    ]
    assert old["links"][0]["case"]["id"] == new["case"]["id"]
    trail = await hub.gql(
        "query($id: ID!) { auditTrail(subjectId: $id) { action } }", {"id": first["caseId"]}
    )
    assert "case.report_split" in [e["action"] for e in trail["auditTrail"]]


async def split_error(hub: Hub, token: str, report_id: str, note: str | None = None):
    data = await hub.gql(SPLIT, {"reportId": report_id, "note": note}, token=token)
    return data["splitReport"]


async def test_split_bad_input(hub: Hub) -> None:
    calls = Calls(hub)
    lone = await calls.post(town="laiji")
    first = await calls.post(town="chaohua", sourceName="瑞丰水泥厂")
    await calls.post(town="chaohua", sourceName="瑞丰水泥厂")
    lone_report = (await calls.case(lone["caseId"]))["reports"][0]["id"]
    attached = (await calls.case(first["caseId"]))["reports"][1]["id"]
    dispatcher = hub.token("DISPATCHER")
    before = await calls.case(first["caseId"])
    cases = [
        (dispatcher, "not-an-id", None, "NOT_FOUND", "reportId"),
        (dispatcher, str(uuid.uuid4()), None, "NOT_FOUND", "reportId"),
        (dispatcher, lone["caseId"], None, "NOT_FOUND", "reportId"),  # a case id, not a report
        (dispatcher, lone_report, None, "VALIDATION", "reportId"),
        (dispatcher, attached, "n" * 4001, "VALIDATION", "note"),
        (dispatcher, attached, "a\x00b", "VALIDATION", "note"),
        (hub.token("OPERATOR", ["chaohua"]), attached, None, "FORBIDDEN", None),
        (hub.token("HOTLINE"), attached, None, "FORBIDDEN", None),
        (hub.token("DISPATCHER", ["laiji"]), attached, None, "NOT_FOUND", "reportId"),
    ]
    for token, report_id, note, code, field in cases:
        error = await split_error(hub, token, report_id, note)
        assert error["__typename"] == "UserError", (report_id, note, error)
        assert error["code"] == code and error["message"], error
        if field:
            assert error["field"] == field, error
    assert await calls.case(first["caseId"]) == before  # nothing half-done
    response = await hub.post(SPLIT, {"reportId": None}, token=dispatcher)
    assert response.json()["errors"]  # a null id is a GraphQL validation error


async def test_simultaneous_calls_about_one_problem_make_one_case(hub: Hub) -> None:
    import asyncio

    calls = Calls(hub)
    about_a_plant = await asyncio.gather(
        *(calls.post(town="laiji", sourceName="宏达耐火材料厂") for _ in range(6))
    )
    assert len({a["caseId"] for a in about_a_plant}) == 1
    assert sum(a["duplicateOf"] is None for a in about_a_plant) == 1
    one_caller = await asyncio.gather(
        *(calls.post(callerPhone="13955556666", category="NOISE") for _ in range(4))
    )
    assert len({a["caseId"] for a in one_caller}) == 1
    found = await calls.case(about_a_plant[0]["caseId"])
    assert found["reportCount"] == 6 and found["priority"] == "URGENT"
    raised = [e for e in found["timeline"] if e["action"] == "PRIORITY_RAISED"]
    assert len(raised) == 1
