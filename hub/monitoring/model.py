"""Monitoring points: HJ 212 devices on stacks and outfalls, and air stations."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from hub.db import Base, TenantOwned, new_id, utcnow


class PointKind(enum.StrEnum):
    AIR_STATION = "AIR_STATION"
    FLUE_GAS = "FLUE_GAS"
    WASTEWATER = "WASTEWATER"
    NOISE = "NOISE"
    OTHER = "OTHER"


class MonitoringPoint(TenantOwned, Base):
    __tablename__ = "monitoring_points"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    mn: Mapped[str] = mapped_column(String(32), unique=True)  # the device's MN
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    source_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("sources.id"))
    password: Mapped[str | None] = mapped_column(String(32))  # the PW the device must send
    latitude: Mapped[float | None]
    longitude: Mapped[float | None]
    limits: Mapped[list[dict[str, Any]]]  # [{pollutant, max, min, unit}]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime | None]
