"""Bad input against the live ASGI app: every refusal is clear, and none writes anything.

A refusal is either a GraphQL error (errors[] with a message, no 500, never the masked
"Unexpected error.") or a UserError with a code and the field named. After a refused
mutation the case count and the audit chains are exactly as before.
"""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import jwt
import pytest

from hub import auth
from hub.cases import inputs, intake
from hub.cases.duplicates import Rules
from hub.cases.enums import Category, Channel
from hub.demo import world
from hub.pagination import MAX_PAGE, encode_cursor
from tests.conftest import SECRET, Hub, register
from tests.helpers import snapshot

MASKED = "Unexpected error."
NOWHERE = str(uuid.UUID(int=1))  # a well-formed id that names nothing

CASES = """
query Cases($filter: CaseFilter, $first: Int, $after: String) {
  cases(filter: $filter, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { cursor node { id status } }
  }
}"""

CASE = """
query Case($id: ID!) {
  case(id: $id) { id status timeline { action fromStatus toStatus } }
}"""

REGISTER = """
mutation Register($input: RegisterCaseInput!) {
  registerCase(input: $input) {
    __typename
    ... on CaseResult { case { id } }
    ... on UserError { code message field }
  }
}"""

DISPATCH = """
mutation Dispatch($caseId: ID!, $input: DispatchInput!) {
  dispatchCase(caseId: $caseId, input: $input) {
    __typename
    ... on CaseResult { case { id status } }
    ... on UserError { code message field }
  }
}"""


PHONE_OF = "query($id: ID!) { case(id: $id) { reports { reporter { phone } } } }"


def mutation(name: str, params: str = "", args: str = "") -> str:
    """One case mutation answering its UserError's code, message and field."""
    return f"""
mutation Change($caseId: ID!{params}) {{
  {name}(caseId: $caseId{args}) {{
    __typename
    ... on CaseResult {{ case {{ id status }} }}
    ... on UserError {{ code message field }}
  }}
}}"""


# --- helpers ----------------------------------------------------------------------------------


def refused(response: httpx.Response) -> list[dict[str, Any]]:
    """A clear GraphQL error: 200 or 400, errors[] with messages, never a masked one, and no
    data at all (nothing was executed, or the one root field failed)."""
    assert response.status_code in (200, 400), response.text
    payload = response.json()
    errors = payload.get("errors")
    assert errors, payload
    for error in errors:
        assert error["message"] and error["message"] != MASKED, payload
    assert payload.get("data") is None, payload
    return errors


def http_refused(response: httpx.Response, status: int, words: str) -> None:
    """A request strawberry cannot take as GraphQL at all: its own status and a plain reason."""
    assert response.status_code == status, response.text
    assert words.lower() in response.text.lower(), response.text


def unauthorized(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    payload = response.json()
    assert "data" not in payload
    assert payload["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert response.headers["www-authenticate"] == "Bearer"


def user_error(result: dict[str, Any], code: str, field: str | None) -> None:
    assert result["__typename"] == "UserError", result
    assert result["code"] == code, result
    assert result["message"] and result["message"] != MASKED, result
    if field is not None:
        assert result["field"] == field, result


async def attempt(
    hub: Hub, query: str, variables: dict[str, Any], code: str, field: str | None
) -> None:
    """A mutation refused as a UserError that changed nothing."""
    before = await snapshot(hub)
    data = await hub.gql(query, variables)
    user_error(next(iter(data.values())), code, field)
    assert await snapshot(hub) == before
    assert before[1] is True


async def new_case(hub: Hub, **fields: Any) -> str:
    created = await register(hub, **fields)
    assert created["__typename"] == "CaseResult", created
    return created["case"]["id"]


async def cells(hub: Hub, town: str) -> list[dict[str, Any]]:
    query = "query($t: String) { gridCells(tenantCode: $t) { id level members { id } } }"
    return (await hub.gql(query, {"t": town}))["gridCells"]


def later(days: float = 3) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat()


@pytest.fixture
async def case_id(hub: Hub) -> str:
    return await new_case(hub)


# --- malformed requests -----------------------------------------------------------------------


async def test_syntax_error(hub: Hub) -> None:
    errors = refused(await hub.post("{ cases { totalCount ", token=hub.admin))
    assert "Syntax Error" in errors[0]["message"]


async def test_unknown_field(hub: Hub) -> None:
    errors = refused(await hub.post("{ cases { totalCount bogus } }", token=hub.admin))
    assert "bogus" in errors[0]["message"]


async def test_mutation_over_get_is_refused(hub: Hub, case_id: str) -> None:
    before = await snapshot(hub)
    query = f'mutation {{ closeCase(caseId: "{case_id}") {{ __typename }} }}'
    response = await hub.http.get(
        "/graphql", params={"query": query}, headers={"Authorization": f"Bearer {hub.admin}"}
    )
    http_refused(response, 400, "mutations are not allowed when using GET")
    assert await snapshot(hub) == before


async def test_query_over_get_still_works(hub: Hub) -> None:
    response = await hub.http.get(
        "/graphql",
        params={"query": "{ me { id } }"},
        headers={"Authorization": f"Bearer {hub.admin}"},
    )
    assert response.status_code == 200 and response.json()["data"]["me"]["id"]


async def test_unknown_operation_name(hub: Hub) -> None:
    response = await hub.post("query A { me { id } }", token=hub.admin, operation="Nope")
    http_refused(response, 400, 'Unknown operation named "Nope"')


async def test_unknown_operation_name_runs_no_mutation(hub: Hub) -> None:
    before = await snapshot(hub)
    inp = '{channel: HOTLINE, title: "t", description: "d", category: AIR}'
    query = f"mutation A {{ registerCase(input: {inp}) {{ __typename }} }}"
    http_refused(await hub.post(query, token=hub.admin, operation="B"), 400, "Unknown operation")
    assert await snapshot(hub) == before


@pytest.mark.parametrize(
    ("content", "content_type", "reason"),
    [
        (b"{query: me", "application/json", "Unable to parse request body as JSON"),
        (b"\xff\xfe", "application/json", "Unable to parse request body as JSON"),
        (b"query=me", "text/plain", "Unsupported content type"),
        (b'[{"query": "{ me { id } }"}]', "application/json", "Batching is not enabled"),
        (b'{"query": 5}', "application/json", "`query` must be a string"),
        (b'{"query": "{ me { id } }", "variables": "x"}', "application/json", "`variables`"),
    ],
)
async def test_body_that_is_not_a_graphql_request(
    hub: Hub, content: bytes, content_type: str, reason: str
) -> None:
    response = await hub.http.post(
        "/graphql",
        content=content,
        headers={"Authorization": f"Bearer {hub.admin}", "Content-Type": content_type},
    )
    http_refused(response, 400, reason)


@pytest.mark.parametrize("body", [{}, {"query": None}, {"query": ""}, {"variables": {}}])
async def test_missing_query(hub: Hub, body: dict[str, Any]) -> None:
    response = await hub.http.post(
        "/graphql", json=body, headers={"Authorization": f"Bearer {hub.admin}"}
    )
    http_refused(response, 400, "No GraphQL query")


# --- values of the wrong kind -----------------------------------------------------------------


@pytest.mark.parametrize(("field", "value"), [("channel", "FAX"), ("category", "SMELL")])
async def test_unknown_enum_value(hub: Hub, field: str, value: str) -> None:
    before = await snapshot(hub)
    good = {"channel": "HOTLINE", "title": "t", "description": "d", "category": "AIR"}
    errors = refused(await hub.post(REGISTER, {"input": {**good, field: value}}, token=hub.admin))
    assert value in errors[0]["message"]
    literal = ", ".join(f"{k}: {value if k == field else good[k]}" for k in ("channel", "category"))
    query = f'mutation {{ registerCase(input: {{{literal}, title: "t", description: "d"}}) '
    errors = refused(await hub.post(query + "{ __typename } }", token=hub.admin))
    assert value in errors[0]["message"]
    assert await snapshot(hub) == before


@pytest.mark.parametrize("status", ["OPEN", "registered"])
async def test_unknown_enum_value_in_a_filter(hub: Hub, status: str) -> None:
    errors = refused(await hub.post(CASES, {"filter": {"status": [status]}}, token=hub.admin))
    assert status in errors[0]["message"]


async def test_wrong_types(hub: Hub) -> None:
    good = {"channel": "HOTLINE", "title": "t", "description": "d", "category": "AIR"}
    before = await snapshot(hub)
    north = {**good, "latitude": "north", "longitude": 113.4}
    errors = refused(await hub.post(REGISTER, {"input": north}, token=hub.admin))
    assert "latitude" in errors[0]["message"]
    errors = refused(await hub.post(CASES, {"first": "ten"}, token=hub.admin))
    assert "ten" in errors[0]["message"]
    errors = refused(await hub.post("{ cases(first: 2.5) { totalCount } }", token=hub.admin))
    assert "2.5" in errors[0]["message"]
    errors = refused(await hub.post(CASES, {"first": 2**40}, token=hub.admin))
    assert "first" in errors[0]["message"]
    when = {**good, "occurredAt": "yesterday"}
    errors = refused(await hub.post(REGISTER, {"input": when}, token=hub.admin))
    assert "occurredAt" in errors[0]["message"]
    assert await snapshot(hub) == before


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e400"])
async def test_a_float_that_is_not_finite(hub: Hub, number: str) -> None:
    """Python's JSON reader takes NaN and Infinity; GraphQL's Float must not."""
    before = await snapshot(hub)
    inp = '{"channel": "HOTLINE", "title": "t", "description": "d", "category": "AIR", '
    inp += f'"latitude": {number}, "longitude": 113.4}}'
    body = f'{{"query": {json.dumps(REGISTER)}, "variables": {{"input": {inp}}}}}'
    response = await hub.http.post(
        "/graphql",
        content=body.encode(),
        headers={"Authorization": f"Bearer {hub.admin}", "Content-Type": "application/json"},
    )
    errors = refused(response)
    assert "latitude" in errors[0]["message"]
    assert await snapshot(hub) == before


@pytest.mark.parametrize("field", ["title", "description", "channel", "category"])
async def test_null_for_a_non_null_input_field(hub: Hub, field: str) -> None:
    good = {"channel": "HOTLINE", "title": "t", "description": "d", "category": "AIR"}
    before = await snapshot(hub)
    errors = refused(await hub.post(REGISTER, {"input": {**good, field: None}}, token=hub.admin))
    assert field in errors[0]["message"]
    missing = {k: v for k, v in good.items() if k != field}
    errors = refused(await hub.post(REGISTER, {"input": missing}, token=hub.admin))
    assert field in errors[0]["message"]
    assert await snapshot(hub) == before


async def test_null_for_a_non_null_argument(hub: Hub) -> None:
    errors = refused(await hub.post(CASE, {"id": None}, token=hub.admin))
    assert "id" in errors[0]["message"]


# --- validation: UserError VALIDATION naming the field ------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("title", "扬" * 201),
        ("description", "d" * 10_001),
        ("externalId", "e" * 129),
        ("reporterPhone", "1" * 33),
        ("reporterName", "张" * 101),
        ("address", "a" * 501),
        ("title", "   "),
        ("description", ""),
        ("title", "夜间\x00扬尘"),
        ("description", "\x00"),
        ("externalId", "12369-\x00"),
        ("reporterPhone", "138\x0012345678"),
        ("reporterPhone", "abc"),
        ("reporterPhone", "62345678"),
        ("reporterPhone", "13812345678-801"),
        ("address", "来集镇\x00"),
    ],
)
async def test_register_refuses_a_bad_text(hub: Hub, field: str, value: str) -> None:
    good = {"channel": "HOTLINE", "title": "t", "description": "d", "category": "AIR"}
    await attempt(hub, REGISTER, {"input": {**good, field: value}}, "VALIDATION", field)


@pytest.mark.parametrize(
    ("given", "stored"),
    [("+86 138 1234 5678", "13812345678"), ("0371-62345678-801", "037162345678-801")],
)
async def test_register_stores_the_reporters_phone_in_one_form(
    hub: Hub, given: str, stored: str
) -> None:
    case_id = await new_case(hub, reporterPhone=given)
    data = await hub.gql(PHONE_OF, {"id": case_id})
    assert data["case"]["reports"][0]["reporter"]["phone"] == stored


async def test_a_phone_refusal_names_the_field_in_chinese(hub: Hub) -> None:
    good = {"channel": "HOTLINE", "title": "t", "description": "d", "category": "AIR"}
    done = (await hub.gql(REGISTER, {"input": {**good, "reporterPhone": "abc"}}))["registerCase"]
    user_error(done, "VALIDATION", "reporterPhone")
    assert done["message"].startswith("reporterPhone 不是有效的手机或固定电话号码"), done


async def test_texts_at_their_limits_are_taken(hub: Hub) -> None:
    case_id = await new_case(
        hub,
        title="扬" * 200,
        description="d" * 10_000,
        externalId="e" * 128,
        reporterPhone="0086 (0371) 6234-5678 ext. 80123",  # 32 characters, a real number
    )
    assert (await hub.gql(CASE, {"id": case_id}))["case"]["status"] == "REGISTERED"


@pytest.mark.parametrize(
    ("name", "params", "args", "variables", "field"),
    [
        ("recordProgress", ", $note: String!", ", note: $note", {"note": "n" * 4_001}, "note"),
        ("recordProgress", ", $note: String!", ", note: $note", {"note": "a\x00b"}, "note"),
        ("recordProgress", ", $note: String!", ", note: $note", {"note": " "}, "note"),
        ("acceptCase", ", $note: String", ", note: $note", {"note": "n" * 4_001}, "note"),
        ("closeCase", ", $note: String", ", note: $note", {"note": "n" * 4_001}, "note"),
        ("rejectCase", ", $r: String!", ", reason: $r", {"r": "r" * 4_001}, "reason"),
        ("rejectCase", ", $r: String!", ", reason: $r", {"r": ""}, "reason"),
        (
            "submitResult",
            ", $i: SubmitResultInput!",
            ", input: $i",
            {"i": {"result": "r" * 10_001}},
            "result",
        ),
        (
            "submitResult",
            ", $i: SubmitResultInput!",
            ", input: $i",
            {"i": {"result": "ok", "onSiteAt": "2026-11-28T10:00:00"}},
            "onSiteAt",
        ),
    ],
)
async def test_workflow_refuses_a_bad_text(
    hub: Hub,
    case_id: str,
    name: str,
    params: str,
    args: str,
    variables: dict[str, Any],
    field: str,
) -> None:
    query = mutation(name, params, args)
    await attempt(hub, query, {"caseId": case_id, **variables}, "VALIDATION", field)


async def test_dispatch_refuses_an_over_long_note(hub: Hub, case_id: str) -> None:
    inp = {"tenantCode": "laiji", "note": "n" * 4_001}
    await attempt(hub, DISPATCH, {"caseId": case_id, "input": inp}, "VALIDATION", "note")


@pytest.mark.parametrize(
    ("point", "field"),
    [
        ({"latitude": 91, "longitude": 113.4}, "latitude"),
        ({"latitude": -90.5, "longitude": 113.4}, "latitude"),
        ({"latitude": 34.5, "longitude": 181}, "longitude"),
        ({"latitude": 34.5, "longitude": -180.01}, "longitude"),
        ({"latitude": 34.5}, "longitude"),
        ({"longitude": 113.4}, "latitude"),
    ],
)
async def test_register_refuses_a_bad_point(hub: Hub, point: dict[str, float], field: str) -> None:
    good = {"channel": "HOTLINE", "title": "t", "description": "d", "category": "AIR"}
    await attempt(hub, REGISTER, {"input": {**good, **point}}, "VALIDATION", field)


async def test_register_refuses_a_time_without_offset(hub: Hub) -> None:
    good = {"channel": "HOTLINE", "title": "t", "description": "d", "category": "AIR"}
    naive = {**good, "occurredAt": "2026-11-28T09:30:00"}
    await attempt(hub, REGISTER, {"input": naive}, "VALIDATION", "occurredAt")


async def test_dispatch_refuses_a_due_time_without_offset(hub: Hub, case_id: str) -> None:
    naive = (datetime.now(UTC) + timedelta(days=3)).replace(tzinfo=None).isoformat()
    inp = {"tenantCode": "laiji", "dueAt": naive}
    await attempt(hub, DISPATCH, {"caseId": case_id, "input": inp}, "VALIDATION", "dueAt")


async def test_dispatch_refuses_a_due_time_in_the_past(hub: Hub, case_id: str) -> None:
    inp = {"tenantCode": "laiji", "dueAt": later(-1)}
    await attempt(hub, DISPATCH, {"caseId": case_id, "input": inp}, "VALIDATION", "dueAt")
    case = (await hub.gql(CASE, {"id": case_id}))["case"]
    assert case["status"] == "REGISTERED"


FAR_OFF = ["9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00+08:00"]


@pytest.mark.parametrize("when", FAR_OFF)
async def test_register_refuses_a_time_without_utc(hub: Hub, when: str) -> None:
    good = {"channel": "HOTLINE", "title": "t", "description": "d", "category": "AIR"}
    inp = {**good, "occurredAt": when}
    await attempt(hub, REGISTER, {"input": inp}, "VALIDATION", "occurredAt")


@pytest.mark.parametrize("when", FAR_OFF)
async def test_dispatch_and_submit_refuse_a_time_without_utc(
    hub: Hub, case_id: str, when: str
) -> None:
    inp = {"tenantCode": "laiji", "dueAt": when}
    await attempt(hub, DISPATCH, {"caseId": case_id, "input": inp}, "VALIDATION", "dueAt")
    submit = mutation("submitResult", ", $i: SubmitResultInput!", ", input: $i")
    variables = {"caseId": case_id, "i": {"result": "r", "onSiteAt": when}}
    await attempt(hub, submit, variables, "VALIDATION", "onSiteAt")


@pytest.mark.parametrize("field", ["createdAfter", "createdBefore"])
@pytest.mark.parametrize("when", FAR_OFF)
async def test_filter_refuses_a_time_without_utc(hub: Hub, field: str, when: str) -> None:
    errors = refused(await hub.post(CASES, {"filter": {field: when}}, token=hub.admin))
    assert errors[0]["extensions"] == {"code": "VALIDATION", "field": f"filter.{field}"}


async def test_times_at_the_edge_of_the_calendar_are_taken(hub: Hub, case_id: str) -> None:
    inp = {"tenantCode": "laiji", "dueAt": "9999-12-31T00:00:00+00:00"}
    done = (await hub.gql(DISPATCH, {"caseId": case_id, "input": inp}))["dispatchCase"]
    assert done["__typename"] == "CaseResult", done
    flt = {"createdAfter": "0001-01-01T00:00:00+00:00", "createdBefore": FAR_OFF[0][:19] + "Z"}
    cases = (await hub.gql(CASES, {"filter": flt}))["cases"]
    assert [e["node"]["id"] for e in cases["edges"]] == [case_id]


async def test_filter_refuses_a_time_without_offset(hub: Hub) -> None:
    flt = {"createdAfter": "2026-01-01T00:00:00"}
    errors = refused(await hub.post(CASES, {"filter": flt}, token=hub.admin))
    assert errors[0]["extensions"] == {"code": "VALIDATION", "field": "filter.createdAfter"}


async def test_filter_refuses_an_over_long_text(hub: Hub) -> None:
    errors = refused(await hub.post(CASES, {"filter": {"text": "x" * 201}}, token=hub.admin))
    assert errors[0]["extensions"] == {"code": "VALIDATION", "field": "filter.text"}


@pytest.mark.parametrize("text", ["\x00", "扬尘\x00"])
async def test_filter_refuses_a_nul_in_text(hub: Hub, text: str) -> None:
    errors = refused(await hub.post(CASES, {"filter": {"text": text}}, token=hub.admin))
    assert errors[0]["extensions"] == {"code": "VALIDATION", "field": "filter.text"}


@pytest.mark.parametrize("text", ["100%", "_", "\\", "'; drop table cases; --"])
async def test_filter_text_with_like_characters_matches_literally(hub: Hub, text: str) -> None:
    await new_case(hub)
    data = await hub.gql(CASES, {"filter": {"text": text}})
    assert data["cases"]["totalCount"] == 0 and data["cases"]["edges"] == []


async def test_filter_refuses_a_malformed_source_id(hub: Hub) -> None:
    await new_case(hub)
    errors = refused(await hub.post(CASES, {"filter": {"sourceId": "not-a-uuid"}}, token=hub.admin))
    assert errors[0]["extensions"] == {"code": "VALIDATION", "field": "filter.sourceId"}


async def test_filter_by_an_unknown_source_finds_nothing(hub: Hub) -> None:
    await new_case(hub)
    data = await hub.gql(CASES, {"filter": {"sourceId": NOWHERE}})
    assert data["cases"]["totalCount"] == 0


# --- pagination -------------------------------------------------------------------------------


async def test_negative_first(hub: Hub) -> None:
    errors = refused(await hub.post(CASES, {"first": -1}, token=hub.admin))
    assert errors[0]["extensions"] == {"code": "VALIDATION", "field": "first"}
    assert errors[0]["message"] == "条数不能为负数"


async def test_total_count_counts_every_case_the_caller_sees(hub: Hub) -> None:
    for town in ("laiji", "laiji", "chaohua"):
        await new_case(hub, tenantCode=town)
    assert (await hub.gql(CASES))["cases"]["totalCount"] == 3
    operator = hub.token("OPERATOR", ["laiji"])
    assert (await hub.gql(CASES, token=operator))["cases"]["totalCount"] == 2
    flt = {"categories": ["DUST"], "tenantCodes": ["chaohua"]}
    assert (await hub.gql(CASES, {"filter": flt}))["cases"]["totalCount"] == 1


async def test_first_zero_answers_no_edges(hub: Hub) -> None:
    await new_case(hub)
    cases = (await hub.gql(CASES, {"first": 0}))["cases"]
    assert cases["edges"] == [] and cases["totalCount"] == 1
    assert cases["pageInfo"] == {"hasNextPage": True, "endCursor": None}


async def seed_cases(hub: Hub, count: int) -> None:
    """Many cases at once, straight through the service (one transaction)."""
    scope = await hub.scope()
    async with hub.db.session(scope.tenant_ids, write=True) as session:
        for i in range(count):
            inp = inputs.RegisterInput(
                channel=Channel.HOTLINE,
                title=f"扬尘 {i}",
                description="批量",
                category=Category.DUST,
                tenant_code="laiji",
            )
            await intake.register(
                session, scope, inp, tz=ZoneInfo("Asia/Shanghai"), prefix="XM", rules=Rules()
            )
        await session.commit()


async def test_first_is_capped(hub: Hub) -> None:
    await seed_cases(hub, MAX_PAGE + 5)
    cases = (await hub.gql(CASES, {"first": 100_000}))["cases"]
    assert cases["totalCount"] == MAX_PAGE + 5
    assert len(cases["edges"]) == MAX_PAGE
    assert cases["pageInfo"]["hasNextPage"] is True
    assert cases["pageInfo"]["endCursor"] == cases["edges"][-1]["cursor"]
    rest = (await hub.gql(CASES, {"first": 100_000, "after": cases["pageInfo"]["endCursor"]}))[
        "cases"
    ]
    assert len(rest["edges"]) == 5 and rest["pageInfo"]["hasNextPage"] is False
    seen = {e["node"]["id"] for e in cases["edges"] + rest["edges"]}
    assert len(seen) == MAX_PAGE + 5


async def a_cursor(hub: Hub) -> str:
    await new_case(hub)
    await new_case(hub)
    cursor = (await hub.gql(CASES, {"first": 1}))["cases"]["pageInfo"]["endCursor"]
    assert cursor
    return cursor


def flipped(cursor: str, at: int) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    other = alphabet[(alphabet.index(cursor[at]) + 1) % len(alphabet)]
    return cursor[:at] + other + cursor[at + 1 :]


@pytest.mark.parametrize(
    "forge",
    [
        "random",
        "not-base64",
        "empty-json",
        "modified-mac",
        "modified-body",
        "other-key",
        "bad-values",
        "wrong-length",
        "not-a-list",
        "non-ascii",
    ],
)
async def test_forged_cursor(hub: Hub, forge: str) -> None:
    real = await a_cursor(hub)
    case = str(uuid.uuid4())
    forged = {
        "random": base64.urlsafe_b64encode(uuid.uuid4().bytes * 3).decode(),
        "not-base64": "!!!***",
        "empty-json": base64.urlsafe_b64encode(b"\x00" * 12 + b"[]").decode(),
        "modified-mac": flipped(real, 3),
        "modified-body": flipped(real, len(real) // 2),
        "other-key": encode_cursor("other-key", [datetime.now(UTC).isoformat(), case]),
        "bad-values": encode_cursor(SECRET, ["yesterday", "not-a-uuid"]),
        "wrong-length": encode_cursor(SECRET, [datetime.now(UTC).isoformat()]),
        "not-a-list": encode_cursor(SECRET, {"at": 1}),  # type: ignore[arg-type]
        "non-ascii": "游标",
    }[forge]
    errors = refused(await hub.post(CASES, {"first": 5, "after": forged}, token=hub.admin))
    assert errors[0]["extensions"] == {"code": "VALIDATION", "field": "after"}
    assert errors[0]["path"] == ["cases"] and "游标无效" in errors[0]["message"]


async def test_empty_after_means_from_the_start(hub: Hub) -> None:
    await new_case(hub)
    cases = (await hub.gql(CASES, {"first": 5, "after": ""}))["cases"]
    assert len(cases["edges"]) == 1


async def test_stale_cursor_of_a_merged_case_still_works(hub: Hub) -> None:
    oldest = await new_case(hub, title="最早")
    middle = await new_case(hub, title="中间")
    newest = await new_case(hub, title="最新")
    page = (await hub.gql(CASES, {"first": 2}))["cases"]
    assert [e["node"]["id"] for e in page["edges"]] == [newest, middle]
    cursor = page["pageInfo"]["endCursor"]
    merge = mutation("mergeCase", ", $into: ID!", ", intoCaseId: $into")
    merged = (await hub.gql(merge, {"caseId": middle, "into": oldest}))["mergeCase"]
    assert merged["__typename"] == "CaseResult", merged
    rest = (await hub.gql(CASES, {"first": 2, "after": cursor}))["cases"]
    assert [e["node"]["id"] for e in rest["edges"]] == [oldest]
    assert rest["pageInfo"]["hasNextPage"] is False


# --- ids that name nothing --------------------------------------------------------------------


@pytest.mark.parametrize("case_ref", ["not-a-uuid", NOWHERE, str(uuid.uuid4()), "", "\x00"])
async def test_unknown_case_is_null(hub: Hub, case_ref: str) -> None:
    response = await hub.post(CASE, {"id": case_ref}, token=hub.admin)
    assert response.status_code == 200 and response.json() == {"data": {"case": None}}


@pytest.mark.parametrize("case_ref", ["not-a-uuid", NOWHERE])
@pytest.mark.parametrize(
    ("name", "params", "args", "extra"),
    [
        ("acceptCase", "", "", {}),
        ("recordProgress", ", $note: String!", ", note: $note", {"note": "n"}),
        ("submitResult", ", $i: SubmitResultInput!", ", input: $i", {"i": {"result": "r"}}),
        ("reviewCase", ", $i: ReviewInput!", ", input: $i", {"i": {"decision": "APPROVE"}}),
        (
            "recordFeedback",
            ", $i: FeedbackInput!",
            ", input: $i",
            {"i": {"satisfaction": "SATISFIED"}},
        ),
        ("closeCase", "", "", {}),
        ("reopenCase", ", $r: String!", ", reason: $r", {"r": "r"}),
        ("rejectCase", ", $r: String!", ", reason: $r", {"r": "r"}),
        ("dispatchCase", ", $i: DispatchInput!", ", input: $i", {"i": {"tenantCode": "laiji"}}),
        ("mergeCase", ", $into: ID!", ", intoCaseId: $into", {"into": "CASE"}),
    ],
)
async def test_mutation_on_an_unknown_case(
    hub: Hub,
    case_id: str,
    case_ref: str,
    name: str,
    params: str,
    args: str,
    extra: dict[str, Any],
) -> None:
    extra = {k: case_id if v == "CASE" else v for k, v in extra.items()}
    query = mutation(name, params, args)
    await attempt(hub, query, {"caseId": case_ref, **extra}, "NOT_FOUND", "caseId")


@pytest.mark.parametrize("into", ["not-a-uuid", NOWHERE])
async def test_merge_into_an_unknown_case(hub: Hub, case_id: str, into: str) -> None:
    query = mutation("mergeCase", ", $into: ID!", ", intoCaseId: $into")
    await attempt(hub, query, {"caseId": case_id, "into": into}, "NOT_FOUND", "intoCaseId")


async def test_merge_into_itself(hub: Hub, case_id: str) -> None:
    query = mutation("mergeCase", ", $into: ID!", ", intoCaseId: $into")
    await attempt(hub, query, {"caseId": case_id, "into": case_id}, "VALIDATION", "intoCaseId")
    case = (await hub.gql(CASE, {"id": case_id}))["case"]
    assert case["status"] == "REGISTERED" and len(case["timeline"]) == 1


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("gridCellId", NOWHERE, "NOT_FOUND"),
        ("gridCellId", "not-a-uuid", "VALIDATION"),
        ("assigneeId", NOWHERE, "NOT_FOUND"),
        ("assigneeId", "not-a-uuid", "VALIDATION"),
    ],
)
async def test_dispatch_to_an_unknown_cell_or_member(
    hub: Hub, case_id: str, field: str, value: str, code: str
) -> None:
    inp = {"tenantCode": "laiji", field: value}
    await attempt(hub, DISPATCH, {"caseId": case_id, "input": inp}, code, field)


async def test_dispatch_to_another_towns_cell_or_member(hub: Hub, case_id: str) -> None:
    elsewhere = next(c for c in await cells(hub, "chaohua") if c["members"])
    for field, value in (
        ("gridCellId", elsewhere["id"]),
        ("assigneeId", elsewhere["members"][0]["id"]),
    ):
        inp = {"tenantCode": "laiji", field: value}
        await attempt(hub, DISPATCH, {"caseId": case_id, "input": inp}, "NOT_FOUND", field)


@pytest.mark.parametrize("town", ["atlantis", "", "LAIJI"])
async def test_dispatch_to_an_unknown_town(hub: Hub, case_id: str, town: str) -> None:
    inp = {"tenantCode": town}
    await attempt(hub, DISPATCH, {"caseId": case_id, "input": inp}, "NOT_FOUND", "tenantCode")


@pytest.mark.parametrize(
    ("fields", "code", "field"),
    [
        ({"tenantCode": "atlantis"}, "VALIDATION", "tenantCode"),
        ({"sourceId": NOWHERE}, "NOT_FOUND", "sourceId"),
        ({"sourceId": "not-a-uuid"}, "VALIDATION", "sourceId"),
    ],
)
async def test_register_with_unknown_references(
    hub: Hub, fields: dict[str, str], code: str, field: str
) -> None:
    good = {"channel": "HOTLINE", "title": "t", "description": "d", "category": "AIR"}
    await attempt(hub, REGISTER, {"input": {**good, **fields}}, code, field)


async def test_register_into_a_town_the_caller_does_not_see(hub: Hub) -> None:
    good = {"channel": "GRID", "title": "t", "description": "d", "category": "AIR"}
    token = hub.token("OPERATOR", ["laiji"])
    before = await snapshot(hub)
    data = await hub.gql(REGISTER, {"input": {**good, "tenantCode": "chaohua"}}, token=token)
    user_error(data["registerCase"], "VALIDATION", "tenantCode")
    assert await snapshot(hub) == before


async def test_a_role_without_the_permission_gets_forbidden(hub: Hub, case_id: str) -> None:
    good = {"channel": "HOTLINE", "title": "t", "description": "d", "category": "AIR"}
    before = await snapshot(hub)
    viewer = hub.token("VIEWER")
    data = await hub.gql(REGISTER, {"input": good}, token=viewer)
    user_error(data["registerCase"], "FORBIDDEN", None)
    data = await hub.gql(mutation("closeCase"), {"caseId": case_id}, token=viewer)
    assert data["closeCase"]["__typename"] == "UserError"
    assert data["closeCase"]["code"] in ("FORBIDDEN", "INVALID_TRANSITION")
    assert await snapshot(hub) == before


@pytest.mark.parametrize("subject", ["not-an-id", "a" * 10_000, "\x00"])
async def test_audit_trail_of_an_unknown_subject_is_empty(hub: Hub, subject: str) -> None:
    query = "query($s: ID!) { auditTrail(subjectId: $s) { seq } }"
    response = await hub.post(query, {"s": subject}, token=hub.admin)
    assert response.json() == {"data": {"auditTrail": []}}


# --- authentication ---------------------------------------------------------------------------


def claims(**overrides: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "sub": "someone",
        "roles": ["ADMIN"],
        "tenants": [],
        "iat": now,
        "exp": now + timedelta(hours=1),
        **overrides,
    }


def signed(key: str = SECRET, **overrides: Any) -> str:
    return jwt.encode(claims(**overrides), key, algorithm="HS256")


BAD_HEADERS = {
    "missing": None,
    "empty": "",
    "garbage": "Bearer garbage",
    "bearer only": "Bearer ",
    "basic": "Basic dXNlcjpwYXNz",
    "unknown api token": "Bearer sw_" + "x" * 43,
    "other key": "Bearer " + signed("another-secret-key-of-enough-length"),
    "expired": "Bearer " + signed(exp=datetime.now(UTC) - timedelta(minutes=5)),
    "no roles": "Bearer " + signed(roles=[]),
    "unknown role": "Bearer " + signed(roles=["EMPEROR"]),
    "no sub": "Bearer " + jwt.encode({"roles": ["ADMIN"]}, SECRET, algorithm="HS256"),
    "alg none": "Bearer " + jwt.encode(claims(), None, algorithm="none"),
    "two dots": "Bearer a.b.c",
}


@pytest.mark.parametrize("header", list(BAD_HEADERS))
async def test_a_bad_token_gets_401_and_no_data(hub: Hub, header: str) -> None:
    value = BAD_HEADERS[header]
    headers = {} if value is None else {"Authorization": value}
    body = {"query": "{ me { id } }"}
    unauthorized(await hub.http.post("/graphql", json=body, headers=headers))
    get = await hub.http.get("/graphql", params=body, headers=headers)
    unauthorized(get)


async def test_a_bad_token_writes_nothing(hub: Hub) -> None:
    before = await snapshot(hub)
    good = {"channel": "HOTLINE", "title": "t", "description": "d", "category": "AIR"}
    unauthorized(await hub.post(REGISTER, {"input": good}, token="garbage"))
    assert await snapshot(hub) == before


async def test_a_revoked_api_token_gets_401(hub: Hub) -> None:
    row, token = await auth.create_token(hub.db, "接口测试", ["admin"], [])
    me = (await hub.gql("{ me { id name } }", token=token))["me"]
    assert me == {"id": str(row.id), "name": "接口测试"}
    assert await auth.revoke_token(hub.db, row.id) is True
    unauthorized(await hub.post("{ me { id } }", token=token))
    assert await auth.revoke_token(hub.db, row.id) is False
    assert await auth.revoke_token(hub.db, uuid.uuid4()) is False


# --- limits -----------------------------------------------------------------------------------


async def test_a_query_deeper_than_the_limit(hub: Hub) -> None:
    inner = "id"
    for _ in range(hub.settings.graphql_max_depth):
        inner = f"links {{ case {{ {inner} }} }}"
    query = f"{{ cases {{ edges {{ node {{ {inner} }} }} }} }}"
    errors = refused(await hub.post(query, token=hub.admin))
    assert any("嵌套深度超过 12 层" in e["message"] for e in errors), errors


async def test_a_deep_query_through_fragments(hub: Hub) -> None:
    """No type of the schema nests itself, so depth can only be faked; fragments count too."""
    depth = hub.settings.graphql_max_depth + 1
    fragments = " ".join(
        f"fragment F{i} on Case {{ links {{ case {{ ...F{i + 1} }} }} }}" for i in range(depth)
    )
    fragments += f" fragment F{depth} on Case {{ id }}"
    query = f"{{ cases {{ edges {{ node {{ ...F0 }} }} }} }} {fragments}"
    errors = refused(await hub.post(query, token=hub.admin))
    assert any(e["extensions"].get("limit") == "depth" for e in errors), errors


async def test_the_deepest_real_query_runs(hub: Hub) -> None:
    query = "{ cases { edges { node { links { case { id } } reports { reporter { name } } } } } }"
    assert (await hub.gql(query))["cases"]["edges"] == []


async def test_more_aliases_than_the_limit(hub: Hub) -> None:
    count = hub.settings.graphql_max_aliases + 1
    query = "{ " + " ".join(f"a{i}: me {{ id }}" for i in range(count)) + " }"
    errors = refused(await hub.post(query, token=hub.admin))
    assert errors[0]["extensions"]["limit"] == "aliases"


async def test_a_mutation_with_more_aliases_than_the_limit_writes_nothing(hub: Hub) -> None:
    before = await snapshot(hub)
    inp = '{channel: HOTLINE, title: "t", description: "d", category: AIR}'
    count = hub.settings.graphql_max_aliases + 1
    query = (
        "mutation { "
        + " ".join(f"r{i}: registerCase(input: {inp}) {{ __typename }}" for i in range(count))
        + " }"
    )
    refused(await hub.post(query, token=hub.admin))
    assert await snapshot(hub) == before


async def test_a_query_over_the_token_limit(hub: Hub) -> None:
    query = "{ " + "__typename " * hub.settings.graphql_max_tokens + "}"
    errors = refused(await hub.post(query, token=hub.admin))
    assert "token" in errors[0]["message"].lower()


# --- no partial write on a refused workflow step ------------------------------------------------


async def test_a_refused_transition_changes_nothing(hub: Hub, case_id: str) -> None:
    before_case = (await hub.gql(CASE, {"id": case_id}))["case"]
    assert before_case["status"] == "REGISTERED"
    for name in ("closeCase", "acceptCase"):
        await attempt(hub, mutation(name), {"caseId": case_id}, "INVALID_TRANSITION", None)
    submit = mutation("submitResult", ", $i: SubmitResultInput!", ", input: $i")
    await attempt(
        hub, submit, {"caseId": case_id, "i": {"result": "r"}}, "INVALID_TRANSITION", None
    )
    assert (await hub.gql(CASE, {"id": case_id}))["case"] == before_case


async def test_a_refused_dispatch_does_not_move_the_case(hub: Hub) -> None:
    laiji = next(c for c in world.CELLS if c.tenant == "laiji" and c.level == 3)
    lons, lats = zip(*laiji.ring[:-1], strict=True)
    case_id = await new_case(hub, latitude=sum(lats) / len(lats), longitude=sum(lons) / len(lons))
    before_case = (await hub.gql(CASE, {"id": case_id}))["case"]
    inp = {"tenantCode": "chaohua", "assigneeId": NOWHERE}
    await attempt(hub, DISPATCH, {"caseId": case_id, "input": inp}, "NOT_FOUND", "assigneeId")
    query = "query($id: ID!) { case(id: $id) { tenant { code } } }"
    assert (await hub.gql(query, {"id": case_id}))["case"]["tenant"]["code"] == "laiji"
    assert (await hub.gql(CASE, {"id": case_id}))["case"] == before_case
