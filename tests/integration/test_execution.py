"""The executor's fast path for plain leaf fields (hub/execution.py) answers exactly what
graphql-core answers: the same data, in the same order, and the same errors."""

from __future__ import annotations

import enum
import json
from datetime import UTC, datetime
from typing import Any

import pytest
import strawberry

from hub import execution
from hub.execution import HubExecutionContext
from tests.conftest import Hub, register
from tests.operations import op


async def both_ways(
    hub: Hub, monkeypatch: pytest.MonkeyPatch, name: str, variables: dict[str, Any]
) -> tuple[str, str]:
    body = {"query": op(name), "variables": variables, "operationName": name}
    headers = {"Authorization": f"Bearer {hub.admin}"}
    fast = (await hub.http.post("/graphql", json=body, headers=headers)).text
    with monkeypatch.context() as patched:
        patched.setattr(execution, "field_plan", lambda field_def: None)
        plain = (await hub.http.post("/graphql", json=body, headers=headers)).text
    return fast, plain


async def test_the_contract_reads_are_the_same_either_way(
    hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = [
        (await register(hub, externalId=f"x{n}", tenantCode="laiji"))["case"]["id"]
        for n in range(3)
    ]
    for name, variables in [
        ("Cases", {"first": 10}),
        ("CaseDetail", {"id": ids[0]}),
        ("CaseChanges", {"first": 10}),
        ("Tenants", {}),
        ("GridCells", {"tenantCode": "laiji"}),
        ("AuditTrail", {"subjectId": ids[1]}),
        ("Me", {}),
    ]:
        fast, plain = await both_ways(hub, monkeypatch, name, variables)
        assert json.loads(fast).get("errors") is None, fast
        assert fast == plain, name


class Colour(enum.Enum):
    RED = "red"


@strawberry.type
class Item:
    name: str
    note: str | None
    colour: Colour
    at: datetime


@strawberry.type
class Query:
    @strawberry.field
    def items(self) -> list[Item]:
        at = datetime(2026, 12, 4, tzinfo=UTC)
        return [
            Item(name="a", note=None, colour=Colour.RED, at=at),
            Item(name=None, note="n", colour=Colour.RED, at=at),  # type: ignore[arg-type]
            Item(name="c", note="m", colour="nonsense", at=at),  # type: ignore[arg-type]
        ]


@pytest.mark.parametrize(
    "query",
    [
        "{ items { name note colour at } }",
        "{ items { at n: name ...F } } fragment F on Item { colour note name }",
        "{ items { __typename name @include(if: false) note } }",
    ],
)
def test_nulls_and_bad_values_fail_exactly_as_graphql_core_fails(query: str) -> None:
    fast = strawberry.Schema(Query, execution_context_class=HubExecutionContext)
    plain = strawberry.Schema(Query)
    got, expected = fast.execute_sync(query), plain.execute_sync(query)
    assert json.dumps(got.data) == json.dumps(expected.data)
    assert [e.formatted for e in got.errors or []] == [e.formatted for e in expected.errors or []]


@strawberry.type
class Inner:
    label: str
    colours: list[Colour]


@strawberry.type
class Outer:
    name: str
    inner: Inner
    maybe: Inner | None
    inners: list[Inner]
    tags: list[str | None] | None


def _inner(label: Any = "i", colours: Any = None) -> Inner:
    return Inner(label=label, colours=[Colour.RED] if colours is None else colours)


@strawberry.type
class Nested:
    @strawberry.field
    def outers(self) -> list[Outer]:
        good = _inner()
        return [
            Outer(name="ok", inner=good, maybe=None, inners=[good, good], tags=["a", None]),
            Outer(name="deep null", inner=good, maybe=good, inners=[good, _inner(None)], tags=None),
            Outer(name="bad enum", inner=_inner(colours=["x"]), maybe=good, inners=[], tags=[]),
            Outer(name="null item", inner=good, maybe=good, inners=[None], tags=("t",)),  # type: ignore[list-item]
            Outer(name="not a list", inner=good, maybe=good, inners=iter([good]), tags=None),  # type: ignore[arg-type]
        ]


@pytest.mark.parametrize(
    "query",
    [
        "{ outers { name inner { label colours } maybe { label } inners { label } tags } }",
        "{ outers { __typename name inner { __typename ...I } inners { ...I } } }"
        " fragment I on Inner { colours label }",
        "{ outers { name maybe { label colours } inners { colours } } }",
    ],
)
def test_whole_sub_selections_fail_exactly_as_graphql_core_fails(query: str) -> None:
    fast = strawberry.Schema(Nested, execution_context_class=HubExecutionContext)
    plain = strawberry.Schema(Nested)
    got, expected = fast.execute_sync(query), plain.execute_sync(query)
    assert json.dumps(got.data) == json.dumps(expected.data)
    assert [e.formatted for e in got.errors or []] == [e.formatted for e in expected.errors or []]
    assert got.errors, "the cases above include failures"
