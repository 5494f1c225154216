"""The demo's console accounts: one per role (town roles of laiji; the member bound to a
laiji grid member), with passwords generated afresh at every `serve --demo` and printed then
(a demo database that leaks keeps no usable password for long; nothing fixed is published)."""

from __future__ import annotations

import secrets

from sqlalchemy import select

from hub.accounts.service import ensure_account
from hub.db import Database
from hub.demo.principals import ROLE_NAMES
from hub.grid.model import Member
from hub.roles import CITY_WIDE_ROLES, Role
from hub.tenancy.service import directory

DEMO_TOWN = "laiji"


def demo_login(role: Role) -> str:
    return f"demo-{role.lower()}"


async def ensure_demo_accounts(db: Database) -> dict[str, str]:
    """Create or refresh the demo accounts; their logins and new passwords."""
    found = await directory(db)
    town = found.by_code[DEMO_TOWN]
    async with db.session((town.id,)) as session:
        member = await session.scalar(
            select(Member)
            .where(Member.tenant_id == town.id, Member.active.is_(True))
            .order_by(Member.external_id)
            .limit(1)
        )
    made = {}
    for role in Role:
        tenants = [] if role in CITY_WIDE_ROLES else [DEMO_TOWN]
        password = secrets.token_urlsafe(9)  # 12 characters
        bound = member.id if role == Role.MEMBER and member is not None else None
        name = f"{ROLE_NAMES[role]}（{member.name}）" if bound and member else ROLE_NAMES[role]
        await ensure_account(db, demo_login(role), password, name, [role], tenants, bound)
        made[demo_login(role)] = password
    return made
