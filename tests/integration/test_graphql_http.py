"""GraphQL over HTTP against the live ASGI app: what one request may weigh, how refusals look,
and what reaches the logs."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import jwt
import pytest

from hub.app import create_app
from hub.runtime import Runtime
from hub.tenancy.schema import Tenant
from tests.conftest import REGISTER, SECRET, Hub
from tests.live import graphql_socket, live_server

DISPATCH = """
mutation Dispatch($caseId: ID!, $input: DispatchInput!) {
  dispatchCase(caseId: $caseId, input: $input) { __typename }
}"""


def fan_out(levels: int) -> str:
    """`{ ...F0 } fragment F0 { ...F1 ...F1 } ...`: 2^levels spreads in about 40 bytes a level."""
    fragments = " ".join(
        f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}" for i in range(levels)
    )
    return f"query {{ ...F0 }} {fragments} fragment F{levels} on Query {{ me {{ id }} }}"


def limit_error(response: httpx.Response, limit: str) -> str:
    assert response.status_code in (200, 400), response.text
    payload = response.json()
    assert payload.get("data") is None, payload
    [error] = [e for e in payload["errors"] if e["extensions"].get("limit") == limit]
    assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX", payload
    return error["message"]


async def test_a_fragment_fan_out_is_refused_in_milliseconds(hub: Hub) -> None:
    # An algorithm test, not a benchmark, and no timing assert (machine noise): walking every
    # spread took 6.6 s at 20 levels and doubles with each level, so at 40 levels a walk that
    # came back would hang this test for days.
    for levels in (20, 40):
        response = await hub.post(fan_out(levels), token=hub.admin)
        assert "片段" in limit_error(response, "spreads")


async def test_a_small_fan_out_runs(hub: Hub) -> None:
    data = await hub.gql(fan_out(3))
    assert data["me"]["id"]


async def test_too_many_written_fragments_are_refused_before_they_are_weighed(hub: Hub) -> None:
    count = hub.settings.graphql_max_fragment_spreads + 1
    query = "{ " + "... on Query { __typename } " * count + "}"
    assert "片段" in limit_error(await hub.post(query, token=hub.admin), "spreads")


async def test_depth_and_aliases_count_each_fragment_once_but_as_often_as_spread(
    hub: Hub,
) -> None:
    aliases = hub.settings.graphql_max_aliases // 2 + 1
    fragment = "fragment A on Query { " + " ".join(f"a{i}: me {{ id }}" for i in range(aliases))
    query = "{ ...A x: __typename } " + fragment + " }"
    assert (await hub.gql(query))["x"] == "Query"
    twice = "{ ...A ... on Query { ...A } } " + fragment + " }"
    assert "别名" in limit_error(await hub.post(twice, token=hub.admin), "aliases")


async def test_introspection_does_not_count_towards_depth(hub: Hub) -> None:
    type_ref = "kind name"
    for _ in range(hub.settings.graphql_max_depth + 2):
        type_ref = f"kind name ofType {{ {type_ref} }}"
    query = f"{{ __schema {{ types {{ fields {{ type {{ {type_ref} }} }} }} }} }}"
    assert (await hub.gql(query))["__schema"]["types"]


# --- sizes ------------------------------------------------------------------------------------

CASES = "query Cases($filter: CaseFilter) { cases(filter: $filter) { totalCount } }"


async def test_a_body_over_the_limit_answers_413(hub: Hub) -> None:
    limit = hub.settings.graphql_max_body_bytes
    body = b'{"query": "{ me { id } }", "pad": "' + b"x" * limit + b'"}'
    response = await hub.http.post(
        "/graphql",
        content=body,
        headers={"Authorization": f"Bearer {hub.admin}", "Content-Type": "application/json"},
    )
    assert response.status_code == 413, response.text
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "PAYLOAD_TOO_LARGE" and str(limit) in error["message"]


async def test_a_body_without_length_is_read_only_up_to_the_limit(hub: Hub) -> None:
    """Content-Length is not trusted: a chunked body is abandoned once it passes the limit."""
    chunk, sent = b" " * 65536, 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal sent
        yield b'{"query": "{ me { id } }"'
        for _ in range(1600):  # 100 MB if it were all read
            sent += 1
            yield chunk

    response = await hub.http.post(
        "/graphql",
        content=endless(),
        headers={"Authorization": f"Bearer {hub.admin}", "Content-Type": "application/json"},
    )
    assert response.status_code == 413, response.text
    assert sent * len(chunk) < 2 * hub.settings.graphql_max_body_bytes


async def test_a_body_under_the_limit_runs(hub: Hub) -> None:
    pad = " " * (hub.settings.graphql_max_body_bytes - 100)
    response = await hub.post("{ me { id }" + pad + "}", token=hub.admin)
    assert response.status_code == 200 and response.json()["data"]["me"]["id"]


async def test_a_million_tenant_codes_are_refused_by_the_body_limit(hub: Hub) -> None:
    codes = ["laiji"] * 1_000_000  # took 5.5 s and 370 MB before it failed
    response = await hub.post(CASES, {"filter": {"tenantCodes": codes}}, token=hub.admin)
    assert response.status_code == 413, response.text


async def test_a_list_variable_over_the_limit_is_refused_naming_it(hub: Hub) -> None:
    codes = ["laiji"] * (hub.settings.graphql_max_list_items + 1)
    response = await hub.post(CASES, {"filter": {"tenantCodes": codes}}, token=hub.admin)
    [error] = response.json()["errors"]
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "filter.tenantCodes"}
    assert "filter.tenantCodes" in error["message"] and "1000" in error["message"]
    assert response.json().get("data") is None


async def test_a_list_literal_over_the_limit_is_refused_naming_it(hub: Hub) -> None:
    items = ", ".join(["AIR"] * (hub.settings.graphql_max_list_items + 1))
    query = f"{{ cases(filter: {{categories: [{items}]}}) {{ totalCount }} }}"
    response = await hub.post(query, token=hub.admin)
    errors = response.json()["errors"]
    assert errors[0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "filter.categories"}


async def test_a_list_at_the_limit_runs(hub: Hub) -> None:
    codes = ["laiji"] * hub.settings.graphql_max_list_items
    data = await hub.gql(CASES, {"filter": {"tenantCodes": codes}})
    assert data["cases"]["totalCount"] >= 0


# --- no 500 for bad input: a clear error naming what is wrong ------------------------------------

LONE = "\ud800"  # half of a UTF-16 pair: no database or encoder can write it


def bad_variable(response: httpx.Response, field: str) -> None:
    assert response.status_code in (200, 400), response.text
    payload = response.json()
    assert payload.get("data") is None, payload
    [error] = payload["errors"]
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": field}, payload
    assert field in error["message"]


async def post_raw(hub: Hub, body: bytes) -> httpx.Response:
    headers = {"Authorization": f"Bearer {hub.admin}", "Content-Type": "application/json"}
    return await hub.http.post("/graphql", content=body, headers=headers)


async def post_escaped(hub: Hub, query: str, variables: dict[str, Any]) -> httpx.Response:
    """As a browser sends a lone surrogate: escaped in the JSON ("\\ud800")."""
    return await post_raw(hub, json.dumps({"query": query, "variables": variables}).encode())


async def test_a_body_that_is_not_utf8_is_a_400(hub: Hub) -> None:
    response = await post_raw(hub, b'{"query": "{ me { id } }", "x": "\xff\xfe"}')
    assert response.status_code == 400 and "UTF-8" in response.text


async def test_json_nested_5000_levels_is_a_400(hub: Hub) -> None:
    body = b'{"query": "{ me { id } }", "variables": {"v": ' + b"[" * 5000 + b"]" * 5000 + b"}}"
    response = await post_raw(hub, body)
    assert response.status_code == 400 and "嵌套" in response.text


async def test_a_lone_surrogate_in_register_case_is_refused_naming_the_field(hub: Hub) -> None:
    data = {"channel": "HOTLINE", "title": f"夜间{LONE}", "description": "d", "category": "DUST"}
    bad_variable(await post_escaped(hub, REGISTER, {"input": data}), "input.title")


async def test_a_lone_surrogate_in_dispatch_is_refused_naming_the_field(hub: Hub) -> None:
    variables = {"caseId": str(uuid.uuid4()), "input": {"tenantCode": "laiji", "note": LONE}}
    bad_variable(await post_escaped(hub, DISPATCH, variables), "input.note")


async def test_a_lone_surrogate_in_the_text_filter_is_refused_naming_it(hub: Hub) -> None:
    bad_variable(await post_escaped(hub, CASES, {"filter": {"text": LONE}}), "filter.text")


async def test_a_lone_surrogate_in_audit_trail_is_refused_naming_it(hub: Hub) -> None:
    query = "query Trail($id: ID!) { auditTrail(subjectId: $id) { action } }"
    bad_variable(await post_escaped(hub, query, {"id": LONE}), "id")


async def test_a_lone_surrogate_in_the_operation_name_is_a_400(hub: Hub) -> None:
    body = json.dumps({"query": "query A { me { id } }", "operationName": LONE}).encode()
    response = await post_raw(hub, body)
    assert response.status_code == 400 and "operationName" in response.text


@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-01"])
async def test_air_quality_at_the_edge_of_the_calendar_names_the_date(hub: Hub, day: str) -> None:
    query = "query Q($id: ID!, $day: Date!) { airQuality(pointId: $id, date: $day) { aqi } }"
    response = await hub.post(query, {"id": str(uuid.uuid4()), "day": day}, token=hub.admin)
    assert response.status_code == 200, response.text
    [error] = response.json()["errors"]
    assert error["extensions"] == {"code": "VALIDATION", "field": "date"}, error
    assert error["message"] != "Unexpected error."


@pytest.mark.parametrize(
    "claims",
    [
        {"roles": [1]},
        {"roles": "ADMIN"},
        {"roles": [None]},
        {"roles": ["ADMIN"], "tenants": [1]},
        {"roles": ["ADMIN"], "tenants": "laiji"},
        {"roles": ["ADMIN"], "name": {"x": 1}},
        {"roles": ["ADMIN"], "sub": 7},
    ],
)
async def test_a_signed_jwt_with_claims_of_the_wrong_type_is_a_401(
    hub: Hub, claims: dict[str, Any]
) -> None:
    token = jwt.encode({"sub": "x", **claims}, SECRET, algorithm="HS256")
    response = await hub.post("{ me { id } }", token=token)
    assert response.status_code == 401, response.text
    assert "令牌无效" in response.json()["errors"][0]["message"]


# --- application/graphql-response+json ----------------------------------------------------------

MODERN = "application/graphql-response+json, application/json;q=0.9"


async def post_accepting(hub: Hub, accept: str, query: str, **variables: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {hub.admin}", "Accept": accept}
    headers["Content-Type"] = "application/json"
    body = json.dumps({"query": query, "variables": variables})  # ASCII: lone surrogates escaped
    return await hub.http.post("/graphql", content=body, headers=headers)


async def test_a_client_accepting_graphql_response_json_gets_it(hub: Hub) -> None:
    response = await post_accepting(hub, MODERN, "{ me { id } }")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/graphql-response+json")
    assert response.json()["data"]["me"]["id"]


@pytest.mark.parametrize(
    ("query", "variables"),
    [
        ("{ me { id ", {}),  # parse
        ("{ nope }", {}),  # validation
        (CASES, {"filter": {"status": ["NOPE"]}}),  # variable coercion
        (CASES, {"filter": {"text": LONE}}),  # the hub's own variable checks
    ],
)
async def test_request_errors_are_400_without_data(
    hub: Hub, query: str, variables: dict[str, Any]
) -> None:
    modern = await post_accepting(hub, MODERN, query, **variables)
    assert modern.status_code == 400, modern.text
    assert "data" not in modern.json() and modern.json()["errors"]
    legacy = await post_accepting(hub, "application/json", query, **variables)
    assert legacy.status_code == 200 and "data" not in legacy.json(), legacy.text
    assert legacy.headers["content-type"].startswith("application/json")


async def test_a_field_error_keeps_200_and_data(hub: Hub) -> None:
    query = '{ auditTrail(subjectId: "x") { seq } }'
    headers = {"Authorization": f"Bearer {hub.token('MEMBER', ['laiji'])}", "Accept": MODERN}
    response = await hub.http.post("/graphql", json={"query": query}, headers=headers)
    assert response.status_code == 200, response.text
    payload = response.json()
    assert payload["data"] is None and payload["errors"][0]["path"] == ["auditTrail"]


# --- CORS -------------------------------------------------------------------------------------

FRONTEND = "https://front.example.cn"


@pytest.fixture
async def cors_hub(hub: Hub) -> AsyncIterator[httpx.AsyncClient]:
    """The app with SANWANG_ALLOWED_ORIGINS naming one frontend."""
    settings = hub.settings.model_copy(update={"allowed_origins": [FRONTEND]})
    transport = httpx.ASGITransport(app=create_app(Runtime.start(settings, hub.db)))
    async with httpx.AsyncClient(transport=transport, base_url="http://hub.test") as http:
        yield http


async def test_a_preflight_from_an_allowed_origin_is_answered(
    cors_hub: httpx.AsyncClient,
) -> None:
    headers = {
        "Origin": FRONTEND,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type",
    }
    response = await cors_hub.options("/graphql", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["access-control-allow-origin"] == FRONTEND
    assert "POST" in response.headers["access-control-allow-methods"]
    allowed = response.headers["access-control-allow-headers"].lower()
    assert "authorization" in allowed and "content-type" in allowed


async def test_a_post_from_an_allowed_origin_can_be_read(
    hub: Hub, cors_hub: httpx.AsyncClient
) -> None:
    headers = {"Origin": FRONTEND, "Authorization": f"Bearer {hub.admin}"}
    response = await cors_hub.post("/graphql", json={"query": "{ me { id } }"}, headers=headers)
    assert response.status_code == 200 and response.json()["data"]["me"]["id"]
    assert response.headers["access-control-allow-origin"] == FRONTEND


async def test_another_origin_gets_no_cors_headers(hub: Hub, cors_hub: httpx.AsyncClient) -> None:
    other = "https://evil.example"
    preflight = await cors_hub.options(
        "/graphql", headers={"Origin": other, "Access-Control-Request-Method": "POST"}
    )
    assert preflight.status_code == 400
    assert "access-control-allow-origin" not in preflight.headers
    headers = {"Origin": other, "Authorization": f"Bearer {hub.admin}"}
    response = await cors_hub.post("/graphql", json={"query": "{ me { id } }"}, headers=headers)
    assert "access-control-allow-origin" not in response.headers


# --- logs -------------------------------------------------------------------------------------

PHONE = "13700000002"


def logged(caplog: pytest.LogCaptureFixture) -> str:
    return "\n".join(f"{r.levelname} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records)


@pytest.mark.parametrize(
    ("query", "variables"),
    [
        # a wrong enum value beside a number typed into the document
        (
            f'mutation {{ registerCase(input: {{channel: NOPE, title: "t", description: "d",'
            f' category: DUST, reporterPhone: "{PHONE}"}}) {{ __typename }} }}',
            {},
        ),
        # a bad fragment
        (f'{{ cases(filter: {{text: "{PHONE}"}}) {{ ...Nope }} }}', {}),
        # the number in a variable's invalid value
        (CASES, {"filter": {"text": PHONE, "status": PHONE}}),
        (CASES, {"filter": {"text": PHONE, "tenantCodes": [{"x": PHONE}]}}),
    ],
)
async def test_a_client_mistake_is_logged_below_error_without_the_document(
    hub: Hub, caplog: pytest.LogCaptureFixture, query: str, variables: dict[str, Any]
) -> None:
    caplog.set_level(logging.DEBUG)
    response = await hub.post(query, variables, token=hub.admin)
    assert response.json()["errors"], response.text
    assert PHONE not in logged(caplog)
    assert caplog.records, "the refusal is logged"
    assert all(r.levelno < logging.ERROR for r in caplog.records), logged(caplog)
    assert all(r.exc_info is None for r in caplog.records), "no traceback for a client mistake"


async def test_the_hubs_own_failure_is_logged_at_error_with_its_traceback(
    hub: Hub, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any) -> Any:
        raise RuntimeError("the hub broke")

    monkeypatch.setattr(Tenant, "of", broken)
    caplog.set_level(logging.INFO)
    query = (
        f'query Broken {{ tenants {{ code }} cases(filter: {{text: "{PHONE}"}}) {{ totalCount }} }}'
    )
    response = await hub.post(query, token=hub.admin)
    assert response.json()["errors"][0]["message"] == "Unexpected error."
    [record] = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert "Broken" in record.getMessage() and "the hub broke" in (record.exc_text or "")
    assert PHONE not in logged(caplog)


async def test_a_subscription_with_a_list_over_the_limit_is_refused_naming_it(hub: Hub) -> None:
    """The variables are checked at validation, so sockets are held to the same limit."""
    codes = ["laiji"] * (hub.settings.graphql_max_list_items + 1)
    query = "subscription S($t: [String!]) { caseEvents(tenantCodes: $t) { kind } }"
    async with live_server(hub.app) as url, graphql_socket(url, hub.token("DISPATCHER")) as ws:
        await ws.send(
            {"id": "1", "type": "subscribe", "payload": {"query": query, "variables": {"t": codes}}}
        )
        message = await ws.receive(10)
    assert message["type"] == "error", message
    assert message["payload"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "t"}
