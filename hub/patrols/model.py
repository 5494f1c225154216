"""Patrols (巡查) of grid members: the patrol, its track points and its findings."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from hub.db import Base, TenantOwned, new_id, utcnow


class PatrolKind(enum.StrEnum):
    ROUTINE = "ROUTINE"  # 日常巡查
    ENTERPRISE = "ENTERPRISE"  # 企业检查
    NIGHT = "NIGHT"  # 夜查
    JOINT = "JOINT"  # 联合巡查


class PatrolStatus(enum.StrEnum):
    OPEN = "OPEN"
    ENDED = "ENDED"


class Patrol(TenantOwned, Base):
    __tablename__ = "patrols"
    __table_args__ = (
        # A phone that retries sends the same clientId: the same patrol comes back.
        UniqueConstraint("member_id", "client_id"),
        # One open patrol per member, also against two phones racing.
        Index(
            "ix_patrols_one_open",
            "member_id",
            unique=True,
            sqlite_where=text("status = 'OPEN'"),
            postgresql_where=text("status = 'OPEN'"),
        ),
        Index("ix_patrols_tenant_started", "tenant_id", "started_at"),
        # A member's day (hub/diaries): their patrols by time.
        Index("ix_patrols_member_started", "member_id", "started_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    member_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("members.id"))
    grid_cell_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("grid_cells.id"))
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(8), default=PatrolStatus.OPEN)
    client_id: Mapped[str] = mapped_column(String(100))
    source_ids: Mapped[list[str]]
    started_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    summary: Mapped[str | None] = mapped_column(Text)
    track_meters: Mapped[float] = mapped_column(default=0.0)
    point_count: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TrackPoint(TenantOwned, Base):
    """One GPS fix; a fix at a time already stored is the same fix sent again."""

    __tablename__ = "patrol_points"
    __table_args__ = (UniqueConstraint("patrol_id", "at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    patrol_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patrols.id"))
    at: Mapped[datetime]
    latitude: Mapped[float]
    longitude: Mapped[float]


class Finding(TenantOwned, Base):
    """A problem found on a patrol: the GRID report it became, kept by the phone's clientId."""

    __tablename__ = "patrol_findings"
    __table_args__ = (UniqueConstraint("patrol_id", "client_id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    patrol_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patrols.id"), index=True)
    client_id: Mapped[str] = mapped_column(String(100))
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id"))
    resolved_on_site: Mapped[bool] = mapped_column(default=False)
    data: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
