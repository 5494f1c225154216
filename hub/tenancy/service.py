"""The tenant directory: the city and its towns, and who sees which."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.db import Database
from hub.roles import CITY_WIDE_ROLES, Role
from hub.tenancy.model import Tenant, TenantKind

CACHE_SECONDS = 5.0


@dataclass(frozen=True)
class TenantInfo:
    id: uuid.UUID
    code: str
    name: str
    kind: TenantKind
    parent_id: uuid.UUID | None
    parent_code: str | None
    division_code: str | None = None


# What a town's name may end with; the platform may leave it off (超化 for 超化镇).
TOWN_SUFFIXES = ("街道", "镇", "乡")


def _stem(name: str) -> str:
    return next((name[: -len(s)] for s in TOWN_SUFFIXES if name.endswith(s) and name != s), name)


def _division(code: str) -> str:
    """A division code in its short form: the statistical 12 digits (410183104000) and a
    county's 9 (410183000) drop their zero tails."""
    for long, short in ((12, 9), (9, 6)):
        if len(code) == long and code.endswith("000"):
            code = code[:short]
    return code


@dataclass(frozen=True)
class Directory:
    tenants: tuple[TenantInfo, ...]
    by_id: dict[uuid.UUID, TenantInfo] = field(default_factory=dict)
    by_code: dict[str, TenantInfo] = field(default_factory=dict)

    def find(self, text: str) -> TenantInfo | None:
        """The tenant a sender names: by the hub's code (chaohua), its division code (6 or 9
        digits, or the 12-digit statistical form ending in 000), its Chinese name (超化镇),
        or that name without 镇/乡/街道 when only one tenant has that stem."""
        text = text.strip()
        if text in self.by_code:
            return self.by_code[text]
        if text.isdigit():
            code = _division(text)
            return next((t for t in self.tenants if t.division_code == code), None)
        named = [t for t in self.tenants if t.name == text]
        if len(named) == 1:
            return named[0]
        if _stem(text) != text:  # 超化乡 is not 超化镇: only a bare stem may leave it off
            return None
        stems = [t for t in self.tenants if _stem(t.name) == text]
        return stems[0] if len(stems) == 1 else None

    @classmethod
    def of(cls, tenants: Iterable[TenantInfo]) -> Directory:
        items = tuple(sorted(tenants, key=lambda t: (t.kind != TenantKind.CITY, t.code)))
        return cls(items, {t.id: t for t in items}, {t.code: t for t in items})

    @property
    def city(self) -> TenantInfo | None:
        return next((t for t in self.tenants if t.kind == TenantKind.CITY), None)

    def subtree(self, tenant_id: uuid.UUID) -> set[uuid.UUID]:
        """A tenant and every tenant below it (the city sees its towns)."""
        found, frontier = {tenant_id}, [tenant_id]
        while frontier:
            parent = frontier.pop()
            children = [t.id for t in self.tenants if t.parent_id == parent and t.id not in found]
            found.update(children)
            frontier.extend(children)
        return found

    def visible(self, roles: frozenset[Role], tenant_codes: Iterable[str]) -> tuple[uuid.UUID, ...]:
        codes = list(tenant_codes)
        if not codes:
            if roles & CITY_WIDE_ROLES:
                return tuple(t.id for t in self.tenants)
            return ()
        ids: set[uuid.UUID] = set()
        for code in codes:
            if code in self.by_code:
                ids |= self.subtree(self.by_code[code].id)
        return tuple(t.id for t in self.tenants if t.id in ids)


async def load_directory(session: AsyncSession) -> Directory:
    rows = (await session.execute(select(Tenant))).scalars().all()
    codes: dict[uuid.UUID | None, str] = {t.id: t.code for t in rows}
    return Directory.of(
        TenantInfo(
            t.id,
            t.code,
            t.name,
            TenantKind(t.kind),
            t.parent_id,
            codes.get(t.parent_id),
            t.division_code,
        )
        for t in rows
    )


async def directory(db: Database) -> Directory:
    """The directory, cached for a few seconds per database (towns change rarely)."""
    cached: Directory | None = db.cache.get("directory")
    if cached is not None:
        return cached
    async with db.session(()) as session:
        found = await load_directory(session)
    db.cache.put("directory", found, CACHE_SECONDS)
    return found


def forget_directory(db: Database) -> None:
    db.cache.pop("directory", None)
