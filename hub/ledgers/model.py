"""A ledger item with its measures, deadline, progress and closing (销号)."""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hub.db import Base, TenantOwned, new_id, utcnow


class LedgerKind(enum.StrEnum):
    PROBLEM = "PROBLEM"  # 复杂问题台账
    RECTIFICATION = "RECTIFICATION"  # 限期整改


class LedgerStatus(enum.StrEnum):
    OPEN = "OPEN"
    CLOSED = "CLOSED"


class LedgerItem(TenantOwned, Base):
    __tablename__ = "ledger_items"
    __table_args__ = (
        # TZ-2026-0001: numbered per town and year.
        UniqueConstraint("tenant_id", "number"),
        Index("ix_ledger_items_tenant_status_deadline", "tenant_id", "status", "deadline"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    number: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    measures: Mapped[list[str]]
    # The last local day on which the item is on time.
    deadline: Mapped[date] = mapped_column(Date)
    responsible_member_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("members.id"), index=True
    )
    source_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("sources.id"), index=True)
    case_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("cases.id"), index=True)
    status: Mapped[str] = mapped_column(String(8), default=LedgerStatus.OPEN)
    percent: Mapped[int] = mapped_column(default=0)
    # The card the time-limit sweep gave it (YELLOW, then RED), like a case's.
    card: Mapped[str | None] = mapped_column(String(8))
    carded_at: Mapped[datetime | None]
    opened_by: Mapped[str] = mapped_column(String(100))
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)
    verification: Mapped[str | None] = mapped_column(Text)
    closed_by: Mapped[str | None] = mapped_column(String(100))
    closed_at: Mapped[datetime | None]


class LedgerProgress(TenantOwned, Base):
    """One step of progress on an item, with the percent done after it."""

    __tablename__ = "ledger_progress"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    item_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ledger_items.id"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    note: Mapped[str] = mapped_column(Text)
    percent: Mapped[int]
    by: Mapped[str] = mapped_column(String(100))


class LedgerCounter(Base):
    """The next ledger number per town and year. Gaps are allowed."""

    __tablename__ = "ledger_counters"

    scope: Mapped[str] = mapped_column(String(48), primary_key=True)
    value: Mapped[int]
