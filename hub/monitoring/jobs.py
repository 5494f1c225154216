"""Periodic monitoring work: devices silent too long open offline alarms."""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession

from hub.auth import scope_for
from hub.config import Settings
from hub.db import Database, utcnow
from hub.jobs import current_settings, periodic
from hub.monitoring import episodes, partitions
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


PARTITIONS_SECONDS = 6 * 3600.0


@periodic("monitoring.partitions", seconds=PARTITIONS_SECONDS)
async def readings_partitions(db: Database) -> None:
    """PostgreSQL: the readings' month partitions ahead created, expired months detached and
    dropped or archived (``hub.monitoring.partitions``); nothing on SQLite."""
    await maintain_partitions(db, current_settings())


async def maintain_partitions(db: Database, settings: Settings) -> partitions.Maintenance | None:
    if db.is_sqlite:
        return None
    async with db.engine.begin() as conn:  # the owner's connection: DDL
        done = await partitions.maintain(
            conn,
            partitions.utc_today(),
            ahead=settings.readings_partitions_ahead,
            retention_months=settings.readings_retention_months,
            archive=settings.readings_archive,
        )
    if done.created or done.dropped or done.archived or done.deleted:
        log.info(
            "readings partitions: created %s (%d rows moved in), dropped %s, archived %s, "
            "%d expired rows deleted",
            done.created, done.moved, done.dropped, done.archived, done.deleted,
        )  # fmt: skip
    return done
