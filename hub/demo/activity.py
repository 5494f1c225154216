"""Grid patrols for the demo: now and then a grid member reports a problem, the town dispatches
it, and some are taken on in time while others are not, so a newcomer sees cases arrive, move
and get cards. Importing this module registers the job; only `sanwang serve --demo` does."""

from __future__ import annotations

import logging
import random
import uuid

from sqlalchemy import select

from hub.auth import Principal, scope_for, system_scope
from hub.cases import inputs, intake, steps
from hub.cases.enums import Category, Channel
from hub.db import Database
from hub.demo import world
from hub.grid.model import Member
from hub.jobs import current_runtime, periodic
from hub.roles import Role
from hub.supervision import clocks

log = logging.getLogger("hub.demo")

PATROL_SECONDS = 20.0
# Short limits for patrol cases, so the demo shows cards within minutes.
DEMO_RULES = [
    {"level": "GRID", "phase": "ACCEPT", "unit": "HOURS", "yellow_after": 0.02, "red_after": 0.05},
    {"level": "GRID", "phase": "HANDLE", "unit": "HOURS", "yellow_after": 0.05, "red_after": 0.1},
]
FINDINGS = [
    (Category.DUST, "料场未苫盖", "巡查发现{name}料场物料未苫盖，风起扬尘"),
    (Category.AIR, "烟囱冒黑烟", "巡查发现{name}烟囱冒黑烟，疑似未开启除尘设施"),
    (Category.WATER, "排口异常", "巡查发现{name}雨水排口有污水流出"),
    (Category.NOISE, "夜间生产噪声", "巡查发现{name}夜间生产，噪声扰民"),
    (Category.SOLID_WASTE, "固废随意堆放", "巡查发现{name}厂区外固废随意堆放"),
]
PATROLLER = Principal("demo-patrol", "网格巡查（演示）", frozenset({Role.ADMIN}), ())


async def install_demo_rules(db: Database) -> None:
    scope = await system_scope(db)
    async with db.session(scope.tenant_ids, write=True) as session:
        for rule in DEMO_RULES:
            await clocks.set_rule(
                session, {**rule, "category": None, "priority": None, "channel": Channel.GRID.value}
            )
        await session.commit()


@periodic("demo.patrol", seconds=PATROL_SECONDS)
async def patrol(db: Database) -> None:
    """One patrol finding: registered, dispatched to the village's grid member, and accepted in
    time half of the time."""
    runtime = current_runtime()
    rnd = random.Random()
    source = rnd.choice(world.SOURCES)
    category, title, text = rnd.choice(FINDINGS)
    scope = scope_for(PATROLLER, (await system_scope(db)).directory)
    async with db.session(scope.tenant_ids, write=True) as session:
        inp = inputs.RegisterInput(
            channel=Channel.GRID,
            title=f"{source.name}{title}",
            description=text.format(name=source.name),
            category=category,
            external_id=f"patrol-{uuid.uuid4().hex[:12]}",
            tenant_code=source.tenant,
            latitude=source.latitude,
            longitude=source.longitude,
            payload={"demo": True, "source": source.name},
        )
        done = await intake.register(
            session, scope, inp, tz=runtime.tz, prefix=runtime.case_prefix, rules=runtime.rules
        )
        member = await session.scalar(
            select(Member).where(Member.grid_cell_id == done.case.grid_cell_id).limit(1)
        )
        if done.duplicate_of is None and member is not None:
            await steps.dispatch(
                session,
                scope,
                str(done.case.id),
                inputs.DispatchInput(
                    tenant_code=source.tenant, assignee_id=member.id, note="请网格员核查"
                ),
                tz=runtime.tz,
            )
            if rnd.random() < 0.5:
                await steps.accept(
                    session, scope, str(done.case.id), "已签收，马上到现场", tz=runtime.tz
                )
        await session.commit()
    log.info("demo patrol: %s %s", done.case.number, done.case.title)
