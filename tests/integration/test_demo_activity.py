"""The demo's grid patrols: registered, dispatched to a grid member, and carded when their
short limits pass, as `sanwang serve --demo` shows a newcomer."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from hub.cases.model import Case
from hub.db import Database, utcnow
from hub.demo import activity
from hub.supervision.jobs import sweep_cards
from hub.supervision.model import CaseCard, CaseHop
from hub.supervision.service import sweep
from tests.conftest import Hub


async def count(db: Database, hub: Hub, what: object) -> int:
    scope = await hub.scope()
    async with db.session(scope.tenant_ids) as session:
        return int(await session.scalar(select(func.count()).select_from(what)) or 0)


async def test_patrols_open_grid_cases_that_earn_cards(hub: Hub, db: Database) -> None:
    await activity.install_demo_rules(db)
    for _ in range(6):
        await activity.patrol(db)
    assert await count(db, hub, Case) >= 1
    scope = await hub.scope()
    async with db.session(scope.tenant_ids) as session:
        running = select(CaseHop.level).where(CaseHop.ended_at.is_(None))  # past dispatch
        levels = set(await session.scalars(running))
        assert levels == {"GRID"}, "patrol cases go to the village's grid member"
    await sweep_cards(db)  # the periodic job itself: nothing is late yet
    assert await count(db, hub, CaseCard) == 0
    later = utcnow() + timedelta(minutes=10)  # past the demo's accept and handle limits
    async with db.session(scope.tenant_ids, write=True) as session:
        for tenant in scope.directory.tenants:
            await sweep(session, tenant.id, later, tz=ZoneInfo("Asia/Shanghai"))
        await session.commit()
    assert await count(db, hub, CaseCard) >= 1
