"""A request that finds no database connection in time (the pool exhausted) answers 503 with
Retry-After and a Chinese message, on GraphQL and on plain routes, instead of a 500."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from sqlalchemy import text

from hub.app import create_app
from hub.auth import issue_jwt
from hub.config import Settings
from hub.db import Database
from hub.runtime import Runtime
from tests.conftest import SECRET, Backend
from tests.console import csrf_of
from tests.operations import op

GRAPHQL_RESPONSE = "application/graphql-response+json"


@pytest.fixture(autouse=True)
def postgres_only(backend: Backend) -> Iterator[None]:
    if backend.name != "postgres":
        pytest.skip("SQLite's pool is not the one a PostgreSQL server exhausts")
    yield


@pytest.fixture
async def tiny(db_url: str, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """An app on a pool of one connection (and its one overflow) that waits 0.2 s for it."""
    db = Database(db_url, pool_size=1, pool_timeout=0.2)
    app = create_app(Runtime.start(settings, db))
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://hub.test") as http:
            http.headers["Authorization"] = (
                f"Bearer {issue_jwt(SECRET, 'busy', ['DISPATCHER'], [])}"
            )
            yield http
    finally:
        await db.dispose()


@contextlib.asynccontextmanager
async def every_connection_held(http: httpx.AsyncClient) -> AsyncIterator[None]:
    """Long transactions on every connection of the app's pool."""
    db: Database = http._transport.app.state.db  # type: ignore[attr-defined]
    async with db.engine.connect() as one, db.engine.connect() as two:
        await one.execute(text("select 1"))
        await two.execute(text("select 1"))
        yield


def assert_busy(response: httpx.Response) -> dict[str, object]:
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "5"
    (error,) = response.json()["errors"]
    assert "服务繁忙" in error["message"]
    return error  # type: ignore[no-any-return]


@pytest.mark.parametrize("accept", ["application/json", GRAPHQL_RESPONSE])
async def test_graphql_answers_503_when_the_pool_is_exhausted(
    tiny: httpx.AsyncClient, accept: str, caplog: pytest.LogCaptureFixture
) -> None:
    body = {"query": op("Cases"), "variables": {"first": 5}}
    warm = await tiny.post("/graphql", json=body, headers={"Accept": accept})
    assert warm.status_code == 200 and not warm.json().get("errors"), warm.text
    async with every_connection_held(tiny):
        busy = await tiny.post("/graphql", json=body, headers={"Accept": accept})
    error = assert_busy(busy)
    assert error["extensions"] == {"code": "UNAVAILABLE"}
    logged = [r for r in caplog.records if "no database connection" in r.getMessage()]
    assert logged and all(r.levelname == "WARNING" and not r.exc_info for r in logged)
    assert not [r for r in caplog.records if r.levelname == "ERROR"], "a traceback per refusal"
    assert "data" not in busy.json()
    again = await tiny.post("/graphql", json=body, headers={"Accept": accept})
    assert again.status_code == 200, "the pool is back once the transactions end"


async def test_a_plain_route_answers_503_when_the_pool_is_exhausted(
    tiny: httpx.AsyncClient,
) -> None:
    async with every_connection_held(tiny):
        busy = await tiny.get("/sync/changes")
    error = assert_busy(busy)
    assert error["code"] == "UNAVAILABLE"


async def test_a_console_page_answers_503_when_the_pool_is_exhausted(
    tiny: httpx.AsyncClient,
) -> None:
    # Signing in reads the accounts: the console's page in Chinese, not its 500.
    page = await tiny.get("/console/login")
    assert page.status_code == 200
    form = {"login": "zhao.admin", "password": "x", "csrf_token": csrf_of(page.text)}
    async with every_connection_held(tiny):
        busy = await tiny.post("/console/login", data=form)
    assert busy.status_code == 503, busy.text
    assert busy.headers["retry-after"] == "5"
    assert busy.headers["content-type"].startswith("text/html")
    assert "服务繁忙" in busy.text
