"""The card sweep as a periodic job: once per cluster, one transaction per tenant."""

from __future__ import annotations

import logging

from hub.auth import system_scope
from hub.db import Database
from hub.jobs import current_runtime, for_each_tenant, periodic
from hub.supervision.service import sweep
from hub.tenancy.service import TenantInfo
from hub.uow import unit_of_work

log = logging.getLogger("hub.supervision")


@periodic("supervision.sweep", seconds=lambda s: s.sweep_interval_seconds)
async def sweep_cards(db: Database) -> None:
    scope = await system_scope(db)
    tz = current_runtime().tz

    async def one(tenant: TenantInfo) -> None:
        issued = await unit_of_work(
            db, scope.tenant_ids, lambda session: sweep(session, tenant.id, tz=tz)
        )
        if issued:
            log.info("sweep: %s cards issued in %s", issued, tenant.code)

    await for_each_tenant(db, one)
