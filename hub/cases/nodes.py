"""GraphQL object types of the case graph, built from rows in one pass per list.

Every per-item field is a plain attribute (an async resolver per item costs graphql-core 2.5x
or more); related rows are loaded once per list by the resolver that asked for them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

import strawberry
from sqlalchemy import inspect

from hub.attachments.schema import Attachment
from hub.cases.duplicates import Reason, candidate_reason
from hub.cases.enums import (
    ACTION_LABELS,
    CARD_LABELS,
    CATEGORY_LABELS,
    CHANNEL_LABELS,
    OPEN_STATUSES,
    PRIORITY_LABELS,
    STATUS_LABELS,
)
from hub.cases.enums import Card as CardEnum
from hub.cases.enums import CaseStatus as CaseStatusEnum
from hub.cases.enums import Category as CategoryEnum
from hub.cases.enums import Channel as ChannelEnum
from hub.cases.enums import LinkKind as LinkKindEnum
from hub.cases.enums import Priority as PriorityEnum
from hub.cases.enums import ReportOutcome as ReportOutcomeEnum
from hub.cases.enums import Satisfaction as SatisfactionEnum
from hub.cases.model import Case as CaseRow
from hub.cases.model import CaseCandidate as CandidateRow
from hub.cases.model import Event as EventRow
from hub.cases.model import Report as ReportRow
from hub.cases.phones import mask_phone, redact_phones
from hub.grid.model import Member as MemberRow
from hub.grid.schema import Member
from hub.roles import UNMASKED_PHONE_ROLES, Role
from hub.sources.schema import Source
from hub.tenancy.schema import Tenant
from hub.tenancy.service import Directory, TenantInfo

# strawberry.enum registers on the enum class itself; mypy accepts the plain alias as a type
strawberry.enum(CaseStatusEnum, name="CaseStatus")
CaseStatus = CaseStatusEnum
strawberry.enum(ChannelEnum, name="Channel")
Channel = ChannelEnum
strawberry.enum(CategoryEnum, name="Category")
Category = CategoryEnum
strawberry.enum(PriorityEnum, name="Priority")
Priority = PriorityEnum
strawberry.enum(CardEnum, name="Card")
Card = CardEnum
strawberry.enum(LinkKindEnum, name="LinkKind")
LinkKind = LinkKindEnum
strawberry.enum(ReportOutcomeEnum, name="ReportOutcome")
ReportOutcome = ReportOutcomeEnum
strawberry.enum(SatisfactionEnum, name="Satisfaction")
Satisfaction = SatisfactionEnum


@dataclass(frozen=True)
class View:
    """What the viewer may see of a case, fixed once per request."""

    roles: frozenset[Role]
    directory: Directory
    now: datetime

    @property
    def sees_phones(self) -> bool:
        return bool(self.roles & UNMASKED_PHONE_ROLES)

    @property
    def sees_anonymous(self) -> bool:
        return Role.HOTLINE in self.roles

    def text(self, value: str) -> str:
        """Free text as this viewer may read it: numbers masked unless they see numbers."""
        return value if self.sees_phones else redact_phones(value)

    def note(self, value: str | None) -> str | None:
        return None if value is None else self.text(value)


@strawberry.type
class Location:
    address: str | None
    latitude: float | None
    longitude: float | None


@strawberry.type
class Actor:
    id: strawberry.ID
    name: str


@strawberry.type(description="Who reported: masked or hidden unless the viewer's role allows.")
class Reporter:
    name: str | None
    phone: str | None


@strawberry.type(description="One arrival from one channel, kept as it came.")
class Report:
    id: strawberry.ID
    channel: Channel
    external_id: str | None
    received_at: datetime
    summary: str
    title: str
    category: Category
    outcome: ReportOutcome
    outcome_reason: str
    reporter: Reporter | None
    anonymous: bool


@strawberry.type(description="One step on a case's timeline.")
class TimelineEntry:
    at: datetime
    action: str
    from_status: CaseStatus | None
    to_status: CaseStatus | None
    note: str | None
    actor: Actor
    label: str = strawberry.field(description="the action as a person reads it (Chinese)")
    on_site_at: datetime | None = strawberry.field(
        default=None, description="SUBMIT: when staff were on site (到场时间), if given"
    )
    satisfaction: Satisfaction | None = strawberry.field(
        default=None, description="FEEDBACK: what the caller said of the result"
    )


@strawberry.type
class GridCellRef:
    id: strawberry.ID
    code: str
    name: str
    level: int


@strawberry.type
class LinkedCase:
    id: strawberry.ID
    number: str
    title: str
    status: CaseStatus


@strawberry.type
class CaseLink:
    kind: LinkKind
    case: LinkedCase


@strawberry.type(
    description="An open case this one may duplicate (same category, close by, recent): the "
    "hub was not sure enough to merge; a dispatcher decides with mergeCase."
)
class PossibleDuplicate:
    case: LinkedCase
    distance_meters: float
    reason: str


@strawberry.type
class ExternalRef:
    system: str
    external_id: str


@strawberry.type(description="A problem: reports from any network about it land here.")
class Case:
    id: strawberry.ID
    number: str
    title: str
    description: str
    status: CaseStatus
    category: Category
    priority: Priority
    card: Card
    channels: list[Channel]
    created_at: datetime
    updated_at: datetime
    accept_due_at: datetime | None
    due_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    overdue: bool
    report_count: int
    location: Location
    tenant: Tenant
    grid_cell: GridCellRef | None
    assignee: Member | None
    source: Source | None
    reports: list[Report]
    timeline: list[TimelineEntry]
    links: list[CaseLink]
    external_refs: list[ExternalRef]
    possible_duplicates: list[PossibleDuplicate]
    attachments: list[Attachment] = strawberry.field(
        default_factory=list,
        description="photos and documents attached to the case or its findings (GET the url "
        "with the same token)",
    )
    returned_reason: str | None = strawberry.field(
        default=None,
        description="why a town handed the case back to the command centre (退回指挥中心), "
        "until it is dispatched again",
    )
    on_site_at: datetime | None = strawberry.field(
        default=None, description="when staff were on site (到场时间), from the latest result"
    )
    satisfaction: Satisfaction | None = strawberry.field(
        default=None, description="the caller's latest feedback on the result (回访满意度)"
    )

    # What a person reads for each code (the codes above stay for machines): one table,
    # hub.cases.enums, for every Chinese text the hub writes.
    @strawberry.field(description="the status as a person reads it (Chinese), e.g. 办理")
    def status_label(self) -> str:
        return STATUS_LABELS[self.status]

    @strawberry.field(description="the category as a person reads it (Chinese), e.g. 扬尘")
    def category_label(self) -> str:
        return CATEGORY_LABELS[self.category]

    @strawberry.field(description="the priority as a person reads it (Chinese): 一般 or 紧急")
    def priority_label(self) -> str:
        return PRIORITY_LABELS[self.priority]

    @strawberry.field(description="the card as a person reads it (Chinese): 无, 黄牌 or 红牌")
    def card_label(self) -> str:
        return CARD_LABELS[self.card]

    @strawberry.field(description="the channels as a person reads them (Chinese)")
    def channel_labels(self) -> list[str]:
        return [CHANNEL_LABELS[c] for c in self.channels]


def _loaded(row: object, name: str) -> bool:
    return name not in inspect(row).unloaded


_CHANNEL_BITS = tuple((c, 1 << i) for i, c in enumerate(ChannelEnum))


def _channels(mask: int) -> list[ChannelEnum]:
    return [c for c, bit in _CHANNEL_BITS if mask & bit]


def case_node(row: CaseRow, view: View) -> Case:
    unloaded = inspect(row).unloaded  # a new set on every call: take it once per row

    def loaded(name: str) -> bool:
        return name not in unloaded

    grid = row.grid_cell if loaded("grid_cell") else None
    assignee = row.assignee if loaded("assignee") else None
    source = row.source if loaded("source") else None
    return Case(
        id=strawberry.ID(str(row.id)),
        number=row.number,
        title=view.text(row.title),
        description=view.text(row.description),
        status=CaseStatusEnum(row.status),
        category=CategoryEnum(row.category),
        priority=PriorityEnum(row.priority),
        card=CardEnum(row.card),
        channels=_channels(row.channel_mask),
        created_at=row.created_at,
        updated_at=row.updated_at,
        accept_due_at=row.accept_due_at,
        due_at=row.due_at,
        resolved_at=row.resolved_at,
        closed_at=row.closed_at,
        overdue=row.is_overdue(view.now),
        report_count=row.report_count,
        location=Location(address=row.address, latitude=row.latitude, longitude=row.longitude),
        tenant=Tenant.of(view.directory.by_id[row.tenant_id]),
        grid_cell=GridCellRef(
            id=strawberry.ID(str(grid.id)), code=grid.code, name=grid.name, level=grid.level
        )
        if grid
        else None,
        assignee=Member.of(assignee) if assignee else None,
        source=Source.of(source) if source else None,
        reports=[report_node(r, view) for r in row.reports] if loaded("reports") else [],
        timeline=[timeline_entry(e, view) for e in row.events] if loaded("events") else [],
        links=[
            CaseLink(
                kind=LinkKindEnum(link.kind),
                case=linked_case(link.other_case, view),
            )
            for link in (row.links if loaded("links") else [])
            if link.other_case is not None
        ],
        external_refs=[
            ExternalRef(system=r.system, external_id=r.external_id)
            for r in (row.external_refs if loaded("external_refs") else [])
        ],
        possible_duplicates=[
            possible_duplicate(c, view)
            for c in (row.candidates if loaded("candidates") else [])
            if c.candidate is not None  # a case the viewer may not see is not shown
        ],
        attachments=[Attachment.of(a) for a in row.attachments] if loaded("attachments") else [],
        returned_reason=row.returned_reason,
        on_site_at=row.on_site_at,
        satisfaction=SatisfactionEnum(row.satisfaction) if row.satisfaction else None,
    )


def linked_case(row: CaseRow, view: View) -> LinkedCase:
    return LinkedCase(
        id=strawberry.ID(str(row.id)),
        number=row.number,
        title=view.text(row.title),
        status=CaseStatusEnum(row.status),
    )


def possible_duplicate(row: CandidateRow, view: View) -> PossibleDuplicate:
    return PossibleDuplicate(
        case=linked_case(row.candidate, view),
        distance_meters=row.distance_m,
        reason=candidate_reason(Reason(row.reason), row.distance_m),
    )


def report_node(row: ReportRow, view: View) -> Report:
    return Report(
        id=strawberry.ID(str(row.id)),
        channel=ChannelEnum(row.channel),
        external_id=row.external_id,
        received_at=row.received_at,
        summary=view.text(row.description),
        title=view.text(row.title),
        category=CategoryEnum(row.category),
        outcome=ReportOutcomeEnum(row.outcome),
        outcome_reason=view.text(row.outcome_reason),
        reporter=reporter_of(row, view),
        anonymous=row.anonymous,
    )


def reporter_of(row: ReportRow, view: View) -> Reporter | None:
    if row.reporter_name is None and row.reporter_phone is None:
        return None
    if row.anonymous and not view.sees_anonymous:
        return Reporter(name=None, phone=None)
    phone = row.reporter_phone
    if phone and not view.sees_phones:
        phone = mask_phone(phone)
    return Reporter(name=row.reporter_name, phone=phone)


def unmasked_reads(rows: list[Any], view: View) -> list[tuple[Any, list[str]]]:
    """Which reporters' phone numbers this view shows in full, per case (each is audited): of
    ORM rows, or of PlainCases (hub.cases.loaders.read_case)."""
    if not view.sees_phones:
        return []
    reads = []
    for row in rows:
        if not _reports_read(row):
            continue
        shown = [
            str(r.id)
            for r in row.reports
            if r.reporter_phone and (not r.anonymous or view.sees_anonymous)
        ]
        if shown:
            reads.append((row, shown))
    return reads


def _reports_read(row: Any) -> bool:
    lists = getattr(row, "lists", None)  # a PlainCase says which lists it read
    return "reports" in lists if lists is not None else _loaded(row, "reports")


def timeline_entry(row: EventRow, view: View) -> TimelineEntry:
    return TimelineEntry(
        at=row.at,
        action=row.action,
        from_status=CaseStatusEnum(row.from_status) if row.from_status else None,
        to_status=CaseStatusEnum(row.to_status) if row.to_status else None,
        note=view.note(row.note),
        actor=Actor(id=strawberry.ID(row.actor_id), name=row.actor_name),
        label=ACTION_LABELS.get(row.action, row.action),
        on_site_at=_time_in(row.data, "onSiteAt"),
        satisfaction=SatisfactionEnum(row.data["satisfaction"])
        if (row.data or {}).get("satisfaction")
        else None,
    )


def _time_in(data: dict[str, object] | None, key: str) -> datetime | None:
    value = (data or {}).get(key)
    return datetime.fromisoformat(value) if isinstance(value, str) else None


T = TypeVar("T")


@dataclass
class Shared:
    """The objects a page's cases share (a town, a cell, a member, a source), built once per
    page: a page of 50 names a handful of each."""

    by_key: dict[tuple[str, Any], Any] = field(default_factory=dict)
    fields: tuple[str, ...] = ()  # the page's row fields (Row._fields builds a new tuple)

    def once(self, key: tuple[str, Any], build: Callable[[], T]) -> T:
        found = self.by_key.get(key)
        if found is None:
            found = self.by_key[key] = build()
        return found

    def tenant(self, info: TenantInfo) -> Tenant:
        return self.once(("tenant", info.id), lambda: Tenant.of(info))

    def cell(self, row: Any) -> GridCellRef | None:
        if row.cell_id is None:
            return None
        return self.once(
            ("cell", row.cell_id),
            lambda: GridCellRef(
                id=strawberry.ID(str(row.cell_id)),
                code=row.cell_code,
                name=row.cell_name,
                level=row.cell_level,
            ),
        )

    def member(self, row: Any) -> Member | None:
        if row.assignee_id is None:
            return None
        # A partial row, as the ORM path's load_only one: phone and active read it whole.
        return self.once(
            ("member", row.assignee_id),
            lambda: Member.of(
                MemberRow(id=row.assignee_id, name=row.assignee_name, role=row.assignee_role)
            ),
        )

    def source(self, row: Any) -> Source | None:
        if row.source_id is None:
            return None
        return self.once(
            ("source", row.source_id),
            lambda: Source(
                id=strawberry.ID(str(row.source_id)),
                name=row.source_name,
                industry=row.source_industry,
                address=row.source_address,
            ),
        )


def plain_case_node(row: Any, view: View, shared: Shared, lists: Any = None) -> Case:
    """case_node of a plain row of hub.cases.loaders.PLAIN_COLUMNS (and the related columns
    selected), with the lists of a PlainCase (hub.cases.loaders.read_case) if given, else none
    (a list's plain query is taken only when the client selects no list)."""
    fields = shared.fields or row._fields
    shared.fields = fields
    status = row.status
    due_at = row.due_at
    return Case(
        id=strawberry.ID(str(row.id)),
        number=row.number,
        title=view.text(row.title),
        description=view.text(row.description),
        status=CaseStatusEnum(status),
        category=CategoryEnum(row.category),
        priority=PriorityEnum(row.priority),
        card=CardEnum(row.card),
        channels=_channels(row.channel_mask),
        created_at=row.created_at,
        updated_at=row.updated_at,
        accept_due_at=row.accept_due_at,
        due_at=due_at,
        resolved_at=row.resolved_at,
        closed_at=row.closed_at,
        overdue=status in OPEN_STATUSES and due_at is not None and due_at < view.now,
        report_count=row.report_count,
        location=Location(address=row.address, latitude=row.latitude, longitude=row.longitude),
        tenant=shared.tenant(view.directory.by_id[row.tenant_id]),
        grid_cell=shared.cell(row) if "cell_id" in fields else None,
        assignee=shared.member(row) if "assignee_id" in fields else None,
        source=shared.source(row) if "source_id" in fields else None,
        reports=[report_node(r, view) for r in lists.reports] if lists else [],
        timeline=[timeline_entry(e, view) for e in lists.timeline] if lists else [],
        links=[CaseLink(kind=LinkKindEnum(k.kind), case=linked_case(k, view)) for k in lists.links]
        if lists
        else [],
        external_refs=[
            ExternalRef(system=x.system, external_id=x.external_id) for x in lists.external_refs
        ]
        if lists
        else [],
        possible_duplicates=[],
        attachments=[],
        returned_reason=row.returned_reason,
        on_site_at=row.on_site_at,
        satisfaction=SatisfactionEnum(row.satisfaction) if row.satisfaction else None,
    )
