"""Information briefings (信息简报): what the bureau reported up, and whether it was used."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hub.db import Base, TenantOwned, new_id, utcnow


class Briefing(TenantOwned, Base):
    """One issue (期) of the bureau's briefing, owned by the city tenant (the bureau's own
    record, not a town's). Issues are numbered per year (the year of submittedAt in local
    time): (tenant, year, issue) is unique."""

    __tablename__ = "briefings"
    __table_args__ = (
        UniqueConstraint("tenant_id", "year", "issue"),
        Index("ix_briefings_tenant_submitted", "tenant_id", "submitted_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    year: Mapped[int]
    issue: Mapped[int]
    title: Mapped[str] = mapped_column(String(200))
    submitted_to: Mapped[str] = mapped_column(String(100))
    submitted_at: Mapped[datetime]
    adopted_by: Mapped[str | None] = mapped_column(String(100))
    adopted_at: Mapped[datetime | None]
    recorded_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
