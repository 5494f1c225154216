"""Who the demo's simulators act as: a named town office for the demo's towns (OPERATOR, not
ADMIN) and a named reviewer (SUPERVISOR: 督查 means someone else checks the office's result).
Their names show on every case they touch, so a person can tell simulated work from real work.

The hotline simulator talks to the hub over HTTP and needs tokens: ``issue`` creates a principal
row and its token at each start and revokes the ones an earlier start created (a token is shown
once, so an old one cannot be reused). The platform demo runs in the API process and acts as
the principals directly.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import update

from hub.auth import Principal, create_token
from hub.db import Database
from hub.demo import world
from hub.roles import Role
from hub.tenancy.model import Principal as PrincipalRow

TOWN_CODES = tuple(t.code for t in world.TOWNS)
OFFICE = Principal("demo-town-office", "演示镇办（模拟）", frozenset({Role.OPERATOR}), TOWN_CODES)
REVIEWER = Principal("demo-reviewer", "演示督查（模拟）", frozenset({Role.SUPERVISOR}), ())

# The names the demo's per-role tokens carry (`sanwang demo-tokens`): people read them on the
# timeline and in notifications instead of "demo-member".
ROLE_NAMES: dict[Role, str] = {
    Role.ADMIN: "演示管理员",
    Role.DISPATCHER: "演示指挥中心调度员",
    Role.SUPERVISOR: "演示督查员",
    Role.OPERATOR: "演示来集镇网格办",
    Role.MEMBER: "演示网格员",
    Role.HOTLINE: "演示12369热线",
    Role.PLATFORM: "演示社管平台",
    Role.MONITOR: "演示在线监测",
    Role.VIEWER: "演示查看员",
}


async def issue(db: Database, who: Principal) -> str:
    """A fresh token for ``who`` (a principal row named as ``who``); earlier ones are revoked."""
    async with db.session((), write=True) as session, session.begin():
        await session.execute(
            update(PrincipalRow)
            .where(PrincipalRow.name == who.name, PrincipalRow.revoked_at.is_(None))
            .values(revoked_at=datetime.now(UTC))
        )
    _, token = await create_token(
        db, who.name, [r.value for r in who.roles], list(who.tenant_codes)
    )
    return token
