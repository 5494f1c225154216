"""Time limits (限时办结): rules as data, each hop's clocks stored when they are set, cards,
extension requests, and the working calendar they count in."""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hub.db import Base, TenantOwned, new_id, utcnow


class Level(enum.StrEnum):
    """The level of the office that holds a hop."""

    CITY = "CITY"
    TOWN = "TOWN"
    GRID = "GRID"


class Phase(enum.StrEnum):
    DISPATCH = "DISPATCH"  # 登记 -> 转办: the holding office (city or town) dispatches it
    ACCEPT = "ACCEPT"  # 签收
    HANDLE = "HANDLE"  # 办理
    REVIEW = "REVIEW"  # 督查/审核
    FEEDBACK = "FEEDBACK"  # 反馈
    DONE = "DONE"


class LimitUnit(enum.StrEnum):
    HOURS = "HOURS"
    WORKING_DAYS = "WORKING_DAYS"


class TimeLimitRule(Base):
    """A phase's yellow and red thresholds for a level; blank category, priority or channel
    match any, and the most specific rule wins."""

    __tablename__ = "time_limit_rules"
    __table_args__ = (UniqueConstraint("level", "phase", "category", "priority", "channel"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    level: Mapped[str] = mapped_column(String(8))
    phase: Mapped[str] = mapped_column(String(8))
    category: Mapped[str | None] = mapped_column(String(16))
    priority: Mapped[str | None] = mapped_column(String(8))
    channel: Mapped[str | None] = mapped_column(String(16))
    unit: Mapped[str] = mapped_column(String(16))
    yellow_after: Mapped[float]
    red_after: Mapped[float]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class CaseHop(TenantOwned, Base):
    """One office's turn with a case (city -> town -> grid member, and back when returned).
    ``yellow_at`` and ``red_at`` are the current phase's thresholds, stored when the phase
    starts (and moved on resume), so "overdue" and "due soon" are indexed queries."""

    __tablename__ = "case_hops"
    __table_args__ = (
        UniqueConstraint("case_id", "seq"),
        Index("ix_case_hops_yellow_sweep", "tenant_id", "ended_at", "yellow_carded", "yellow_at"),
        Index("ix_case_hops_red_sweep", "tenant_id", "ended_at", "red_carded", "red_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id"), index=True)
    seq: Mapped[int]
    level: Mapped[str] = mapped_column(String(8))
    member_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("members.id"), index=True)
    from_tenant_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("tenants.id"))
    phase: Mapped[str] = mapped_column(String(8))
    phase_started_at: Mapped[datetime]
    yellow_at: Mapped[datetime | None]
    red_at: Mapped[datetime | None]
    suspended: Mapped[bool] = mapped_column(default=False)
    # Whether the sweep has carded the current phase's thresholds (reset when a phase starts).
    yellow_carded: Mapped[bool] = mapped_column(default=False)
    red_carded: Mapped[bool] = mapped_column(default=False)
    card: Mapped[str] = mapped_column(String(8), default="NONE")  # the worst card of this hop
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)
    accepted_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    end_reason: Mapped[str | None] = mapped_column(String(24))


class CaseCard(TenantOwned, Base):
    """A yellow or red card (红黄牌), kept on record after the case is resolved."""

    __tablename__ = "case_cards"
    __table_args__ = (Index("ix_case_cards_tenant_issued", "tenant_id", "issued_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id"), index=True)
    hop_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("case_hops.id"))
    member_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("members.id"), index=True)
    level: Mapped[str] = mapped_column(String(8))
    phase: Mapped[str | None] = mapped_column(String(8))
    reason: Mapped[str] = mapped_column(Text)
    automatic: Mapped[bool]
    # hop:phase:level for cards the sweep issues: the sweep cannot issue one twice.
    sweep_key: Mapped[str | None] = mapped_column(String(96), unique=True)
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    issued_by_id: Mapped[str] = mapped_column(String(64))
    issued_by_name: Mapped[str] = mapped_column(String(100))


class ExtensionRequest(TenantOwned, Base):
    """延期申请: a new deadline asked for, which a supervisor approves or refuses."""

    __tablename__ = "extension_requests"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id"), index=True)
    hop_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("case_hops.id"))
    requested_due_at: Mapped[datetime]
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(12), default="PENDING")
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    requested_by_id: Mapped[str] = mapped_column(String(64))
    requested_by_name: Mapped[str] = mapped_column(String(100))
    decided_at: Mapped[datetime | None]
    decided_by_id: Mapped[str | None] = mapped_column(String(64))
    decided_by_name: Mapped[str | None] = mapped_column(String(100))
    decision_note: Mapped[str | None] = mapped_column(Text)


class ExtensionStatus(enum.StrEnum):
    PENDING = "PENDING"  # 待审批
    APPROVED = "APPROVED"
    REFUSED = "REFUSED"


class WorkDay(TenantOwned, Base):
    """One row per tenant and day, seeded from China's official calendar and editable, because a
    county's calendar can differ."""

    __tablename__ = "work_days"

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    day: Mapped[date] = mapped_column(primary_key=True)
    workday: Mapped[bool]
    reason: Mapped[str] = mapped_column(
        String(64)
    )  # 工作日, 周末, 国庆节, 调休上班, or an edit's reason
