"""Periodic monitoring work: devices silent too long open offline alarms."""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession

from hub.auth import scope_for
from hub.db import Database, utcnow
from hub.jobs import current_settings, periodic
from hub.monitoring import episodes
from hub.tenancy.service import directory
from hub.uow import unit_of_work

log = logging.getLogger("hub.monitoring")

OFFLINE_CHECK_SECONDS = 60.0


@periodic("monitoring.offline", seconds=OFFLINE_CHECK_SECONDS)
async def offline_check(db: Database) -> None:
    """One pass over the city's devices (points are few; one transaction is enough)."""
    settings = current_settings()
    scope = scope_for(episodes.MONITORING, await directory(db))

    async def work(session: AsyncSession) -> int:
        return await episodes.open_offline_episodes(session, scope, settings, utcnow())

    opened = await unit_of_work(db, scope.tenant_ids, work)
    if opened:
        log.info("offline alarms opened for %d devices", opened)
