"""The card sweep as a periodic job: once per cluster, one transaction per tenant."""

from __future__ import annotations

import logging
from zoneinfo import ZoneInfo

from hub.auth import system_scope
from hub.db import Database
from hub.jobs import current_settings, for_each_tenant, periodic
from hub.supervision.service import sweep
from hub.tenancy.service import TenantInfo

log = logging.getLogger("hub.supervision")


@periodic("supervision.sweep", seconds=lambda s: s.sweep_interval_seconds)
async def sweep_cards(db: Database) -> None:
    scope = await system_scope(db)
    tz = ZoneInfo(current_settings().timezone)  # the notifications' local times

    async def one(tenant: TenantInfo) -> None:
        async with db.session(scope.tenant_ids, write=True) as session:
            issued = await sweep(session, tenant.id, tz=tz)
            await session.commit()
        if issued:
            log.info("sweep: %s cards issued in %s", issued, tenant.code)

    await for_each_tenant(db, one)
