"""Town A cannot reach town B: not by reading, listing, counting, changing, dispatching, merging,
auditing or subscribing. B's rows do not exist for A: every answer about them is the answer
about a random unknown id. Runs on SQLite (the ORM lock) and PostgreSQL (ORM + RLS)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import select

from graphql import (
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLUnionType,
    Undefined,
    get_named_type,
    is_leaf_type,
    is_non_null_type,
)
from hub.schema import build_schema
from hub.sources.model import Source
from tests.conftest import Hub
from tests.live import graphql_socket, live_server
from tests.operations import op

A, B = "laiji", "chaohua"
UNKNOWN_TOWN = "nowhere"
# Each principal sees only town A; ADMIN there holds every permission, so only tenancy stops it.
ROLES = ["OPERATOR", "DISPATCHER", "ADMIN"]

REOPEN = """
mutation ReopenCase($caseId: ID!, $reason: String!) {
  reopenCase(caseId: $caseId, reason: $reason) {
    __typename
    ... on CaseResult { case { id status } }
    ... on UserError { code message field }
  }
}"""


# --- the world: mirrored cases in A and B -------------------------------------------------------


@dataclass
class World:
    a_cases: dict[str, dict[str, Any]]  # state -> the registered case (as ADMIN saw it)
    b_cases: dict[str, dict[str, Any]]
    b_cell: str
    b_member: str
    b_source: str
    b_ids: set[str] = field(default_factory=set)  # every id of B's rows we know of

    @property
    def b_secrets(self) -> set[str]:
        return self.b_ids | {c["number"] for c in self.b_cases.values()}


async def gql(hub: Hub, name: str, token: str | None = None, **variables: Any) -> dict[str, Any]:
    return await hub.gql(op(name), variables, token=token, operation=name)


async def answer(hub: Hub, query: str, token: str, **variables: Any) -> tuple[int, Any]:
    """Everything a client learns from a request: the status and the whole body."""
    response = await hub.post(query, variables, token=token)
    return response.status_code, response.json()


async def village(hub: Hub, town: str) -> dict[str, Any]:
    cells = (await gql(hub, "GridCells", tenantCode=town))["gridCells"]
    return next(c for c in cells if c["level"] == 3 and c["members"])


async def build_world(hub: Hub) -> World:
    """Per town: a REGISTERED, a DISPATCHED and a HANDLING case, same titles, own external ids.
    Then the city merges an A case into B's registered one (a link that crosses towns)."""
    cases: dict[str, dict[str, dict[str, Any]]] = {}
    cells: dict[str, dict[str, Any]] = {}
    for town in (A, B):
        cells[town] = cell = await village(hub, town)
        made: dict[str, dict[str, Any]] = {}
        states = ("registered", "dispatched", "handling") + (("merged",) if town == A else ())
        for state in states:
            data = {
                "channel": "HOTLINE",
                "title": "夜间扬尘",
                "description": "厂区夜间扬尘",
                "category": "DUST",
                "tenantCode": town,
                "externalId": f"iso-{town}-{state}",
                "reporterName": "张三",
                # One caller a case: a repeat caller's report would join their open case.
                "reporterPhone": f"1381234567{states.index(state)}",
            }
            made[state] = (await gql(hub, "RegisterCase", input=data))["registerCase"]["case"]
        for state in ("dispatched", "handling"):
            dispatch = {"tenantCode": town, "gridCellId": cell["id"]}
            dispatch["assigneeId"] = cell["members"][0]["id"]
            done = await gql(hub, "DispatchCase", caseId=made[state]["id"], input=dispatch)
            assert done["dispatchCase"]["__typename"] == "CaseResult", done
        accepted = await gql(hub, "AcceptCase", caseId=made["handling"]["id"])
        assert accepted["acceptCase"]["case"]["status"] == "HANDLING"
        cases[town] = made
    merged = await gql(
        hub, "MergeCase", caseId=cases[A]["merged"]["id"], intoCaseId=cases[B]["registered"]["id"]
    )
    assert merged["mergeCase"]["__typename"] == "CaseResult", merged

    scope = await hub.scope()
    b_tenant = scope.directory.by_code[B].id
    async with hub.db.session(scope.tenant_ids) as session:
        b_sources = [
            str(s)
            for s in await session.scalars(select(Source.id).where(Source.tenant_id == b_tenant))
        ]
    b_cells = (await gql(hub, "GridCells", tenantCode=B))["gridCells"]
    b_ids = {c["id"] for c in cases[B].values()} | set(b_sources)
    b_ids |= {c["id"] for c in b_cells} | {m["id"] for c in b_cells for m in c["members"]}
    for case in cases[B].values():
        detail = (await gql(hub, "CaseDetail", id=case["id"]))["case"]
        b_ids |= {r["id"] for r in detail["reports"]}
    return World(
        a_cases=cases[A],
        b_cases=cases[B],
        b_cell=cells[B]["id"],
        b_member=cells[B]["members"][0]["id"],
        b_source=b_sources[0],
        b_ids=b_ids,
    )


@pytest.fixture
async def world(hub: Hub) -> World:
    return await build_world(hub)


def random_id() -> str:
    return str(uuid.uuid4())


async def snapshot(hub: Hub, world: World) -> list[Any]:
    """B's cases as the city sees them (to prove that A's attempts changed nothing)."""
    return [(await gql(hub, "CaseDetail", id=c["id"]))["case"] for c in world.b_cases.values()]


# --- reading ----------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
async def test_another_towns_case_reads_like_an_unknown_id(
    hub: Hub, world: World, role: str
) -> None:
    token = hub.token(role, [A])
    for state, case in world.b_cases.items():
        for name, var in (("CaseDetail", "id"), ("AuditTrail", "subjectId")):
            probe = await answer(hub, op(name), token, **{var: case["id"]})
            unknown = await answer(hub, op(name), token, **{var: random_id()})
            assert probe == unknown, (name, state)
        detail = await answer(hub, op("CaseDetail"), token, id=case["id"])
        assert detail == (200, {"data": {"case": None}}), state


@pytest.mark.parametrize("role", ROLES)
async def test_another_towns_cases_are_not_listed_or_counted(
    hub: Hub, world: World, role: str
) -> None:
    token = hub.token(role, [A])
    own = (await gql(hub, "Cases", filter={"tenantCodes": [A]}))["cases"]
    listed = (await gql(hub, "Cases", token))["cases"]
    assert listed["totalCount"] == own["totalCount"] == len(world.a_cases)
    assert {e["node"]["id"] for e in listed["edges"]} == {c["id"] for c in world.a_cases.values()}
    assert {e["node"]["tenant"]["code"] for e in listed["edges"]} == {A}

    probes = [
        ({"tenantCodes": [B]}, {"tenantCodes": [UNKNOWN_TOWN]}),
        ({"tenantCodes": [A, B]}, {"tenantCodes": [A, UNKNOWN_TOWN]}),
        ({"text": world.b_cases["registered"]["number"]}, {"text": "XM-1999-000001"}),
        ({"text": "iso-chaohua"}, {"text": "iso-nowhere"}),
        ({"sourceId": world.b_source}, {"sourceId": random_id()}),
    ]
    for probe, unknown in probes:
        seen = await answer(hub, op("Cases"), token, filter=probe)
        assert seen == await answer(hub, op("Cases"), token, filter=unknown), probe


# --- changing ---------------------------------------------------------------------------------


def mutations(world: World) -> list[tuple[str, str, dict[str, Any]]]:
    """(label, query, variables) of every mutation taking a case id; "ID" marks the probed id."""
    a_case = world.a_cases["registered"]["id"]
    return [
        ("dispatch", op("DispatchCase"), {"caseId": "ID", "input": {"tenantCode": A}}),
        ("accept", op("AcceptCase"), {"caseId": "ID", "note": "签收"}),
        ("progress", op("RecordProgress"), {"caseId": "ID", "note": "已到现场"}),
        ("submit", op("SubmitResult"), {"caseId": "ID", "input": {"result": "已整改"}}),
        ("review", op("ReviewCase"), {"caseId": "ID", "input": {"decision": "APPROVE"}}),
        (
            "feedback",
            op("RecordFeedback"),
            {"caseId": "ID", "input": {"satisfaction": "SATISFIED"}},
        ),
        ("close", op("CloseCase"), {"caseId": "ID", "note": "结案"}),
        ("reject", op("RejectCase"), {"caseId": "ID", "reason": "不属于环保"}),
        ("reopen", REOPEN, {"caseId": "ID", "reason": "重新办理"}),
        ("merge from", op("MergeCase"), {"caseId": "ID", "intoCaseId": a_case}),
        ("merge into", op("MergeCase"), {"caseId": a_case, "intoCaseId": "ID"}),
    ]


def with_id(variables: dict[str, Any], value: str) -> dict[str, Any]:
    return json.loads(json.dumps(variables).replace('"ID"', json.dumps(value)))


def user_error(body: Any) -> dict[str, Any]:
    (payload,) = body["data"].values()
    return payload


@pytest.mark.parametrize("role", ROLES)
async def test_another_towns_case_cannot_be_changed_and_answers_not_found(
    hub: Hub, world: World, role: str
) -> None:
    token = hub.token(role, [A])
    before = await snapshot(hub, world)
    for state, case in world.b_cases.items():
        for label, query, variables in mutations(world):
            probe = await answer(hub, query, token, **with_id(variables, case["id"]))
            unknown = await answer(hub, query, token, **with_id(variables, random_id()))
            assert probe == unknown, (label, state)
            status, body = probe
            assert status == 200 and user_error(body)["__typename"] == "UserError", (label, body)
            assert user_error(body)["code"] == "NOT_FOUND", (label, body)
    assert await snapshot(hub, world) == before


@pytest.mark.parametrize("role", ROLES)
async def test_nothing_can_be_sent_into_another_town(hub: Hub, world: World, role: str) -> None:
    """Dispatching to B, or to B's cell or member, or registering into B (by town or by B's
    source) fails exactly as it does for a town, cell, member or source that does not exist."""
    token = hub.token(role, [A])
    case = world.a_cases["registered"]["id"]
    dispatch = op("DispatchCase")
    probes: list[tuple[str, str, dict[str, Any], dict[str, Any]]] = [
        (
            "dispatch to B",
            dispatch,
            {"caseId": case, "input": {"tenantCode": B}},
            {"caseId": case, "input": {"tenantCode": UNKNOWN_TOWN}},
        ),
        (
            "B's cell",
            dispatch,
            {"caseId": case, "input": {"tenantCode": A, "gridCellId": world.b_cell}},
            {"caseId": case, "input": {"tenantCode": A, "gridCellId": random_id()}},
        ),
        (
            "B's member",
            dispatch,
            {"caseId": case, "input": {"tenantCode": A, "assigneeId": world.b_member}},
            {"caseId": case, "input": {"tenantCode": A, "assigneeId": random_id()}},
        ),
    ]
    register = {"channel": "GRID", "title": "扬尘", "description": "扬尘", "category": "DUST"}
    probes += [
        (
            "register into B",
            op("RegisterCase"),
            {"input": {**register, "tenantCode": B}},
            {"input": {**register, "tenantCode": UNKNOWN_TOWN}},
        ),
        (
            "register on B's source",
            op("RegisterCase"),
            {"input": {**register, "sourceId": world.b_source}},
            {"input": {**register, "sourceId": random_id()}},
        ),
    ]
    for label, query, probe_vars, unknown_vars in probes:
        status, body = await answer(hub, query, token, **probe_vars)
        unknown = await answer(hub, query, token, **unknown_vars)
        as_unknown = json.loads(json.dumps(body, ensure_ascii=False).replace(B, UNKNOWN_TOWN))
        assert (status, as_unknown) == unknown, label
        assert user_error(body)["__typename"] == "UserError", (label, body)
    cases = (await gql(hub, "Cases", filter={"tenantCodes": [B]}))["cases"]
    assert cases["totalCount"] == len(world.b_cases), "nothing new in B"
    detail = (await gql(hub, "CaseDetail", id=case))["case"]
    assert detail["status"] == "REGISTERED" and detail["tenant"]["code"] == A


@pytest.mark.parametrize("role", ROLES)
async def test_other_towns_by_code_read_like_unknown_towns(
    hub: Hub, world: World, role: str
) -> None:
    token = hub.token(role, [A])
    for name in ("GridCells", "VerifyAudit"):
        status, body = await answer(hub, op(name), token, tenantCode=B)
        as_unknown = json.loads(json.dumps(body, ensure_ascii=False).replace(B, UNKNOWN_TOWN))
        assert (status, as_unknown) == await answer(hub, op(name), token, tenantCode=UNKNOWN_TOWN)


async def test_another_towns_external_id_reads_like_a_new_one(hub: Hub, world: World) -> None:
    token = hub.token("OPERATOR", [A])
    data = {"channel": "OTHER", "title": "扬尘", "description": "扬尘", "category": "DUST"}
    taken = await answer(
        hub, op("RegisterCase"), token, input={**data, "externalId": f"iso-{B}-registered"}
    )
    fresh = await answer(hub, op("RegisterCase"), token, input={**data, "externalId": "iso-fresh"})
    assert fresh[1]["data"]["registerCase"]["__typename"] == "CaseResult"
    result = taken[1]["data"]["registerCase"]
    assert result["__typename"] == "CaseResult", result
    assert result["case"]["tenant"]["code"] == A


# --- the schema walk --------------------------------------------------------------------------


def selection(type_: Any, depth: int, path: frozenset[str]) -> str | None:
    """Every field reachable without required arguments, ``depth`` levels down, no cycles."""
    named = get_named_type(type_)
    if is_leaf_type(named):
        return ""
    if depth == 0 or named.name in path:
        return None
    path = path | {named.name}
    if isinstance(named, GraphQLUnionType):
        parts = [f"... on {t.name} {selection(t, depth, path - {named.name})}" for t in named.types]
        return "{ __typename " + " ".join(p for p in parts if not p.endswith("None")) + " }"
    assert isinstance(named, GraphQLObjectType | GraphQLInterfaceType), named
    fields = []
    for name, fld in named.fields.items():
        if any(
            is_non_null_type(a.type) and a.default_value is Undefined for a in fld.args.values()
        ):
            continue
        sub = selection(fld.type, depth - 1, path)
        if sub is not None:
            fields.append(f"{name} {sub}".strip())
    return "{ " + " ".join(fields) + " }" if fields else None


NEEDS_A_MEMBER = {"myWork"}


def walk_queries() -> dict[str, str]:
    """One query per root field that needs no argument."""
    query_type = build_schema()._schema.query_type
    found = {}
    for name, fld in query_type.fields.items():
        if any(
            is_non_null_type(a.type) and a.default_value is Undefined for a in fld.args.values()
        ):
            continue
        sub = selection(fld.type, 5, frozenset())
        found[name] = f"query Walk {{ {name} {sub or ''} }}"
    return found


def tenant_codes(value: Any) -> set[str]:
    """Tenant codes anywhere in a response: tenantCode fields, tenant { code }, tenants { code }."""
    found: set[str] = set()
    if isinstance(value, list):
        for item in value:
            found |= tenant_codes(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            if key == "tenantCode" and item is not None:
                found.add(item)
            elif key == "tenant" and isinstance(item, dict) and "code" in item:
                found.add(item["code"])
            elif key == "tenants" and isinstance(item, list):
                found |= {t["code"] for t in item if isinstance(t, dict) and "code" in t}
            found |= tenant_codes(item)
    return found


def test_the_walk_covers_every_root_query_without_arguments() -> None:
    assert {"cases", "gridCells", "me", "tenants", "verifyAuditTrail"} <= walk_queries().keys()


@pytest.mark.parametrize("role", ROLES)
async def test_schema_walk_shows_only_town_a(hub: Hub, world: World, role: str) -> None:
    token = hub.token(role, [A])
    bodies = []
    for name, query in walk_queries().items():
        status, body = await answer(hub, query, token)
        assert status == 200, (name, body)
        # ADMIN may read everything of A: the walk must really return data (myWork answers
        # only a token bound to a grid member, which no role's token here is).
        if role == "ADMIN" and name not in NEEDS_A_MEMBER:
            assert not body.get("errors"), (name, body)
        bodies.append(body)
    for case in [*world.a_cases.values(), *world.b_cases.values()]:
        bodies.append((await answer(hub, op("CaseDetail"), token, id=case["id"]))[1])
        bodies.append((await answer(hub, op("AuditTrail"), token, subjectId=case["id"]))[1])
    bodies.append((await answer(hub, op("Cases"), token, first=200))[1])

    assert tenant_codes(bodies) == {A}
    text = json.dumps(bodies, ensure_ascii=False)
    leaked = sorted(s for s in world.b_secrets if s in text)
    assert not leaked, f"B's ids or numbers in A's responses: {leaked}"


async def test_a_case_merged_into_another_town_links_to_nothing(hub: Hub, world: World) -> None:
    """The city merged an A case into a B case: A sees its case, without the link or reports."""
    merged = world.a_cases["merged"]["id"]
    detail = (await gql(hub, "CaseDetail", hub.token("OPERATOR", [A]), id=merged))["case"]
    assert detail["status"] == "MERGED"
    assert detail["links"] == [] and detail["reports"] == []
    city = (await gql(hub, "CaseDetail", id=merged))["case"]
    assert [link["case"]["id"] for link in city["links"]] == [world.b_cases["registered"]["id"]]


# --- subscriptions ----------------------------------------------------------------------------


async def test_a_town_socket_gets_no_event_of_another_town(hub: Hub) -> None:
    async with (
        live_server(hub.app) as url,
        graphql_socket(url, hub.token("OPERATOR", [A])) as town,
        graphql_socket(url, hub.token("DISPATCHER")) as city,
    ):
        everything = await town.subscribe(op("CaseEvents"))
        await city.subscribe(op("CaseEvents"))

        b_case = (await gql(hub, "RegisterCase", input=_report(B, "sub-b")))["registerCase"]
        moved = (await gql(hub, "RegisterCase", input=_report(A, "sub-moved")))["registerCase"]
        sent = await gql(hub, "DispatchCase", caseId=moved["case"]["id"], input={"tenantCode": B})
        assert sent["dispatchCase"]["case"]["tenant"]["code"] == B
        a_case = (await gql(hub, "RegisterCase", input=_report(A, "sub-a")))["registerCase"]

        seen_by_city = [(await city.next())["data"]["caseEvents"] for _ in range(4)]
        assert [
            (e["kind"], e["case"]["id"], e["case"]["tenant"]["code"]) for e in seen_by_city
        ] == [
            ("REGISTER", b_case["case"]["id"], B),
            ("REGISTER", moved["case"]["id"], A),
            ("DISPATCH", moved["case"]["id"], B),
            ("REGISTER", a_case["case"]["id"], A),
        ]
        # A's socket: its own two registrations, in order (a filter naming B is refused:
        # test_subscriptions.test_a_filter_naming_an_unseen_town_is_forbidden).
        for expected in (moved, a_case):
            message = await town.receive()
            assert message["type"] == "next" and message["id"] == everything, message
            event = message["payload"]["data"]["caseEvents"]
            assert event["case"]["id"] == expected["case"]["id"], event
        await town.silent()


def _report(town: str, external_id: str) -> dict[str, Any]:
    return {
        "channel": "HOTLINE",
        "title": "噪声",
        "description": "夜间施工噪声",
        "category": "NOISE",
        "tenantCode": town,
        "externalId": external_id,
    }
