"""On PostgreSQL a transaction's audit entries join their town's chain at its commit
(hub.audit.service._chain_at_commit): the town's head is not held from the middle of a
transaction, entries of a rolled-back savepoint leave with it, and the chain stays whole."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import func, select, text

from hub.audit import service as audit
from hub.audit.model import AuditEntry
from hub.auth import system_scope
from hub.db import Database
from tests.conftest import Backend


@pytest.fixture(autouse=True)
def postgres_only(backend: Backend) -> Iterator[None]:
    if backend.name != "postgres":
        pytest.skip("SQLite's writers hold the database lock: there the head is taken at once")
    yield


async def _count(db: Database, tenant_ids: tuple, action: str) -> int:
    async with db.session(tenant_ids) as session:
        found = await session.scalar(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.action == action)
        )
        return int(found or 0)


async def test_an_open_transaction_does_not_hold_its_towns_head(db: Database) -> None:
    scope = await system_scope(db)
    town = scope.directory.by_code["laiji"].id
    ids = (town,)
    async with db.session(ids, write=True) as slow:
        await audit.append(slow, town, scope.principal, "test.slow", "case", "a")
        await slow.execute(text("select 1"))  # more work in the same transaction
        # Another writer of the same town commits meanwhile, without waiting for the first.
        async with db.session(ids, write=True) as quick:
            await quick.execute(text("set local lock_timeout = '1s'"))
            await audit.append(quick, town, scope.principal, "test.quick", "case", "b")
            await quick.commit()
        await slow.commit()
    async with db.session(ids) as session:
        entries = (
            await session.scalars(
                select(AuditEntry)
                .where(AuditEntry.action.in_(["test.slow", "test.quick"]))
                .order_by(AuditEntry.seq)
            )
        ).all()
        assert [e.action for e in entries] == ["test.quick", "test.slow"]  # in commit order
        (checked,) = await audit.verify(session, scope, [town])
    assert checked.ok, checked


async def test_entries_of_a_rolled_back_savepoint_are_not_written(db: Database) -> None:
    scope = await system_scope(db)
    town = scope.directory.by_code["laiji"].id
    async with db.session((town,), write=True) as session:
        await audit.append(session, town, scope.principal, "test.kept", "case", "a")
        with pytest.raises(RuntimeError):
            async with session.begin_nested():
                await audit.append(session, town, scope.principal, "test.undone", "case", "b")
                raise RuntimeError("the savepoint fails")
        async with session.begin_nested():
            await audit.append(session, town, scope.principal, "test.saved", "case", "c")
        await session.commit()
    assert await _count(db, (town,), "test.kept") == 1
    assert await _count(db, (town,), "test.saved") == 1
    assert await _count(db, (town,), "test.undone") == 0
