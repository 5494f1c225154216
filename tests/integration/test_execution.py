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
        patched.setattr(execution, "leaf_plan", lambda field_def: None)
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
