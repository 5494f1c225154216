"""A pooled connection the server closed while it sat idle is found out by its ping at checkout
and replaced: the request that follows is answered (hub.db._ping_if_idle, PostgreSQL)."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from hub import db as hub_db
from tests.conftest import Hub
from tests.operations import op

KILL = """select count(pg_terminate_backend(pid)) from pg_stat_activity
 where datname = current_database() and pid <> pg_backend_pid()
   and backend_type = 'client backend'"""


async def test_a_connection_closed_while_idle_is_replaced(
    hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    if hub.db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has no server to close a connection")
    await hub.gql(op("Me"))  # a pooled connection, now back in the pool
    async with hub.db.side.connect() as conn:
        killed = (await conn.execute(text(KILL))).scalar()
    assert killed
    await asyncio.sleep(0.05)
    monkeypatch.setattr(hub_db, "PING_IDLE_SECONDS", 0.0)  # idle long enough to be pinged
    assert (await hub.gql(op("Cases"), {"first": 1}))["cases"]["totalCount"] >= 0
