"""The response cache (hub/responses.py): the queue's and the board's queries answered again
from memory while the change feed stands still, never across towns or roles."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from graphql import parse, print_ast
from hub import metrics
from hub.app import create_app
from hub.cases.model import Case
from hub.config import Settings
from hub.db import Database
from hub.responses import CACHEABLE_DOCUMENTS, _printed
from hub.runtime import Runtime
from hub.sync.service import _write_feed, record_change
from tests.conftest import SECRET, Hub, register
from tests.operations import op

CASES = op("Cases")
PHONE = "13812345678"


@pytest.fixture
async def cached(db: Database, db_url: str) -> AsyncIterator[Hub]:
    settings = Settings(
        database_url=db_url, secret_key=SECRET, response_cache_seconds=300, _env_file=None
    )
    app = create_app(Runtime.start(settings, db))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://hub.test") as http:
        yield Hub(app, db, settings, http)
    await app.state.responses.close()


def count(operation: str, outcome: str) -> float:
    return metrics.RESPONSE_CACHE.labels(operation, outcome)._value.get()


async def cases(hub: Hub, token: str, **variables: Any) -> httpx.Response:
    response = await hub.post(CASES, {"first": 50, **variables}, token=token, operation="Cases")
    assert response.status_code == 200, response.text
    return response


def titles(response: httpx.Response) -> set[str]:
    return {e["node"]["title"] for e in response.json()["data"]["cases"]["edges"]}


async def retitle_unnoticed(hub: Hub, case_id: str, title: str) -> None:
    """Change a case behind the feed's back (no change recorded): only a cached answer keeps
    showing the old title."""
    scope = await hub.scope()
    async with hub.db.session(scope.tenant_ids, write=True) as session:
        await session.execute(update(Case).where(Case.id == uuid.UUID(case_id)).values(title=title))
        await session.commit()


def test_the_cacheable_documents_are_the_contracts() -> None:
    ours = _printed(CACHEABLE_DOCUMENTS)
    for name in ("Cases", "CaseStats"):
        assert ours[name] == print_ast(parse(op(name)).definitions[0])


async def test_a_repeat_is_answered_from_the_cache_with_the_same_body(cached: Hub) -> None:
    case = (await register(cached, tenantCode="laiji"))["case"]
    dispatcher = cached.token("DISPATCHER")
    first = await cases(cached, dispatcher)
    hits = count("Cases", "hit")
    await retitle_unnoticed(cached, case["id"], "改过的标题")
    again = await cases(cached, dispatcher)
    assert again.content == first.content  # the old title: served from memory
    assert again.headers["content-type"] == first.headers["content-type"]
    assert count("Cases", "hit") == hits + 1


async def test_a_case_change_moves_the_feed_and_invalidates(cached: Hub) -> None:
    dispatcher = cached.token("DISPATCHER")
    before = await cases(cached, dispatcher)
    case = (await register(cached, tenantCode="laiji", title="新登记的案件"))["case"]  # intake
    after = await cases(cached, dispatcher)
    assert "新登记的案件" in titles(after) - titles(before)
    rejected = await cached.gql(
        op("RejectCase"), {"caseId": case["id"], "reason": "不属于环保受理范围"}, token=dispatcher
    )
    assert rejected["rejectCase"]["__typename"] == "CaseResult", rejected
    statuses = {
        e["node"]["id"]: e["node"]["status"]
        for e in (await cases(cached, dispatcher)).json()["data"]["cases"]["edges"]
    }
    assert statuses[case["id"]] == "REJECTED"


async def test_a_change_committed_after_its_number_was_taken_still_invalidates(
    cached: Hub,
) -> None:
    # The feed's number is taken at commit, and an earlier number may commit after a later
    # one: the head must move when such a writer commits although the largest number stays.
    case = (await register(cached, tenantCode="laiji"))["case"]
    dispatcher = cached.token("DISPATCHER")
    scope = await cached.scope()
    async with cached.db.session(scope.tenant_ids, write=True) as session:
        row = await session.scalar(select(Case).where(Case.id == uuid.UUID(case["id"])))
        assert row is not None
        row.title = "提交前已取号"
        await record_change(session, row)
        await session.run_sync(_write_feed)  # the number is taken now; the commit comes later
        assert "提交前已取号" not in titles(await cases(cached, dispatcher))
        assert "提交前已取号" not in titles(await cases(cached, dispatcher))
        await session.commit()
    assert "提交前已取号" in titles(await cases(cached, dispatcher))


async def test_never_across_towns(cached: Hub) -> None:
    await register(cached, tenantCode="laiji", title="莱集的案件")
    await register(cached, tenantCode="chaohua", title="潮华的案件")
    for town, title in (
        ("laiji", "莱集的案件"),
        ("chaohua", "潮华的案件"),
        ("laiji", "莱集的案件"),
    ):
        answer = await cases(cached, cached.token("OPERATOR", [town]))
        edges = answer.json()["data"]["cases"]["edges"]
        assert {e["node"]["tenant"]["code"] for e in edges} == {town}
        assert title in titles(answer)


async def test_never_across_roles(cached: Hub) -> None:
    await register(cached, tenantCode="laiji", title=f"来电 {PHONE} 反映扬尘")
    hits = count("Cases", "hit")
    # The same town, the same query and variables: a hotline operator reads numbers in full,
    # a town operator masked, a city dispatcher sees every town.
    hotline = titles(await cases(cached, cached.token("HOTLINE", ["laiji"])))
    operator = titles(await cases(cached, cached.token("OPERATOR", ["laiji"])))
    viewer = titles(await cases(cached, cached.token("VIEWER", ["laiji"])))
    dispatcher = await cases(cached, cached.token("DISPATCHER"))
    assert any(PHONE in t for t in hotline)
    assert not any(PHONE in t for t in operator | viewer)
    towns = {e["node"]["tenant"]["code"] for e in dispatcher.json()["data"]["cases"]["edges"]}
    assert count("Cases", "hit") == hits  # four callers, four computations
    again = await cases(cached, cached.token("OPERATOR", ["laiji"]))
    assert titles(again) == operator
    assert count("Cases", "hit") == hits + 1
    assert "laiji" in towns


async def test_the_board_and_statistics_are_cached_per_scope(cached: Hub) -> None:
    await register(cached, tenantCode="laiji")
    board = _printed(CACHEABLE_DOCUMENTS)["SupervisionBoard"]
    stats = op("CaseStats")
    for token in (cached.token("DISPATCHER"), cached.token("OPERATOR", ["laiji"])):
        hits = count("SupervisionBoard", "hit")
        first = await cached.post(board, token=token)
        assert (await cached.post(board, token=token)).content == first.content
        assert count("SupervisionBoard", "hit") == hits + 1
        one = await cached.post(stats, {"groupBy": "TENANT"}, token=token)
        assert (await cached.post(stats, {"groupBy": "TENANT"}, token=token)).content == one.content
    town = (await cached.post(board, token=cached.token("OPERATOR", ["laiji"]))).json()
    assert {e["tenant"]["code"] for e in town["data"]["supervisionBoard"]} == {"laiji"}


async def test_mutations_and_other_documents_are_never_cached(cached: Hub) -> None:
    first = await register(cached, tenantCode="laiji", title="同一个请求")
    second = await register(cached, tenantCode="laiji", title="同一个请求")
    assert first["case"]["id"] != second["case"]["id"]
    # Who the caller is (me) is not in the key: a document outside the list is never kept.
    me = "query Me { me { id name } }"
    a = await cached.gql(me, token=cached.token("OPERATOR", ["laiji"], sub="a"))
    b = await cached.gql(me, token=cached.token("OPERATOR", ["laiji"], sub="b"))
    assert a["me"]["id"] != b["me"]["id"]
    # The contract's Cases with one more field is another document: not cached either.
    wider = CASES.replace("reportCount", "reportCount description")
    hits = count("Cases", "hit")
    await cached.post(wider, {"first": 5}, token=cached.token("DISPATCHER"))
    await cached.post(wider, {"first": 5}, token=cached.token("DISPATCHER"))
    assert count("Cases", "hit") == hits


async def test_errors_are_not_cached(cached: Hub) -> None:
    token = cached.token("DISPATCHER")
    misses, hits = count("Cases", "miss"), count("Cases", "hit")
    for _ in range(2):
        answer = await cases(cached, token, after="not-a-cursor")
        assert answer.json()["errors"]
    assert count("Cases", "miss") == misses + 2
    assert count("Cases", "hit") == hits


async def test_off_by_default(hub: Hub) -> None:
    case = (await register(hub, tenantCode="laiji"))["case"]
    dispatcher = hub.token("DISPATCHER")
    hits = count("Cases", "hit")
    await cases(hub, dispatcher)
    await retitle_unnoticed(hub, case["id"], "不经缓存")
    assert "不经缓存" in titles(await cases(hub, dispatcher))
    assert count("Cases", "hit") == hits


async def test_a_change_through_another_process_invalidates(cached: Hub, db_url: str) -> None:
    # Two `serve` processes on one database: the head is the database's, not the process's.
    other_db = Database(db_url)
    settings = Settings(database_url=db_url, secret_key=SECRET, _env_file=None)
    other = create_app(Runtime.start(settings, other_db))
    transport = httpx.ASGITransport(app=other)
    dispatcher = cached.token("DISPATCHER")
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://other.test") as http:
            before = titles(await cases(cached, dispatcher))
            hits = count("Cases", "hit")
            assert titles(await cases(cached, dispatcher)) == before
            assert count("Cases", "hit") == hits + 1  # kept
            made = Hub(other, other_db, settings, http)
            await register(made, tenantCode="laiji", title="另一个进程登记的")
        assert "另一个进程登记的" in titles(await cases(cached, dispatcher))
    finally:
        await other_db.dispose()
