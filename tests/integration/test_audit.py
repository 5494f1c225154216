"""The audit trail: tampering behind the app's back is found (GraphQL and CLI), the chain never
forks under concurrent writers, and on PostgreSQL the table refuses UPDATE and DELETE."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import httpx
import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine

from hub.app import create_app
from hub.audit.model import AuditEntry
from hub.config import Settings
from hub.db import Database
from hub.runtime import Runtime
from tests.conftest import Backend, Hub, register

VERIFY = """query($t: String) { verifyAuditTrail(tenantCode: $t) {
  ok checked brokenAtSeq tenantCode reason } }"""


async def tamper(db_url: str, backend: Backend, statement: str) -> None:
    """Change the table as someone with database access would, bypassing the app."""
    engine = create_async_engine(db_url)
    try:
        async with engine.begin() as conn:
            if backend.name == "postgres":
                # As a superuser, switch off the append-only trigger for this session.
                await conn.execute(text("set local session_replication_role = replica"))
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


def cli(db_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SANWANG_DATABASE_URL": db_url, "SANWANG_SECRET_KEY": "x"}
    return subprocess.run(
        [sys.executable, "-m", "hub.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_tampering_is_found_by_graphql_and_cli(
    hub: Hub, db_url: str, backend: Backend
) -> None:
    for n in range(3):
        await register(hub, externalId=f"t{n}", tenantCode="niudian")
    intact = (await hub.gql(VERIFY, {"t": "niudian"}))["verifyAuditTrail"]
    assert intact["ok"] and intact["checked"] == 3
    assert cli(db_url, "audit", "verify", "--tenant", "niudian").returncode == 0

    await tamper(
        db_url,
        backend,
        "update audit_entries set actor_name = 'someone else' "
        "where seq = 2 and tenant_id = (select id from tenants where code = 'niudian')",
    )
    broken = (await hub.gql(VERIFY, {"t": "niudian"}))["verifyAuditTrail"]
    assert broken["ok"] is False and broken["brokenAtSeq"] == 2
    assert broken["tenantCode"] == "niudian"
    done = cli(db_url, "audit", "verify")
    assert done.returncode == 1
    assert "niudian: BROKEN at entry 2" in done.stdout
    assert "laiji: intact" in done.stdout


async def test_a_deleted_last_entry_is_found(hub: Hub, db_url: str, backend: Backend) -> None:
    for n in range(2):
        await register(hub, externalId=f"d{n}", tenantCode="quliang")
    await tamper(
        db_url,
        backend,
        "delete from audit_entries where seq = 2 and tenant_id = "
        "(select id from tenants where code = 'quliang')",
    )
    broken = (await hub.gql(VERIFY, {"t": "quliang"}))["verifyAuditTrail"]
    assert broken["ok"] is False and broken["brokenAtSeq"] == 2


async def test_concurrent_writers_in_one_town_never_fork_the_chain(hub: Hub) -> None:
    results = await asyncio.gather(
        *(register(hub, externalId=f"c{n}", tenantCode="goutang") for n in range(24))
    )
    numbers = [r["case"]["number"] for r in results]
    assert len(set(numbers)) == 24, "case numbers are unique under concurrency"
    verified = (await hub.gql(VERIFY, {"t": "goutang"}))["verifyAuditTrail"]
    assert verified["ok"] and verified["checked"] == 24
    scope = await hub.scope()
    async with hub.db.session(scope.tenant_ids) as session:
        seqs = list(
            await session.scalars(
                select(AuditEntry.seq)
                .where(AuditEntry.tenant_id == scope.directory.by_code["goutang"].id)
                .order_by(AuditEntry.seq)
            )
        )
    assert seqs == list(range(1, 25))


async def test_a_burst_of_registrations_on_a_pool_of_one_completes(
    db_url: str, settings: Settings
) -> None:
    """Each registration briefly needs a second connection (its case number); it must never
    take it from the pool the waiting registrations hold (a pool that deadlocks itself)."""
    small = Database(db_url, pool_size=1)
    app = create_app(Runtime.start(settings, small))
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://hub.test") as http:
            tiny = Hub(app, small, settings, http)
            async with asyncio.timeout(25):  # the pool's own timeout is 30 s
                done = await asyncio.gather(
                    *(register(tiny, externalId=f"p{n}", tenantCode="dawei") for n in range(12))
                )
    finally:
        await small.dispose()
    assert len({d["case"]["number"] for d in done}) == 12


async def test_postgres_refuses_update_and_delete_of_audit_entries(
    hub: Hub, db_url: str, backend: Backend
) -> None:
    if backend.name != "postgres":
        pytest.skip("the append-only trigger is PostgreSQL's")
    await register(hub, externalId="pg1", tenantCode="laiji")
    engine = create_async_engine(db_url)  # the owner, not the app role: the trigger still holds
    try:
        for statement in (
            "update audit_entries set action = 'x'",
            "delete from audit_entries",
            "truncate audit_entries",
        ):
            with pytest.raises(DBAPIError, match="append-only"):
                async with engine.begin() as conn:
                    await conn.execute(text(statement))
    finally:
        await engine.dispose()


async def test_audit_trail_needs_an_auditing_role(hub: Hub) -> None:
    case = (await register(hub, externalId="r1", tenantCode="laiji"))["case"]
    response = await hub.post(
        "query($id: ID!) { auditTrail(subjectId: $id) { seq } }",
        {"id": case["id"]},
        token=hub.token("MEMBER", ["laiji"]),
    )
    body = response.json()
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
