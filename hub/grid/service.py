"""Grid cells, members, and routing a point to its cell."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from hub.auth import Scope
from hub.db import Database
from hub.grid.geometry import GridIndex, cell_shape
from hub.grid.model import GridCell
from hub.roles import Permission

INDEX_CACHE_SECONDS = 30.0
INDEX_KEY = "grid_index"  # saving a cell forgets it (hub.grid.admin)


async def list_cells(
    session: AsyncSession, scope: Scope, tenant_code: str | None
) -> list[GridCell]:
    scope.require(Permission.GRID_READ)
    query = (
        select(GridCell)
        .options(selectinload(GridCell.members))
        .order_by(GridCell.level, GridCell.code)
    )
    if tenant_code is not None:
        tenant = scope.directory.by_code.get(tenant_code)
        if tenant is None:
            return []
        query = query.where(GridCell.tenant_id == tenant.id)
    return list((await session.scalars(query)).all())


async def grid_index(db: Database) -> GridIndex:
    """Every tenant's cells in one index, cached briefly; callers filter by their scope."""
    cached: GridIndex | None = db.cache.get(INDEX_KEY)
    if cached is not None:
        return cached
    from hub.tenancy.service import directory

    ids = [t.id for t in (await directory(db)).tenants]
    async with db.session(ids) as session:
        rows = await session.execute(
            select(GridCell.id, GridCell.tenant_id, GridCell.level, GridCell.polygon).where(
                GridCell.polygon.is_not(None), GridCell.active.is_(True)
            )
        )
        shapes = [cell_shape(*row) for row in rows]
    index = GridIndex(s for s in shapes if s is not None)
    db.cache.put(INDEX_KEY, index, INDEX_CACHE_SECONDS)
    return index
