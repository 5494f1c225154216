"""POST /ingest/hotline against the live ASGI app, on every backend: the contract's answers,
idempotency on callId, ADMIN may post (who may not: test_ingest_auth.py), every kind of bad
input (a clear 4xx naming the field, nothing stored), and what the hub understands of a call
(category, source, phone)."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import pytest
from sqlalchemy import event, select

from hub.cases.model import Case, Report
from hub.sources.model import Source
from tests.conftest import Hub
from tests.helpers import HOTLINE_CALL as CALL
from tests.helpers import post_json, refused, snapshot

URL = "/ingest/hotline"
post = partial(post_json, url=URL, role="HOTLINE")

CASE = """
query Case($id: ID!) {
  case(id: $id) {
    id number category title reportCount tenant { code } source { name }
    reports { externalId anonymous reporter { name phone } }
  }
}"""


def call(**changes: Any) -> dict[str, Any]:
    body = {**CALL, **changes}
    return {k: v for k, v in body.items() if v is not DROP}


DROP = object()


async def case(hub: Hub, case_id: str) -> dict[str, Any]:
    return (await hub.gql(CASE, {"id": case_id}))["case"]


# --- the contract's answers -------------------------------------------------------------------


async def test_new_call_201_then_repeat_200_same_case(hub: Hub) -> None:
    first = await post(hub, CALL)
    assert first.status_code == 201, first.text
    answer = first.json()
    assert set(answer) == {"caseId", "caseNumber", "duplicateOf", "queryCode"}
    assert answer["duplicateOf"] is None and answer["caseNumber"].startswith("XM-")
    before = await snapshot(hub)
    again = await post(hub, dict(reversed(list(CALL.items()))))  # same JSON, keys reordered
    assert again.status_code == 200, again.text
    assert again.json() == answer
    assert await snapshot(hub) == before
    found = await case(hub, answer["caseId"])
    assert found["reportCount"] == 1 and found["tenant"]["code"] == "laiji"
    assert found["title"] == "来集镇宏达耐火材料厂夜间扬尘严重"
    assert found["reports"][0]["externalId"] == CALL["callId"]


async def test_same_call_id_other_body_is_409_and_changes_nothing(hub: Hub) -> None:
    answer = (await post(hub, CALL)).json()
    before = await snapshot(hub)
    error = refused(await post(hub, call(description="完全不同的内容：噪音")), 409, "callId")
    assert error["code"] == "CONFLICT" and "description" in error["message"]
    assert await snapshot(hub) == before
    found = await case(hub, answer["caseId"])
    assert found["reportCount"] == 1 and found["category"] == "DUST"


async def test_admin_may_post_calls(hub: Hub) -> None:
    assert (await post(hub, CALL, role="ADMIN")).status_code == 201


# --- bad input: a 4xx naming the field, nothing stored -------------------------------------------


def future(minutes: float) -> str:
    return (datetime.now(UTC) + timedelta(minutes=minutes)).isoformat()


BAD_BODIES = [
    ("missing callId", call(callId=DROP), "callId"),
    ("missing receivedAt", call(receivedAt=DROP), "receivedAt"),
    ("missing description", call(description=DROP), "description"),
    ("null callId", call(callId=None), "callId"),
    ("blank callId", call(callId="   "), "callId"),
    ("blank description", call(description=" \n "), "description"),
    ("callId a number", call(callId=12369), "callId"),
    ("description a list", call(description=["扬尘"]), "description"),
    ("callerPhone a number", call(callerPhone=13800000000), "callerPhone"),
    ("latitude a string", call(latitude="34.57"), "latitude"),
    ("latitude a bool", call(latitude=True), "latitude"),
    ("anonymous a string", call(anonymous="yes"), "anonymous"),
    ("anonymous a number", call(anonymous=1), "anonymous"),
    ("unknown category", call(category="SMELL"), "category"),
    ("receivedAt without offset", call(receivedAt="2026-11-28T09:30:00"), "receivedAt"),
    ("receivedAt a date only", call(receivedAt="2026-11-28"), "receivedAt"),
    ("receivedAt not a time", call(receivedAt="yesterday"), "receivedAt"),
    ("receivedAt a number", call(receivedAt=1764293400), "receivedAt"),
    ("receivedAt in the future", call(receivedAt=future(60)), "receivedAt"),
    ("receivedAt out of range", call(receivedAt="9999-12-31T23:59:59-05:00"), "receivedAt"),
    ("latitude outside China", call(latitude=60.0), "latitude"),
    ("longitude outside China", call(longitude=140.0), "longitude"),
    ("null island", call(latitude=0.0, longitude=0.0), "latitude"),
    ("latitude without longitude", call(longitude=DROP), "longitude"),
    ("100 kB description", call(description="扬" * 100_000), "description"),
    ("100 kB ASCII description", call(description="x" * 100_000), "description"),
    ("callId too long", call(callId="c" * 129), "callId"),
    ("unknown town", call(town="atlantis"), "town"),
    ("town a number", call(town=7), "town"),
    ("phone not a number", call(callerPhone="call me maybe"), "callerPhone"),
    ("phone too short", call(callerPhone="12345"), "callerPhone"),
    ("phone letters", call(callerPhone="abc"), "callerPhone"),
    ("phone without area code", call(callerPhone="62345678"), "callerPhone"),
    ("NUL in description", call(description="扬尘\x00"), "description"),
]


@pytest.mark.parametrize(
    ("body", "field"), [b[1:] for b in BAD_BODIES], ids=[b[0] for b in BAD_BODIES]
)
async def test_bad_field_is_422_naming_it(hub: Hub, body: dict[str, Any], field: str) -> None:
    before = await snapshot(hub)
    error = refused(await post(hub, body), 422, field)
    assert error["code"] == "VALIDATION"
    assert await snapshot(hub) == before


BAD_RAW = [
    (
        "invalid UTF-8",
        json.dumps(CALL, ensure_ascii=False).encode().replace("扬".encode(), b"\xff\xfe", 1),
    ),
    ("not JSON", b"callId=1&description=noise"),
    ("truncated JSON", json.dumps(CALL).encode()[:-5]),
    ("empty body", b""),
    ("JSON array", json.dumps([CALL]).encode()),
    ("JSON string", b'"hello"'),
    ("NaN literal", json.dumps(CALL).encode()[:-1] + b', "latitude": NaN}'),
    ("deeply nested", b'{"x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"),
]


@pytest.mark.parametrize("raw", [b[1] for b in BAD_RAW], ids=[b[0] for b in BAD_RAW])
async def test_unreadable_body_is_422_body(hub: Hub, raw: bytes) -> None:
    before = await snapshot(hub)
    refused(await post(hub, raw), 422, "body")
    assert await snapshot(hub) == before


async def test_lone_surrogate_is_422_naming_the_field(hub: Hub) -> None:
    raw = json.dumps(call(callerName="王\ud800")).encode()  # ensure_ascii: a \ud800 escape
    refused(await post(hub, raw), 422, "callerName")


async def test_huge_body_is_413(hub: Hub) -> None:
    before = await snapshot(hub)
    refused(await post(hub, call(description="x" * 2_000_000)), 413, "body")
    assert await snapshot(hub) == before


async def test_town_outside_the_tokens_towns_is_unknown(hub: Hub) -> None:
    refused(await post(hub, call(town="chaohua"), tenants=["laiji"]), 422, "town")
    assert (await post(hub, CALL, tenants=["laiji"])).status_code == 201


async def test_unknown_fields_are_kept_not_refused(hub: Hub) -> None:
    assert (await post(hub, call(lineNumber="3", operatorId="A12"))).status_code == 201


async def test_a_small_clock_skew_is_tolerated(hub: Hub) -> None:
    assert (await post(hub, call(receivedAt=future(1)))).status_code == 201


# --- understanding the call ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("description", "category"),
    [
        ("隔壁磨料厂机器噪音很大，晚上睡不着", "NOISE"),
        ("造纸厂往河里排污水，河水发黑", "WATER"),
        ("工厂烟囱冒烟，有刺鼻异味", "AIR"),
        ("路上黑烟车很多", "VEHICLE"),
        ("村口倾倒建筑垃圾", "SOLID_WASTE"),
        ("想咨询一下办事流程", "OTHER"),
    ],
)
async def test_category_from_the_callers_words(hub: Hub, description: str, category: str) -> None:
    response = await post(hub, call(category=DROP, sourceName=DROP, description=description))
    assert response.status_code == 201, response.text
    assert (await case(hub, response.json()["caseId"]))["category"] == category


@pytest.mark.parametrize(("given", "category"), [("OTHER", "DUST"), (DROP, "DUST")])
async def test_a_call_without_a_category_is_read_from_its_words(
    hub: Hub, given: object, category: str
) -> None:
    """The call system's OTHER is "not picked": the words still say what it is about."""
    body = call(category=given, sourceName=DROP, address=DROP, town=DROP)
    body["description"] = "超化镇马鞍河村附近水泥厂粉尘很大"
    response = await post(hub, body)
    assert response.status_code == 201, response.text
    assert (await case(hub, response.json()["caseId"]))["category"] == category


async def test_the_call_systems_category_wins(hub: Hub) -> None:
    response = await post(hub, call(category="NOISE", sourceName=DROP))
    assert (await case(hub, response.json()["caseId"]))["category"] == "NOISE"


async def test_matched_source_attaches_the_second_call(hub: Hub) -> None:
    first = await post(hub, call(category=DROP, sourceName="新密市来集镇宏达耐火材料有限公司"))
    assert first.status_code == 201, first.text
    again = call(
        callId="12369-20261128-0002",
        category=DROP,
        callerPhone="13900000000",
        sourceName="宏达 耐火材料 厂",  # spacing and 厂 instead of 有限公司
        town=DROP,
        latitude=DROP,
        longitude=DROP,
    )
    second = await post(hub, again)
    assert second.status_code == 201, second.text
    case_id = first.json()["caseId"]
    # The second caller has a query code of their own (test_public_view.py).
    assert second.json() == {
        **first.json(),
        "duplicateOf": case_id,
        "queryCode": second.json()["queryCode"],
    }
    assert second.json()["queryCode"] != first.json()["queryCode"]
    found = await case(hub, case_id)
    assert found["reportCount"] == 2 and found["category"] == "DUST"
    assert found["source"]["name"] == "新密市来集镇宏达耐火材料有限公司"
    repeat = await post(
        hub,
        call(
            callId="12369-20261128-0002",
            category=DROP,
            callerPhone="13900000000",
            sourceName="宏达 耐火材料 厂",
            town=DROP,
            latitude=DROP,
            longitude=DROP,
        ),
    )
    assert repeat.status_code == 200 and repeat.json() == second.json()


async def test_a_named_source_routes_the_call_without_reading_it_again(hub: Hub) -> None:
    """Routing takes the matched source (its town and grid cell) from the sources the call was
    matched against: no statement reads the sources table once they are cached."""
    vague = call(
        callId="warm", sourceName="耐火材料厂", category="NOISE", callerPhone="13700000000"
    )
    warm = await post(hub, vague)  # four refractories: no match, but the sources are cached
    assert warm.status_code == 201
    statements: list[str] = []
    listener = partial(lambda found, *a: found.append(a[2]), statements)
    engine = hub.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", listener)
    try:
        named = call(
            callId="named",
            category=DROP,
            sourceName="宏达 耐火材料 厂",
            town=DROP,
            latitude=DROP,
            longitude=DROP,
            address=DROP,
        )
        response = await post(hub, named)
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    assert response.status_code == 201, response.text
    assert not [s for s in statements if "FROM sources" in s]
    async with hub.db.session((await hub.scope()).tenant_ids) as session:
        row = (
            await session.execute(
                select(Case.tenant_id, Case.grid_cell_id, Source.tenant_id, Source.grid_cell_id)
                .join(Source, Case.source_id == Source.id)
                .where(Case.id == uuid.UUID(response.json()["caseId"]))
            )
        ).one()
    assert row[0] == row[2] and row[1] == row[3] and row[1] is not None


async def test_unmatched_or_vague_source_is_never_guessed(hub: Hub) -> None:
    first = await post(hub, call(sourceName="耐火材料厂"))  # four refractories: which one?
    other_caller = call(callId="c-2", sourceName="耐火材料厂", callerPhone="13900000000")
    second = await post(hub, other_caller)
    assert first.status_code == second.status_code == 201
    assert second.json()["duplicateOf"] is None
    assert second.json()["caseId"] != first.json()["caseId"]
    assert (await case(hub, first.json()["caseId"]))["source"] is None


async def test_source_is_looked_up_in_the_named_town_only(hub: Hub) -> None:
    response = await post(hub, call(town="chaohua", latitude=DROP, longitude=DROP))
    assert (await case(hub, response.json()["caseId"]))["source"] is None


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("+86 138-0000-0000", "13800000000"),
        ("0086 13800000000", "13800000000"),
        ("１３８ ００００ ００００", "13800000000"),
        ("(0371) 6234-5678", "037162345678"),
        ("0371-62345678-801", "037162345678-801"),
        ("0371-62345678转801", "037162345678-801"),
    ],
)
async def test_phone_is_stored_normalised(hub: Hub, given: str, stored: str) -> None:
    response = await post(hub, call(callerPhone=given))
    assert response.status_code == 201, response.text
    report = (await case(hub, response.json()["caseId"]))["reports"][0]
    assert report["reporter"]["phone"] == stored
    async with hub.db.session((await hub.scope()).tenant_ids) as session:
        row = await session.scalar(select(Report).where(Report.external_id == CALL["callId"]))
    assert row is not None and row.reporter_phone == stored
    assert row.payload["callerPhone"] == given  # the payload stays as it came


async def test_a_phone_refusal_says_what_a_number_looks_like(hub: Hub) -> None:
    error = refused(await post(hub, call(callerPhone="abc")), 422, "callerPhone")
    assert error["message"].startswith("callerPhone 不是有效的手机或固定电话号码"), error


async def test_anonymous_flag_is_kept(hub: Hub) -> None:
    response = await post(hub, call(anonymous=True))
    assert response.status_code == 201, response.text
    async with hub.db.session((await hub.scope()).tenant_ids) as session:
        row = await session.scalar(select(Report).where(Report.external_id == CALL["callId"]))
    assert row is not None and row.anonymous is True and row.reporter_phone == "13800000000"


async def test_simultaneous_deliveries_of_one_call_make_one_case(hub: Hub) -> None:
    answers = await asyncio.gather(*(post(hub, CALL) for _ in range(4)))
    assert sorted(a.status_code for a in answers) == [200, 200, 200, 201], [a.text for a in answers]
    assert len({a.json()["caseId"] for a in answers}) == 1
    assert (await case(hub, answers[0].json()["caseId"]))["reportCount"] == 1
