"""A member's own words for a day, every edit kept, and a supervisor's spot check of the day."""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hub.db import Base, TenantOwned, new_id, utcnow


class SpotCheckResult(enum.StrEnum):
    PASS = "PASS"  # 合格
    FAIL = "FAIL"  # 不合格


class Diary(TenantOwned, Base):
    """The member's text for one local day; the day's record itself is derived, never stored."""

    __tablename__ = "work_diaries"
    __table_args__ = (
        UniqueConstraint("member_id", "day"),
        Index("ix_work_diaries_tenant_day", "tenant_id", "day"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    member_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("members.id"))
    day: Mapped[date] = mapped_column(Date)
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class DiaryRevision(TenantOwned, Base):
    """Every text a diary has had, oldest first: an edit never loses what was written."""

    __tablename__ = "work_diary_revisions"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    diary_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("work_diaries.id"), index=True)
    text: Mapped[str] = mapped_column(Text)
    written_at: Mapped[datetime] = mapped_column(default=utcnow)
    written_by: Mapped[str] = mapped_column(String(100))


class SpotCheck(TenantOwned, Base):
    """One check of a member's diary and patrol record for one local day."""

    __tablename__ = "spot_checks"
    __table_args__ = (
        UniqueConstraint("member_id", "day"),
        Index("ix_spot_checks_tenant_day", "tenant_id", "day"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    member_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("members.id"))
    day: Mapped[date] = mapped_column(Date)
    result: Mapped[str] = mapped_column(String(8))
    note: Mapped[str] = mapped_column(Text)
    checked_by: Mapped[str] = mapped_column(String(100))
    checked_at: Mapped[datetime] = mapped_column(default=utcnow)
