"""Which town (and grid cell) a report belongs to, and why.

The order: the town the sender names; else the grid cell that contains the point; else the
source's town; else the city command centre's queue. A caller only routes into towns it sees.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from hub.auth import Scope
from hub.errors import invalid, not_found
from hub.grid.service import grid_index
from hub.sources.model import Source

if TYPE_CHECKING:
    from hub.cases.service import RegisterInput


@dataclass(frozen=True)
class Route:
    tenant_id: uuid.UUID
    grid_cell_id: uuid.UUID | None
    source_id: uuid.UUID | None
    reason: str


async def route_report(session: AsyncSession, scope: Scope, inp: RegisterInput) -> Route:
    source = await _source(session, inp.source_id)
    cell = await _containing_cell(session, scope, inp)
    if inp.tenant_code:
        tenant = scope.directory.by_code.get(inp.tenant_code)
        if tenant is None or not scope.sees(tenant.id):
            raise invalid("tenantCode", f"unknown town {inp.tenant_code!r}")
        in_town = cell if cell and cell.tenant_id == tenant.id else None
        return Route(
            tenant.id,
            in_town and in_town.cell_id,
            _id(source),
            f"town named by the sender: {tenant.code}",
        )
    if cell is not None:
        code = scope.directory.by_id[cell.tenant_id].code
        return Route(
            cell.tenant_id, cell.cell_id, _id(source), f"the point lies in grid cell of {code}"
        )
    if source is not None:
        code = scope.directory.by_id[source.tenant_id].code
        return Route(source.tenant_id, source.grid_cell_id, source.id, f"the source's town: {code}")
    return Route(_fallback(scope), None, None, "no town, point or source: command centre queue")


async def _source(session: AsyncSession, source_id: uuid.UUID | None) -> Source | None:
    if source_id is None:
        return None
    source = await session.get(Source, source_id)
    if source is None:
        raise not_found("source", "sourceId")
    return source


async def _containing_cell(session: AsyncSession, scope: Scope, inp: RegisterInput):
    if inp.latitude is None or inp.longitude is None:
        return None
    index = await grid_index(session.info["db"])
    return index.locate(inp.longitude, inp.latitude, set(scope.tenant_ids))


def _fallback(scope: Scope) -> uuid.UUID:
    city = scope.directory.city
    if city is not None and scope.sees(city.id):
        return city.id
    if not scope.tenant_ids:
        raise not_found("a town you may register into", "tenantCode")
    return scope.tenant_ids[0]


def _id(source: Source | None) -> uuid.UUID | None:
    return source.id if source else None
