"""The demo world seeds idempotently and is geographically consistent (SQLite)."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from shapely.geometry import Point, shape
from sqlalchemy import delete, select

from hub.db import Database
from hub.demo import world
from hub.demo.seed import seed_demo
from hub.grid.model import GridCell, Member
from hub.migrations import upgrade
from hub.monitoring.model import MonitoringPoint
from hub.sources.model import Source
from hub.tenancy.model import Tenant

TENANT_CODES = {"xinmi", "laiji", "chaohua", "niudian", "dawei", "quliang", "goutang", "pingmo"}


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path}/demo.db"
    upgrade(url)  # synchronous: alembic's env.py runs its own event loop
    return url


@pytest.fixture
async def db(db_url: str):
    database = Database(db_url)
    yield database
    await database.dispose()


async def _tenant_ids(db: Database) -> dict[str, object]:
    async with db.session(()) as session:
        return {t.code: t.id for t in await session.scalars(select(Tenant))}


async def _load(db: Database, entity: type) -> list:
    ids = (await _tenant_ids(db)).values()
    async with db.session(ids) as session:
        return list(await session.scalars(select(entity)))


async def test_seed_twice_creates_everything_once(db: Database) -> None:
    first = await seed_demo(db)
    second = await seed_demo(db)

    assert first.pop("work_days") >= 8 * 365 * 3, "three years of calendar per tenant"
    assert first == {
        "tenants": 8,
        "grid_cells": len(world.CELLS),
        "members": len(world.MEMBERS),
        "sources": len(world.SOURCES),
        "monitoring_points": len(world.POINTS),
    }
    assert set(second.values()) == {0}
    assert set(await _tenant_ids(db)) == TENANT_CODES
    assert len(await _load(db, GridCell)) == len(world.CELLS)
    assert len(await _load(db, Member)) == len(world.MEMBERS)


async def test_rerun_completes_a_partial_seed(db: Database) -> None:
    await seed_demo(db)
    ids = (await _tenant_ids(db)).values()
    async with db.session(ids, write=True) as session, session.begin():
        await session.execute(delete(MonitoringPoint).where(MonitoringPoint.kind == "AIR_STATION"))
        await session.execute(delete(Member).where(Member.role == "GRIDMAN"))

    again = await seed_demo(db)

    gridmen = sum(m.role == "GRIDMAN" for m in world.MEMBERS)
    assert again == {"tenants": 0, "grid_cells": 0, "members": gridmen, "sources": 0,
                     "monitoring_points": 8, "work_days": 0}  # fmt: skip


async def test_cells_tile_their_towns(db: Database) -> None:
    await seed_demo(db)
    cells = await _load(db, GridCell)
    by_id = {c.id: c for c in cells}
    villages = [c for c in cells if c.level == 3]

    assert 3 * 7 <= len(villages) <= 5 * 7
    for cell in villages:
        poly = shape(cell.polygon)
        assert poly.is_valid, cell.code
        town = by_id[cell.parent_id]
        assert town.level == 2 and town.tenant_id == cell.tenant_id
        assert shape(town.polygon).covers(poly), cell.code
    for a, b in itertools.combinations(villages, 2):
        assert shape(a.polygon).intersection(shape(b.polygon)).area < 1e-12, (a.code, b.code)


async def test_towns_do_not_overlap_and_lie_in_the_county(db: Database) -> None:
    await seed_demo(db)
    cells = await _load(db, GridCell)
    county = shape(next(c for c in cells if c.level == 1).polygon)
    towns = [c for c in cells if c.level == 2]

    assert len(towns) == 7
    for town in towns:
        assert county.covers(shape(town.polygon)), town.code
        children = [shape(c.polygon) for c in cells if c.parent_id == town.id]
        assert sum(p.area for p in children) == pytest.approx(shape(town.polygon).area)
    for a, b in itertools.combinations(towns, 2):
        assert shape(a.polygon).intersection(shape(b.polygon)).area < 1e-12, (a.code, b.code)


async def test_sources_sit_in_their_village_and_mns_are_unique(db: Database) -> None:
    await seed_demo(db)
    cells = {c.id: c for c in await _load(db, GridCell)}
    sources = await _load(db, Source)
    points = await _load(db, MonitoringPoint)

    assert 15 <= len(sources) <= 25
    for source in sources:
        cell = cells[source.grid_cell_id]
        assert cell.level == 3 and cell.tenant_id == source.tenant_id
        assert shape(cell.polygon).contains(Point(source.longitude, source.latitude)), source.name
    mns = [p.mn for p in points]
    assert len(mns) == len(set(mns))
    assert all(14 <= len(mn) <= 24 and mn.isalnum() for mn in mns)
    with_source = [p for p in points if p.source_id is not None]
    assert {p.source_id for p in with_source} == {s.id for s in sources}
    assert sum(p.kind == "AIR_STATION" for p in points) == 8
