"""Test fixtures: a fresh, migrated, demo-seeded database per test, on SQLite always and on
PostgreSQL when SANWANG_TEST_DATABASE_URL is set (then it must be reachable: no skipping).

Each backend's template is built once per session (migrations + demo world) and copied per test:
a file copy on SQLite, CREATE DATABASE ... TEMPLATE on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import settings as hypothesis_settings
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from connectors.hj212.http import writer_of
from connectors.hj212.server import Listener
from connectors.hj212.settings import hj212_settings
from hub.app import create_app
from hub.auth import issue_jwt, system_scope
from hub.config import Settings
from hub.db import Database
from hub.demo.seed import seed_demo
from hub.migrations import upgrade
from hub.runtime import Runtime
from tests.helpers import Monitoring

# Machine noise must not fail a property test: no per-example deadline.
hypothesis_settings.register_profile("sanwang", deadline=None)
hypothesis_settings.load_profile("sanwang")

PG_ENV = "SANWANG_TEST_DATABASE_URL"
SECRET = "test-secret-key-not-for-production"
BACKENDS = ["sqlite"] + (["postgres"] if os.environ.get(PG_ENV) else [])


# --- backends ---------------------------------------------------------------------------------


@dataclass
class Backend:
    name: str
    template_url: str
    _made: list[str] = field(default_factory=list)

    def fresh_url(self, tmp: Path) -> str:
        if self.name == "sqlite":
            path = tmp / f"{uuid.uuid4().hex}.db"
            shutil.copyfile(make_url(self.template_url).database, path)
            return f"sqlite+aiosqlite:///{path}"
        name = f"{make_url(self.template_url).database[:-5]}_{uuid.uuid4().hex[:10]}"
        _admin(
            self.template_url, f'create database "{name}" template "{_dbname(self.template_url)}"'
        )
        self._made.append(name)
        return str(make_url(self.template_url).set(database=name).render_as_string(False))

    def empty_url(self, tmp: Path) -> str:
        """A database with nothing in it, not even migrations (what an operator starts from)."""
        if self.name == "sqlite":
            return f"sqlite+aiosqlite:///{tmp / uuid.uuid4().hex}.db"
        name = f"{make_url(self.template_url).database[:-5]}_{uuid.uuid4().hex[:10]}"
        _admin(self.template_url, f'create database "{name}"')
        self._made.append(name)
        return str(make_url(self.template_url).set(database=name).render_as_string(False))

    def drop(self, url: str) -> None:
        if self.name == "postgres":
            _admin(self.template_url, f'drop database if exists "{_dbname(url)}" with (force)')


def _dbname(url: str) -> str:
    return str(make_url(url).database)


def _admin(url: str, statement: str) -> None:
    """Run one statement on the server's postgres database, outside a transaction."""

    async def run() -> None:
        admin = make_url(url).set(database="postgres")
        engine = create_async_engine(admin, isolation_level="AUTOCOMMIT")
        try:
            async with engine.connect() as conn:
                await conn.execute(text(statement))
        finally:
            await engine.dispose()

    asyncio.run(run())


def _seed(url: str) -> None:
    async def run() -> None:
        db = Database(url)
        try:
            await seed_demo(db)
        finally:
            await db.dispose()

    upgrade(url)
    asyncio.run(run())


@pytest.fixture(scope="session", params=BACKENDS)
def backend(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Backend]:
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("template") / "template.db"
        url = f"sqlite+aiosqlite:///{path}"
        _seed(url)
        yield Backend("sqlite", url)
        return
    base = os.environ[PG_ENV]
    template = make_url(base).set(database=f"{_dbname(base)}_tmpl").render_as_string(False)
    _admin(base, f'drop database if exists "{_dbname(template)}" with (force)')
    _admin(base, f'create database "{_dbname(template)}"')
    _seed(template)
    backend = Backend("postgres", str(template))
    yield backend
    for name in backend._made:
        _admin(template, f'drop database if exists "{name}" with (force)')
    _admin(base, f'drop database if exists "{_dbname(template)}" with (force)')


@pytest.fixture
def db_url(backend: Backend, tmp_path: Path) -> Iterator[str]:
    url = backend.fresh_url(tmp_path)
    yield url
    backend.drop(url)


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    database = Database(db_url)
    yield database
    await database.dispose()


@pytest.fixture
def settings(db_url: str) -> Settings:
    return Settings(database_url=db_url, secret_key=SECRET, _env_file=None)


# --- the live app -----------------------------------------------------------------------------


class GraphQLError(AssertionError):
    pass


@dataclass
class Hub:
    """The real ASGI app and a way to talk to it as any role."""

    app: Any
    db: Database
    settings: Settings
    http: httpx.AsyncClient

    def token(
        self,
        role: str,
        tenants: list[str] | None = None,
        sub: str | None = None,
        member: str | None = None,
    ) -> str:
        """A JWT of one role; ``member`` (a member id) binds it to that person."""
        tenants = tenants if tenants is not None else []
        bound = uuid.UUID(member) if member else None
        return issue_jwt(SECRET, sub or f"test-{role.lower()}", [role], tenants, member=bound)

    async def post(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        token: str | None = None,
        operation: str | None = None,
    ) -> httpx.Response:
        body: dict[str, Any] = {"query": query, "variables": variables or {}}
        if operation:
            body["operationName"] = operation
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return await self.http.post("/graphql", json=body, headers=headers)

    async def gql(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        token: str | None = None,
        operation: str | None = None,
    ) -> dict[str, Any]:
        """Data of a query that must succeed (200, no errors)."""
        response = await self.post(query, variables, token=token or self.admin, operation=operation)
        payload = response.json()
        if response.status_code != 200 or payload.get("errors"):
            raise GraphQLError(f"{response.status_code}: {payload}")
        return payload["data"]

    @property
    def admin(self) -> str:
        return self.token("ADMIN")

    async def scope(self):
        return await system_scope(self.db)


@pytest.fixture
async def hub(db: Database, settings: Settings) -> AsyncIterator[Hub]:
    app = create_app(Runtime.start(settings, db))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://hub.test") as http:
        yield Hub(app, db, settings, http)


@pytest.fixture
async def monitoring(hub: Hub) -> AsyncIterator[Monitoring]:
    """The HJ 212 TCP listener on a loopback port, writing through the hub's reading writer."""
    writer = writer_of(hub.app.state.connectors)
    await writer.start()
    runtime = hub.app.state.runtime
    listener = Listener(writer, hj212_settings(runtime), runtime.tz)
    await listener.start("127.0.0.1", 0)
    try:
        yield Monitoring(writer, listener)
    finally:
        await listener.stop()
        await writer.stop()


REGISTER = """
mutation Register($input: RegisterCaseInput!) {
  registerCase(input: $input) {
    __typename
    ... on CaseResult { case { id number status tenant { code } reportCount gridCell { id } }
                        duplicateOf { id number } }
    ... on UserError { code message field }
  }
}"""


async def register(hub: Hub, token: str | None = None, **fields: Any) -> dict[str, Any]:
    """registerCase with sensible defaults; returns the mutation's payload."""
    data = {
        "channel": "HOTLINE",
        "title": "夜间扬尘",
        "description": "耐火材料厂夜间扬尘严重",
        "category": "DUST",
        **fields,
    }
    return (await hub.gql(REGISTER, {"input": data}, token=token))["registerCase"]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


collect_ignore = ["perf"]  # benchmarks run on demand: python -m tests.perf.<name>
pytest_plugins = ["tests.processes"]  # its fixtures (a Redis namespace per test)
