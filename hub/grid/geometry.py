"""Which grid cell contains a point (pure; GEOS through shapely)."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any

from shapely import STRtree, points
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry


@dataclass(frozen=True)
class CellShape:
    cell_id: uuid.UUID
    tenant_id: uuid.UUID
    level: int
    geometry: BaseGeometry


class GridIndex:
    """An R-tree over the cells' polygons; the deepest containing cell wins."""

    def __init__(self, cells: Iterable[CellShape]) -> None:
        self.cells = [c for c in cells if c.geometry.is_valid and not c.geometry.is_empty]
        self._tree = STRtree([c.geometry for c in self.cells])

    def locate(
        self, longitude: float, latitude: float, tenant_ids: Collection[uuid.UUID] | None = None
    ) -> CellShape | None:
        hits = self._tree.query(points(longitude, latitude), predicate="within")
        found = [self.cells[i] for i in hits]
        if tenant_ids is not None:
            found = [c for c in found if c.tenant_id in tenant_ids]
        return max(found, key=lambda c: c.level, default=None)


def cell_shape(
    cell_id: uuid.UUID, tenant_id: uuid.UUID, level: int, polygon: dict[str, Any]
) -> CellShape | None:
    try:
        return CellShape(cell_id, tenant_id, level, shape(polygon))
    except (ValueError, TypeError, AttributeError, KeyError):
        return None  # a malformed polygon routes nothing rather than failing every intake
