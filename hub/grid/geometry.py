"""Which grid cell contains a point (pure; GEOS through shapely)."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any

from shapely import STRtree, points
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry
from shapely.validation import explain_validity

from hub.errors import invalid


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


POLYGON_TYPES = ("Polygon", "MultiPolygon")


def check_polygon(value: Any, field: str = "polygon") -> dict[str, Any] | None:
    """A cell's boundary as stored: a valid GeoJSON Polygon or MultiPolygon in WGS 84 degrees
    (longitude, latitude), only its type and coordinates kept; VALIDATION naming ``field``.
    A self-crossing ring would route points to the wrong cell, so it is refused, not repaired."""
    if value is None:
        return None
    if not isinstance(value, dict) or value.get("type") not in POLYGON_TYPES:
        raise invalid(field, f"{field}：须为 GeoJSON 的 Polygon 或 MultiPolygon")
    kept = {"type": value["type"], "coordinates": value.get("coordinates")}
    try:
        geometry = shape(kept)
    except (ValueError, TypeError, AttributeError, KeyError, IndexError):
        raise invalid(field, f"{field}：坐标格式不对（须为 [经度, 纬度] 组成的闭合环）") from None
    if geometry.is_empty:
        raise invalid(field, f"{field}：多边形没有面积")
    west, south, east, north = geometry.bounds
    if not (-180 <= west <= east <= 180 and -90 <= south <= north <= 90):
        raise invalid(field, f"{field}：坐标超出范围（经度 -180～180，纬度 -90～90，经度在前）")
    if not geometry.is_valid:
        raise invalid(field, f"{field}：多边形无效（{explain_validity(geometry)}）")
    return kept
