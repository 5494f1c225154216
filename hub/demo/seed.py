"""Writing the demo world (hub.demo.world) to a database, idempotently.

Rows are found by their natural keys - tenant code; (tenant, cell code); (tenant, member name);
(tenant, source name); MN - and only the missing ones are created, so a rerun changes nothing
and a rerun after a partial run completes it.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

import hub.models  # noqa: F401  (every mapper configured before the first query)
from hub.db import Database, new_id
from hub.demo import world
from hub.grid.model import GridCell, Member, MemberRole
from hub.monitoring.model import MonitoringPoint, PointKind
from hub.sources.model import Source
from hub.supervision.calendar import ensure_calendars
from hub.tenancy.model import Tenant, TenantKind
from hub.tenancy.service import forget_directory

Key = tuple[str, str]  # (tenant code, cell code or source name)


async def seed_demo(db: Database) -> dict[str, int]:
    """Create whatever of the demo world is missing; return how many rows of each were made."""
    counts = {
        "tenants": 0,
        "grid_cells": 0,
        "members": 0,
        "sources": 0,
        "monitoring_points": 0,
        "work_days": 0,
    }
    async with db.session((), write=True) as session, session.begin():
        tenants, counts["tenants"] = await _seed_tenants(session)
    async with db.session(tenants.values(), write=True) as session, session.begin():
        cells, counts["grid_cells"] = await _seed_cells(session, tenants)
        counts["members"] = await _seed_members(session, tenants, cells)
        sources, counts["sources"] = await _seed_sources(session, tenants, cells)
        counts["monitoring_points"] = await _seed_points(session, tenants, sources)
    forget_directory(db)
    counts["work_days"] = await ensure_calendars(db)
    return counts


async def _seed_tenants(session: AsyncSession) -> tuple[dict[str, uuid.UUID], int]:
    codes = [t.code for t in world.TENANTS]
    rows = {t.code: t for t in await session.scalars(select(Tenant).where(Tenant.code.in_(codes)))}
    ids = {code: t.id for code, t in rows.items()}
    created = 0
    for t in world.TENANTS:  # the city comes first, so a town's parent is always known
        if t.code in ids:
            # A world seeded before tenants had division codes gets them now.
            rows[t.code].division_code = rows[t.code].division_code or t.division_code
            continue
        ids[t.code] = new_id()
        parent = ids[t.parent] if t.parent else None
        kind = TenantKind(t.kind).value
        session.add(
            Tenant(
                id=ids[t.code],
                code=t.code,
                name=t.name,
                kind=kind,
                parent_id=parent,
                division_code=t.division_code,
            )
        )
        await session.flush()
        created += 1
    return ids, created


async def _seed_cells(
    session: AsyncSession, tenants: dict[str, uuid.UUID]
) -> tuple[dict[Key, uuid.UUID], int]:
    code_of = {v: k for k, v in tenants.items()}
    rows = await session.execute(select(GridCell.tenant_id, GridCell.code, GridCell.id))
    ids = {(code_of[tid], code): cid for tid, code, cid in rows}
    created = 0
    for c in world.CELLS:  # parents come before their children
        if (c.tenant, c.code) in ids:
            continue
        ids[(c.tenant, c.code)] = new_id()
        session.add(_cell_row(c, ids, tenants))
        created += 1
    await session.flush()
    return ids, created


def _cell_row(
    c: world.DemoCell, ids: dict[Key, uuid.UUID], tenants: dict[str, uuid.UUID]
) -> GridCell:
    return GridCell(
        id=ids[(c.tenant, c.code)],
        tenant_id=tenants[c.tenant],
        code=c.code,
        name=c.name,
        level=c.level,
        parent_id=ids[c.parent] if c.parent else None,
        polygon=c.polygon,
    )


async def _seed_members(
    session: AsyncSession, tenants: dict[str, uuid.UUID], cells: dict[Key, uuid.UUID]
) -> int:
    existing = set(await session.execute(select(Member.tenant_id, Member.name)))
    created = 0
    for m in world.MEMBERS:
        tid = tenants[m.tenant]
        if (tid, m.name) in existing:
            continue
        role = MemberRole(m.role).value
        cell = cells[(m.tenant, m.cell)]
        session.add(
            Member(
                tenant_id=tid,
                name=m.name,
                role=role,
                phone=m.phone,
                grid_cell_id=cell,
                external_id=m.external_id,
            )
        )
        created += 1
    await session.flush()
    return created


async def _seed_sources(
    session: AsyncSession, tenants: dict[str, uuid.UUID], cells: dict[Key, uuid.UUID]
) -> tuple[dict[Key, uuid.UUID], int]:
    code_of = {v: k for k, v in tenants.items()}
    rows = await session.execute(select(Source.tenant_id, Source.name, Source.id))
    ids = {(code_of[tid], name): sid for tid, name, sid in rows}
    created = 0
    for s in world.SOURCES:
        if (s.tenant, s.name) in ids:
            continue
        ids[(s.tenant, s.name)] = new_id()
        session.add(_source_row(s, ids, tenants, cells))
        created += 1
    await session.flush()
    return ids, created


def _source_row(
    s: world.DemoSource,
    ids: dict[Key, uuid.UUID],
    tenants: dict[str, uuid.UUID],
    cells: dict[Key, uuid.UUID],
) -> Source:
    return Source(
        id=ids[(s.tenant, s.name)],
        tenant_id=tenants[s.tenant],
        name=s.name,
        industry=s.industry,
        address=s.address,
        latitude=s.latitude,
        longitude=s.longitude,
        grid_cell_id=cells[(s.tenant, s.cell)],
    )


async def _seed_points(
    session: AsyncSession, tenants: dict[str, uuid.UUID], sources: dict[Key, uuid.UUID]
) -> int:
    mns = [p.mn for p in world.POINTS]
    existing = set(
        await session.scalars(select(MonitoringPoint.mn).where(MonitoringPoint.mn.in_(mns)))
    )
    created = 0
    for p in world.POINTS:
        if p.mn in existing:
            continue
        session.add(_point_row(p, tenants, sources))
        created += 1
    await session.flush()
    return created


def _point_row(
    p: world.DemoPoint, tenants: dict[str, uuid.UUID], sources: dict[Key, uuid.UUID]
) -> MonitoringPoint:
    return MonitoringPoint(
        tenant_id=tenants[p.tenant],
        mn=p.mn,
        name=p.name,
        kind=PointKind(p.kind).value,
        source_id=sources[(p.tenant, p.source)] if p.source else None,
        password=p.password,
        latitude=p.latitude,
        longitude=p.longitude,
        limits=[limit.as_dict() for limit in p.limits],
    )
