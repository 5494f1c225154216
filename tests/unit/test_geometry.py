"""Routing a point to the deepest grid cell that contains it."""

from __future__ import annotations

import uuid

from hub.demo import world
from hub.grid.geometry import GridIndex, cell_shape

TOWN, OTHER = uuid.uuid4(), uuid.uuid4()


def square(x0: float, y0: float, x1: float, y1: float) -> dict:
    return {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]}


def index() -> tuple[GridIndex, dict[str, uuid.UUID]]:
    ids = {name: uuid.uuid4() for name in ("town", "village", "other")}
    cells = [
        cell_shape(ids["town"], TOWN, 2, square(0, 0, 10, 10)),
        cell_shape(ids["village"], TOWN, 3, square(0, 0, 5, 5)),
        cell_shape(ids["other"], OTHER, 2, square(20, 0, 30, 10)),
    ]
    return GridIndex(c for c in cells if c), ids


def test_deepest_cell_wins_and_scope_filters() -> None:
    grid, ids = index()
    assert grid.locate(1, 1).cell_id == ids["village"]
    assert grid.locate(7, 7).cell_id == ids["town"]
    assert grid.locate(25, 5).cell_id == ids["other"]
    assert grid.locate(25, 5, {TOWN}) is None
    assert grid.locate(50, 50) is None


def test_malformed_polygons_route_nothing_instead_of_failing() -> None:
    assert cell_shape(uuid.uuid4(), TOWN, 3, {"type": "Polygon", "coordinates": "x"}) is None
    bowtie = {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}
    shape = cell_shape(uuid.uuid4(), TOWN, 3, bowtie)
    assert GridIndex([shape] if shape else []).locate(0.5, 0.25) is None


def test_every_demo_village_center_routes_to_that_village() -> None:
    tenants = {t.code: uuid.uuid4() for t in world.TENANTS}
    ids = {(c.tenant, c.code): uuid.uuid4() for c in world.CELLS}
    grid = GridIndex(
        cell_shape(ids[(c.tenant, c.code)], tenants[c.tenant], c.level, c.polygon)
        for c in world.CELLS
    )
    for cell in (c for c in world.CELLS if c.level == 3):
        lons, lats = zip(*cell.ring[:-1], strict=True)
        found = grid.locate(sum(lons) / len(lons), sum(lats) / len(lats))
        assert found is not None and found.cell_id == ids[(cell.tenant, cell.code)]
