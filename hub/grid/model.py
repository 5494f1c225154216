"""Grid cells (网格, three levels) and the members who work them."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hub.db import Base, TenantOwned, new_id, utcnow


class MemberRole(enum.StrEnum):
    CHIEF = "CHIEF"  # 网格长
    GRIDMAN = "GRIDMAN"  # 网格员
    SECONDED = "SECONDED"  # 下沉人员
    INSPECTOR = "INSPECTOR"  # 专职监管员


class GridCell(TenantOwned, Base):
    __tablename__ = "grid_cells"
    __table_args__ = (UniqueConstraint("tenant_id", "code"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(100))
    level: Mapped[int]  # 1 city, 2 town, 3 village or community
    parent_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("grid_cells.id"))
    polygon: Mapped[dict[str, Any] | None]  # a GeoJSON Polygon or MultiPolygon (lon, lat)
    # Retired cells are kept (cases and patrols name them) but route nothing.
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime | None]

    members: Mapped[list[Member]] = relationship(
        back_populates="grid_cell", lazy="raise", order_by="Member.name"
    )


class Member(TenantOwned, Base):
    __tablename__ = "members"
    # The bureau's own staff number keys a person within a town (saveMember, sanwang import).
    __table_args__ = (UniqueConstraint("tenant_id", "external_id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(16))
    phone: Mapped[str | None] = mapped_column(String(32))
    grid_cell_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("grid_cells.id"), index=True)
    active: Mapped[bool] = mapped_column(default=True)
    # None only for people stored before staff numbers were kept (the demo's first seed).
    external_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime | None]

    grid_cell: Mapped[GridCell | None] = relationship(back_populates="members", lazy="raise")
