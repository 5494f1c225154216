"""The case graph: reports arrive, cases are the problems they are about."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hub.attachments.model import Attachment
from hub.cases.enums import OPEN_STATUSES, Card, CaseStatus, Channel, channels_of
from hub.db import Base, TenantOwned, new_id, utcnow
from hub.grid.model import GridCell, Member
from hub.sources.model import Source
from hub.tenancy.model import Tenant


class Case(TenantOwned, Base):
    __tablename__ = "cases"
    __table_args__ = (
        Index("ix_cases_tenant_created", "tenant_id", "created_at", "id"),
        Index("ix_cases_created", "created_at", "id"),
        Index("ix_cases_status_due", "status", "due_at"),
        # The duplicate search: a source's recent cases of a category; recent cases of a
        # category in a band of latitude around a point (a few index entries, not a day's).
        Index("ix_cases_source_category_created", "source_id", "category", "created_at"),
        Index("ix_cases_category_latitude", "category", "latitude", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default=CaseStatus.REGISTERED)
    category: Mapped[str] = mapped_column(String(16))
    priority: Mapped[str] = mapped_column(String(8))
    card: Mapped[str] = mapped_column(String(8), default=Card.NONE)
    channel_mask: Mapped[int] = mapped_column(default=0)  # every channel its reports came by
    report_count: Mapped[int] = mapped_column(default=0)
    needs_feedback: Mapped[bool] = mapped_column(default=True)
    grid_cell_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("grid_cells.id"))
    assignee_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("members.id"))
    source_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("sources.id"))
    merged_into_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("cases.id"))
    address: Mapped[str | None] = mapped_column(String(500))
    latitude: Mapped[float | None]
    longitude: Mapped[float | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    accept_due_at: Mapped[datetime | None]
    due_at: Mapped[datetime | None]
    # The deadline came from outside (the city platform, the dispatcher, an approved extension)
    # and is kept rather than computed from the rules.
    due_fixed: Mapped[bool] = mapped_column(default=False)
    resolved_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    # Why a town handed the case back to the command centre (退回指挥中心); cleared at dispatch.
    returned_reason: Mapped[str | None] = mapped_column(Text)
    # Facts read back and counted (caseStats): when staff were on site, from the latest result
    # that said so, and the caller's latest satisfaction. The events keep the history.
    on_site_at: Mapped[datetime | None]
    satisfaction: Mapped[str | None] = mapped_column(String(24))

    tenant: Mapped[Tenant] = relationship(lazy="raise")
    grid_cell: Mapped[GridCell | None] = relationship(lazy="raise")
    assignee: Mapped[Member | None] = relationship(lazy="raise")
    source: Mapped[Source | None] = relationship(lazy="raise")
    reports: Mapped[list[Report]] = relationship(
        back_populates="case", lazy="raise", order_by="(Report.received_at, Report.id)"
    )
    events: Mapped[list[Event]] = relationship(
        lazy="raise", order_by="(Event.at, Event.id)", viewonly=True
    )
    links: Mapped[list[CaseLink]] = relationship(
        lazy="raise", foreign_keys="CaseLink.case_id", viewonly=True
    )
    external_refs: Mapped[list[ExternalRef]] = relationship(lazy="raise", viewonly=True)
    # Photos and documents attached to the case (or to the finding it came from), in the order
    # attached: through hub/attachments' links, so read-only here.
    attachments: Mapped[list[Attachment]] = relationship(
        secondary="attachment_links",
        primaryjoin="and_(Case.id == foreign(attachment_links.c.owner_id), "
        "attachment_links.c.owner_kind == 'CASE')",
        secondaryjoin="Attachment.id == foreign(attachment_links.c.attachment_id)",
        order_by="attachment_links.c.linked_at",
        lazy="raise",
        viewonly=True,
    )
    candidates: Mapped[list[CaseCandidate]] = relationship(
        lazy="raise",
        foreign_keys="CaseCandidate.case_id",
        viewonly=True,
        order_by="(CaseCandidate.distance_m, CaseCandidate.id)",
    )

    @property
    def channels(self) -> list[Channel]:
        return channels_of(self.channel_mask)

    def is_overdue(self, now: datetime) -> bool:
        return self.status in OPEN_STATUSES and self.due_at is not None and self.due_at < now


class Report(TenantOwned, Base):
    """One arrival from one channel, kept verbatim. (channel, external_id) is idempotent within
    a town: unique keys include tenant_id, so no town can probe another's ids through them."""

    __tablename__ = "reports"
    __table_args__ = (
        UniqueConstraint("tenant_id", "channel", "external_id"),
        Index("ix_reports_reporter_phone", "reporter_phone"),  # a repeat caller's open case
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str | None] = mapped_column(String(128))
    received_at: Mapped[datetime]
    occurred_at: Mapped[datetime | None]
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    category: Mapped[str] = mapped_column(String(16))
    reporter_name: Mapped[str | None] = mapped_column(String(100))
    reporter_phone: Mapped[str | None] = mapped_column(String(32))
    anonymous: Mapped[bool] = mapped_column(default=False)
    address: Mapped[str | None] = mapped_column(String(500))
    latitude: Mapped[float | None]
    longitude: Mapped[float | None]
    source_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("sources.id"))
    payload: Mapped[dict[str, Any]]  # the arrival as it came, verbatim
    outcome: Mapped[str] = mapped_column(String(16))  # ReportOutcome
    outcome_reason: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The caller's query code (查询码), keyed-hashed (hub/public/codes.py); on the report, not
    # the case, so each caller has their own and it follows the report when cases merge.
    query_code_hash: Mapped[str | None] = mapped_column(String(64))

    case: Mapped[Case] = relationship(back_populates="reports", lazy="raise")


class Event(TenantOwned, Base):
    """The timeline: every transition, note, urge and card, with actor and time."""

    __tablename__ = "case_events"
    __table_args__ = (
        Index("ix_case_events_case_at", "case_id", "at"),
        # A member's day (hub/diaries): the steps they took, by time.
        Index("ix_case_events_member_at", "member_id", "at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id"))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    action: Mapped[str] = mapped_column(String(24))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str | None] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text)
    actor_id: Mapped[str] = mapped_column(String(64))
    actor_name: Mapped[str] = mapped_column(String(100))
    # The grid member the actor's token or account stands for (None for everyone else): what
    # ties a step to a person's work diary whatever kind of login took it.
    member_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("members.id"))
    data: Mapped[dict[str, Any]]


class CaseLink(TenantOwned, Base):
    __tablename__ = "case_links"
    __table_args__ = (UniqueConstraint("case_id", "other_case_id", "kind"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id"), index=True)
    other_case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id"))
    kind: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    other_case: Mapped[Case] = relationship(foreign_keys=[other_case_id], lazy="raise")


class ExternalRef(TenantOwned, Base):
    __tablename__ = "case_external_refs"
    __table_args__ = (UniqueConstraint("tenant_id", "system", "external_id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id"), index=True)
    system: Mapped[str] = mapped_column(String(32))
    external_id: Mapped[str] = mapped_column(String(128))


class CaseCandidate(TenantOwned, Base):
    """An open case a new case may duplicate, found when it was opened but not sure enough to
    merge by itself: shown to the dispatcher as possibleDuplicates."""

    __tablename__ = "case_candidates"
    __table_args__ = (UniqueConstraint("case_id", "candidate_id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id"), index=True)
    candidate_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id"))
    distance_m: Mapped[float]
    reason: Mapped[str] = mapped_column(String(16))  # hub.cases.duplicates.Reason
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    candidate: Mapped[Case] = relationship(foreign_keys=[candidate_id], lazy="raise")


class CaseCounter(Base):
    """The next human case number per scope (prefix and year). Gaps are allowed."""

    __tablename__ = "case_counters"

    scope: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[int]
