"""Which town (and grid cell) a report belongs to, and why.

The order: the town the sender names; else the town's grid cell that contains the point; else
the source's town; else the town or village the address names (a gazetteer of the grid cells'
and towns' names) or, without an address, the one the description names (a caller who says
"超化镇马鞍河村附近水泥厂粉尘很大" has said where); else the city command centre's queue. A
caller only routes into towns it sees. The route's step and reason go on the case's timeline.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.auth import Scope
from hub.cases.gazetteer import Gazetteer, Place
from hub.db import Database
from hub.errors import not_found, unknown_town
from hub.grid.model import GridCell
from hub.grid.service import grid_index
from hub.sources.model import Source
from hub.tenancy.model import TenantKind

if TYPE_CHECKING:
    from hub.cases.inputs import RegisterInput

GAZETTEER_CACHE_SECONDS = 30.0
CITY_LEVEL = 1  # a point only the city's cell holds says less than a source or a village


class RouteStep(enum.StrEnum):
    TOWN = "TOWN"  # the sender named the town
    GRID_CELL = "GRID_CELL"  # the point lies in a grid cell
    SOURCE = "SOURCE"  # the matched source's town
    ADDRESS = "ADDRESS"  # the address names a town or village
    COMMAND_CENTRE = "COMMAND_CENTRE"  # nothing to go by: the city's queue


@dataclass(frozen=True)
class Route:
    tenant_id: uuid.UUID
    grid_cell_id: uuid.UUID | None
    source_id: uuid.UUID | None
    reason: str
    step: RouteStep = RouteStep.COMMAND_CENTRE


@dataclass(frozen=True)
class KnownSource:
    """What routing needs of a source the caller has already found (the hotline matches a
    named enterprise against its cached sources): no need to read it again."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    grid_cell_id: uuid.UUID | None


async def route_report(
    session: AsyncSession, scope: Scope, inp: RegisterInput, known: KnownSource | None = None
) -> Route:
    """The report's route. ``known``: the source ``inp.source_id`` names, as its caller found
    it in the towns the caller sees (else the source is read)."""
    source = await _source(session, inp.source_id, known)
    cell = await _containing_cell(session, scope, inp)
    if inp.tenant_code:
        tenant = scope.directory.by_code.get(inp.tenant_code)
        if tenant is None or not scope.sees(tenant.id):
            raise unknown_town("tenantCode", inp.tenant_code)
        in_town = cell if cell and cell.tenant_id == tenant.id else None
        return Route(
            tenant.id,
            in_town and in_town.cell_id,
            _id(source),
            f"发件方指定乡镇：{tenant.name}",
            RouteStep.TOWN,
        )
    if cell is not None and cell.level > CITY_LEVEL:
        town = scope.directory.by_id[cell.tenant_id].name
        return Route(
            cell.tenant_id,
            cell.cell_id,
            _id(source),
            f"位置在{town}的网格内",
            RouteStep.GRID_CELL,
        )
    if source is not None:
        town = scope.directory.by_id[source.tenant_id].name
        return Route(
            source.tenant_id,
            source.grid_cell_id,
            source.id,
            f"污染源所在乡镇：{town}",
            RouteStep.SOURCE,
        )
    named = await _named_place(session, scope, inp.address, inp.description)
    if named is not None:
        return named
    if cell is not None:  # only the city's own cell holds the point: its command centre
        return Route(
            cell.tenant_id,
            cell.cell_id,
            None,
            "位置仅在市级网格内：转指挥中心",
            RouteStep.GRID_CELL,
        )
    return Route(
        _fallback(scope),
        None,
        None,
        "未提供乡镇、位置、污染源或地名：转指挥中心",
        RouteStep.COMMAND_CENTRE,
    )


async def _named_place(
    session: AsyncSession, scope: Scope, address: str | None, description: str | None
) -> Route | None:
    """The place the address names; the description is read only when there is no address
    (an address that names nothing known is not second-guessed from the words)."""
    where, text = ("地址", address) if address else ("描述", description)
    if not text:
        return None
    found = (await gazetteer(session.info["db"], scope)).find(text)
    if found is None or not scope.sees(found.place.tenant_id):
        return None
    place = found.place
    town = scope.directory.by_id[place.tenant_id].name
    words = "、".join(dict.fromkeys(found.words))
    return Route(
        place.tenant_id,
        place.cell_id,
        None,
        f"{where}提到{words}：{_in_town(place.name, town)}",
        RouteStep.ADDRESS,
    )


def _in_town(place: str, town: str) -> str:
    """The place with its town's name in front, unless it begins with it already."""
    return place if place.startswith(town) else f"{town}{place}"


async def gazetteer(db: Database, scope: Scope) -> Gazetteer:
    """Every town's place names (grid cells of level 2 and 3, town names), cached briefly."""
    cached: Gazetteer | None = db.cache.get("gazetteer")
    if cached is not None:
        return cached
    towns = [t for t in scope.directory.tenants if t.kind == TenantKind.TOWN]
    places = [Place(t.id, None, 2, t.name) for t in towns]
    async with db.session([t.id for t in towns]) as session:
        rows = await session.execute(
            select(GridCell.id, GridCell.tenant_id, GridCell.level, GridCell.name).where(
                GridCell.level >= 2
            )
        )
        places += [Place(r.tenant_id, r.id, r.level, r.name) for r in rows]
    found = Gazetteer(places)
    db.cache.put("gazetteer", found, GAZETTEER_CACHE_SECONDS)
    return found


async def _source(
    session: AsyncSession, source_id: uuid.UUID | None, known: KnownSource | None
) -> Source | KnownSource | None:
    if source_id is None:
        return None
    if known is not None and known.id == source_id:
        return known
    source = await session.get(Source, source_id)
    if source is None:
        raise not_found("污染源", "sourceId")
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
        raise not_found("可登记的乡镇", "tenantCode")
    return scope.tenant_ids[0]


def _id(source: Source | KnownSource | None) -> uuid.UUID | None:
    return source.id if source else None
