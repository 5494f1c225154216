"""The periodic camera check: silent cameras are marked offline, then open an OFFLINE case."""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession

from connectors.video.settings import video_settings
from hub.auth import scope_for
from hub.cameras import service
from hub.db import Database, utcnow
from hub.jobs import current_runtime, periodic
from hub.tenancy.service import directory
from hub.uow import unit_of_work

log = logging.getLogger("connectors.video")

CHECK_SECONDS = 60.0


async def check_cameras(db: Database, policy: service.Policy) -> tuple[int, int]:
    """One pass over the city's cameras (one transaction): (marked offline, cases opened)."""
    scope = scope_for(service.VIDEO, await directory(db))

    async def work(session: AsyncSession) -> tuple[int, int]:
        return await service.check_offline(session, scope, policy, utcnow())

    return await unit_of_work(db, scope.tenant_ids, work)


@periodic("video.offline", seconds=CHECK_SECONDS)
async def offline_check(db: Database) -> None:
    runtime = current_runtime()
    marked, opened = await check_cameras(db, video_settings(runtime).policy(runtime.settings))
    if marked or opened:
        log.info("cameras: %d marked offline, %d offline cases opened", marked, opened)
