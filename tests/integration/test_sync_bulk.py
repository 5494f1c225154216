"""``GET /sync/changes``: the change feed as JSON lines, with the GraphQL feed's cursor, order,
scope and horizon; and the horizon no longer held back by another database's transaction."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.conftest import Backend, Hub, register
from tests.integration.test_sync_feed import commit_out_of_order, drain, settled


async def bulk(
    hub: Hub, after: str | None = None, token: str | None = None, **params: Any
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The change lines and the closing line of one GET."""
    query = {k: v for k, v in {"after": after, **params}.items() if v is not None}
    response = await hub.http.get(
        "/sync/changes", params=query, headers={"Authorization": f"Bearer {token or hub.admin}"}
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert lines and lines[-1].get("end") is True, "the stream ends with its closing line"
    return lines[:-1], lines[-1]


async def bulk_settled(hub: Hub, after: str | None, count: int, token: str | None = None):
    """Like ``settled``: poll for at most 15 s until ``count`` changes have come."""
    seen: list[dict[str, Any]] = []
    deadline = asyncio.get_running_loop().time() + 15
    while True:
        lines, end = await bulk(hub, after, token)
        seen += lines
        after = end["endCursor"]
        if len(seen) >= count or asyncio.get_running_loop().time() > deadline:
            return seen, after
        await asyncio.sleep(0.2)


async def test_the_bulk_feed_is_the_graphql_feed_line_by_line(hub: Hub) -> None:
    ids = [
        (await register(hub, externalId=f"b{n}", tenantCode="laiji"))["case"]["id"]
        for n in range(4)
    ]
    await register(hub, channel="PLATFORM", externalId="ZZ-9", tenantCode="pingmo")
    graph, _ = await settled(hub, None, 5)
    lines, cursor = await bulk_settled(hub, None, 5)
    assert [line["id"] for line in lines] == graph
    assert ids == graph[:4]
    assert cursor == lines[-1]["cursor"]
    platform = lines[-1]
    assert platform["externalRefs"] == [{"system": "platform", "externalId": "ZZ-9"}]
    assert platform["tenantCode"] == "pingmo" and platform["status"] == "REGISTERED"
    assert platform["card"] == "NONE" and platform["number"].startswith("XM-")
    # The cursors are the GraphQL feed's: either route continues where the other stopped.
    _, graph_cursor = await drain(hub, None)
    again, end = await bulk(hub, graph_cursor)
    assert again == [] and end["endCursor"] == graph_cursor
    await hub.gql(
        'mutation($id: ID!){ dispatchCase(caseId: $id, input: {tenantCode: "laiji"})'
        "{ __typename } }",
        {"id": ids[0]},
    )
    moved, _ = await bulk_settled(hub, lines[-1]["cursor"], 1)
    assert [line["id"] for line in moved] == [ids[0]]
    assert moved[0]["status"] == "DISPATCHED"
    paged, _ = await drain(hub, lines[-1]["cursor"])
    assert paged == [ids[0]]


async def test_limit_cuts_the_stream_and_the_next_call_goes_on(hub: Hub) -> None:
    for n in range(5):
        await register(hub, externalId=f"l{n}", tenantCode="quliang")
    everything, _ = await bulk_settled(hub, None, 5)
    first, end = await bulk(hub, limit=2)
    assert [line["id"] for line in first] == [line["id"] for line in everything[:2]]
    rest, _ = await bulk(hub, end["endCursor"])
    assert [line["id"] for line in rest] == [line["id"] for line in everything[2:]]


async def test_a_town_streams_only_its_own_cases(hub: Hub) -> None:
    mine = (await register(hub, externalId="own", tenantCode="chaohua"))["case"]["id"]
    await register(hub, externalId="other", tenantCode="dawei")
    token = hub.token("OPERATOR", ["chaohua"])
    lines, _ = await bulk_settled(hub, None, 1, token)
    await asyncio.sleep(0.3)
    lines += (await bulk(hub, lines[-1]["cursor"], token))[0]
    assert [line["id"] for line in lines] == [mine]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"after": "bm90LWEtY3Vyc29y"}, "after"),
        ({"limit": "0"}, "limit"),
        ({"limit": "x"}, "limit"),
    ],
)
async def test_bad_cursor_or_limit_is_refused_naming_the_field(
    hub: Hub, params: dict[str, str], field: str
) -> None:
    response = await hub.http.get(
        "/sync/changes", params=params, headers={"Authorization": f"Bearer {hub.admin}"}
    )
    assert response.status_code == 422
    error = response.json()["errors"][0]
    assert error["field"] == field and error["code"] == "VALIDATION" and error["message"]


async def test_no_token_is_401(hub: Hub) -> None:
    response = await hub.http.get("/sync/changes")
    assert response.status_code == 401
    assert response.json()["errors"][0]["code"] == "UNAUTHENTICATED"


async def test_out_of_order_commits_are_not_skipped_by_the_bulk_feed(
    hub: Hub, backend: Backend
) -> None:
    if backend.name != "postgres":
        pytest.skip("SQLite has one writer at a time: commits cannot interleave")

    async def read(hub: Hub, after: str | None) -> tuple[list[str], str]:
        lines, end = await bulk(hub, after)
        return [line["id"] for line in lines], end["endCursor"]

    async def settle(hub: Hub, after: str | None) -> tuple[list[str], str]:
        lines, cursor = await bulk_settled(hub, after, 2)
        return [line["id"] for line in lines], cursor

    await commit_out_of_order(hub, read, settle)


async def test_a_transaction_in_another_database_does_not_hold_the_feed_back(
    hub: Hub, backend: Backend
) -> None:
    """Round 1's horizon was the whole server's oldest transaction: a long one in any other
    database stopped every feed. Now only this database's transactions count."""
    if backend.name != "postgres":
        pytest.skip("the horizon is PostgreSQL's")
    url = hub.db.url
    admin = create_async_engine(url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
    other_db = f"sanwang_horizon_{uuid.uuid4().hex[:8]}"
    async with admin.connect() as conn:
        await conn.execute(text(f'create database "{other_db}"'))
    other = create_async_engine(url.rsplit("/", 1)[0] + "/" + other_db)
    try:
        async with other.connect() as conn:
            # A transaction over there that holds an xid and stays open.
            await conn.execute(text("create table t (x int)"))
            await conn.execute(text("select pg_current_xact_id()"))
            case = (await register(hub, externalId="h1", tenantCode="laiji"))["case"]["id"]
            lines, _ = await bulk(hub)
            graph, _ = await drain(hub, None)
            assert case in [line["id"] for line in lines], "served although the other is open"
            assert case in graph
            await conn.rollback()
    finally:
        await other.dispose()
        async with admin.connect() as conn:
            await conn.execute(text(f'drop database if exists "{other_db}" with (force)'))
        await admin.dispose()
