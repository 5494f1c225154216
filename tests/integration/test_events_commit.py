"""Case events leave with their commit, on both databases (hub.events): a savepoint rolled back
takes its notices with it, and every committed case change moves the process's change count
(what the board's figures cache is checked against) before any subscriber is told."""

from __future__ import annotations

import asyncio
import contextlib
import uuid

from hub.auth import system_scope
from hub.cases.model import Case
from hub.db import utcnow
from hub.events import CaseNotice, announce, changes
from hub.runtime import case_events
from tests.conftest import Hub, register


async def test_a_rolled_back_savepoint_takes_its_events_with_it(hub: Hub) -> None:
    created = (await register(hub, tenantCode="laiji", externalId="savepoint-1"))["case"]
    scope = await system_scope(hub.db)
    events = case_events(hub.db)
    async with events.subscribe() as queue:
        async with hub.db.session(scope.tenant_ids, write=True) as session:
            case = await session.get(Case, uuid.UUID(created["id"]))
            assert case is not None
            savepoint = await session.begin_nested()
            announce(session.sync_session, CaseNotice("LOST", utcnow(), case.tenant_id, case))
            await savepoint.rollback()
            async with session.begin_nested():  # released: its notice stays
                announce(session.sync_session, CaseNotice("KEPT", utcnow(), case.tenant_id, case))
            await session.commit()
        heard = await asyncio.wait_for(queue.get(), 15)
        assert (heard.kind, str(heard.case.id)) == ("KEPT", created["id"])
        with contextlib.suppress(TimeoutError):
            extra = await asyncio.wait_for(queue.get(), 1)
            raise AssertionError(f"a notice of a rolled-back savepoint went out: {extra.kind}")
    await events.close()


async def test_a_committed_case_change_moves_the_change_count(hub: Hub) -> None:
    before = changes.value
    await register(hub, tenantCode="laiji", externalId="count-1")
    assert changes.value > before, "the board would keep figures from before the change"
    settled = changes.value
    scope = await system_scope(hub.db)
    async with hub.db.session(scope.tenant_ids, write=True) as session:
        await session.rollback()
    assert changes.value == settled
