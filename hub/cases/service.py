"""The case graph's use cases: register, route, attach, move through the workflow, merge.

Every function takes the session and the caller's Scope, works inside the caller's transaction
(the caller commits), and raises DomainError for expected failures. Every accepted change
writes its Event and its AuditEntry in the same transaction.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload, selectinload

from hub.audit import service as audit
from hub.auth import Principal, Scope
from hub.cases import workflow
from hub.cases.enums import (
    OPEN_STATUSES,
    CaseStatus,
    Category,
    Channel,
    EventKind,
    Priority,
    ReportOutcome,
    Satisfaction,
    channel_bit,
)
from hub.cases.hooks import run_hooks
from hub.cases.model import Case, CaseCounter, CaseLink, Event, ExternalRef, Report
from hub.cases.routing import Route, route_report
from hub.config import local_tz
from hub.db import utcnow
from hub.errors import DomainError, ErrorCode, invalid, not_found
from hub.events import CaseNotice, announce
from hub.grid.model import GridCell, Member
from hub.grid.service import grid_index
from hub.roles import Permission
from hub.sources.model import Source
from hub.sync.service import record_change
from hub.timelimits import service as clocks
from hub.timelimits.model import Phase

DUPLICATE_WINDOW = timedelta(hours=72)
PLATFORM_SYSTEM = "platform"
# Channels whose reporter expects to hear the result (反馈); monitoring and patrols do not.
FEEDBACK_CHANNELS = frozenset({Channel.HOTLINE, Channel.PLATFORM, Channel.OTHER})

LIMITS = {
    "title": 200,
    "description": 10_000,
    "externalId": 128,
    "address": 500,
    "reporterName": 100,
    "reporterPhone": 32,
    "note": 4_000,
    "reason": 4_000,
    "result": 10_000,
}


@dataclass
class RegisterInput:
    channel: Channel
    title: str
    description: str
    category: Category
    external_id: str | None = None
    priority: Priority | None = None
    tenant_code: str | None = None
    address: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    source_id: uuid.UUID | None = None
    reporter_name: str | None = None
    reporter_phone: str | None = None
    anonymous: bool = False
    occurred_at: datetime | None = None
    received_at: datetime | None = None
    due_at: datetime | None = None  # a deadline set by the sender (the city platform)
    payload: dict[str, Any] = field(default_factory=dict)  # the arrival, verbatim


@dataclass(frozen=True)
class Registered:
    case: Case
    report: Report
    created: bool  # False when (channel, external_id) was seen before
    duplicate_of: Case | None


@dataclass
class DispatchInput:
    tenant_code: str
    grid_cell_id: uuid.UUID | None = None
    assignee_id: uuid.UUID | None = None
    due_at: datetime | None = None
    note: str | None = None


# --- validation --------------------------------------------------------------------------------


def check_text(name: str, value: str | None, *, required: bool = False) -> str | None:
    if value is None or not value.strip():
        if required:
            raise invalid(name, f"{name} is required")
        return None
    if len(value) > LIMITS[name]:
        raise invalid(name, f"{name} is longer than {LIMITS[name]} characters")
    if "\x00" in value:
        raise invalid(name, f"{name} contains a NUL character")
    return value.strip()


def check_point(latitude: float | None, longitude: float | None) -> None:
    if (latitude is None) != (longitude is None):
        raise invalid("latitude" if latitude is None else "longitude", "give both coordinates")
    if latitude is not None and not -90 <= latitude <= 90:
        raise invalid("latitude", "latitude must be between -90 and 90")
    if longitude is not None and not -180 <= longitude <= 180:
        raise invalid("longitude", "longitude must be between -180 and 180")


def check_time(name: str, value: datetime | None) -> None:
    if value is None:
        return
    if value.tzinfo is None:
        raise invalid(name, f"{name} needs a UTC offset")
    try:
        value.astimezone(UTC)
    except OverflowError:  # e.g. 9999-12-31T23:59:59-05:00 has no UTC time
        raise invalid(name, f"{name} is out of range") from None


def validate_register(inp: RegisterInput) -> None:
    inp.channel, inp.category = Channel(inp.channel), Category(inp.category)
    inp.priority = Priority(inp.priority) if inp.priority else None
    inp.title = check_text("title", inp.title, required=True) or ""
    inp.description = check_text("description", inp.description, required=True) or ""
    inp.external_id = check_text("externalId", inp.external_id)
    inp.address = check_text("address", inp.address)
    inp.reporter_name = check_text("reporterName", inp.reporter_name)
    inp.reporter_phone = check_text("reporterPhone", inp.reporter_phone)
    check_point(inp.latitude, inp.longitude)
    for name in ("occurred_at", "received_at", "due_at"):
        check_time(_camel(name), getattr(inp, name))


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.title() for p in rest)


# --- reading -------------------------------------------------------------------------------------


DETAIL_LOADS = {
    "reports": selectinload(Case.reports),
    "timeline": selectinload(Case.events),
    "links": selectinload(Case.links).joinedload(CaseLink.other_case),
    "externalRefs": selectinload(Case.external_refs),
    # Only the columns the nodes read: not the cells' polygons or the members' phones.
    "gridCell": joinedload(Case.grid_cell).load_only(
        GridCell.id, GridCell.code, GridCell.name, GridCell.level
    ),
    "assignee": joinedload(Case.assignee).load_only(Member.id, Member.name, Member.role),
    "source": joinedload(Case.source).load_only(
        Source.id, Source.name, Source.industry, Source.address
    ),
}


def load_options(include: set[str]) -> list[Any]:
    """Fetch related rows once per list, and only those the client asked for."""
    return [option for name, option in DETAIL_LOADS.items() if name in include]


async def get_case(
    session: AsyncSession, scope: Scope, case_id: str | uuid.UUID, include: set[str] = frozenset()
) -> Case | None:
    """A case the caller may see, else None: another town's case does not exist for them."""
    scope.require(Permission.CASE_READ)
    parsed = parse_id(case_id)
    if parsed is None:
        return None
    return await session.scalar(
        select(Case).where(Case.id == parsed).options(*load_options(set(include)))
    )


def parse_id(value: str | uuid.UUID | None) -> uuid.UUID | None:
    if value is None or isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


async def case_for_change(session: AsyncSession, case_id: str | uuid.UUID) -> Case:
    parsed = parse_id(case_id)
    case = None
    if parsed is not None:
        case = await session.scalar(
            select(Case)
            .where(Case.id == parsed)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    if case is None:
        raise not_found("case", "caseId")
    return case


# --- registering ---------------------------------------------------------------------------------


async def register(
    session: AsyncSession,
    scope: Scope,
    inp: RegisterInput,
    *,
    tz: ZoneInfo,
    prefix: str,
    route: Route | None = None,
) -> Registered:
    """Register one report: a repeat returns what the first delivery did; otherwise the report
    is routed to a town and either attaches to the open case it duplicates or opens a case."""
    scope.require(Permission.CASE_REGISTER)
    validate_register(inp)
    if inp.external_id:
        repeat = await _repeat_of(session, inp)
        if repeat is not None:
            return repeat
    route = route or await route_report(session, scope, inp)
    received = inp.received_at or utcnow()
    open_case = await _open_duplicate(session, route, inp, received)
    if open_case is not None:
        report = _new_report(inp, route, open_case, received, ReportOutcome.ATTACHED)
        reason = f"same source and category as {open_case.number} (opened within 72 hours)"
        report.outcome_reason = reason
        await _attach(session, scope, open_case, report)
        return Registered(open_case, report, True, open_case)
    case = await _open_case(session, scope, inp, route, received, tz=tz, prefix=prefix)
    return Registered(case, case.reports[0], True, None)


async def _repeat_of(session: AsyncSession, inp: RegisterInput) -> Registered | None:
    report = await session.scalar(
        select(Report)
        .where(Report.channel == inp.channel, Report.external_id == inp.external_id)
        .options(joinedload(Report.case))
        .order_by(Report.received_at, Report.id)
        .limit(1)
    )
    if report is None:
        return None
    if inp.payload and report.payload != inp.payload:
        raise DomainError(
            ErrorCode.CONFLICT,
            f"{inp.channel} report {inp.external_id} was received before with other content",
            "externalId",
        )
    duplicate_of = report.case if report.outcome == ReportOutcome.ATTACHED else None
    return Registered(report.case, report, False, duplicate_of)


async def _open_duplicate(
    session: AsyncSession, route: Route, inp: RegisterInput, received: datetime
) -> Case | None:
    """The first duplicate rule: same source and category, same town, open, within 72 hours."""
    if route.source_id is None:
        return None
    if session.bind.dialect.name == "postgresql":
        # Two simultaneous reports about one source must not both open a case.
        key = f"dup:{route.tenant_id}:{route.source_id}:{inp.category}"
        await session.execute(select(_advisory_lock(key)))
    return await session.scalar(
        select(Case)
        .where(
            Case.tenant_id == route.tenant_id,
            Case.source_id == route.source_id,
            Case.category == inp.category,
            Case.status.in_(list(OPEN_STATUSES)),
            Case.created_at >= received - DUPLICATE_WINDOW,
        )
        .order_by(Case.created_at.desc())
        .limit(1)
        .with_for_update()
    )


def _advisory_lock(key: str) -> Any:
    from sqlalchemy import func

    return func.pg_advisory_xact_lock(func.hashtextextended(key, 0))


def _new_report(
    inp: RegisterInput, route: Route, case: Case, received: datetime, outcome: ReportOutcome
) -> Report:
    return Report(
        id=uuid.uuid4(),
        tenant_id=case.tenant_id,
        case_id=case.id,
        channel=inp.channel,
        external_id=inp.external_id,
        received_at=received,
        occurred_at=inp.occurred_at,
        title=inp.title,
        description=inp.description,
        category=inp.category,
        reporter_name=inp.reporter_name,
        reporter_phone=inp.reporter_phone,
        anonymous=inp.anonymous,
        address=inp.address,
        latitude=inp.latitude,
        longitude=inp.longitude,
        source_id=route.source_id,
        payload=inp.payload,
        outcome=outcome,
        outcome_reason=route.reason,
    )


async def _open_case(
    session: AsyncSession,
    scope: Scope,
    inp: RegisterInput,
    route: Route,
    received: datetime,
    *,
    tz: ZoneInfo,
    prefix: str,
) -> Case:
    now = utcnow()
    case = Case(
        id=uuid.uuid4(),
        tenant_id=route.tenant_id,
        number=await next_number(session, prefix, now.astimezone(tz).year),
        title=inp.title,
        description=inp.description,
        status=CaseStatus.REGISTERED,
        category=inp.category,
        priority=inp.priority or Priority.NORMAL,
        channel_mask=channel_bit(inp.channel),
        report_count=1,
        needs_feedback=_needs_feedback(inp),
        grid_cell_id=route.grid_cell_id,
        source_id=route.source_id,
        address=inp.address,
        latitude=inp.latitude,
        longitude=inp.longitude,
        created_at=now,
        updated_at=now,
        due_at=inp.due_at,
        due_fixed=inp.due_at is not None,
    )
    report = _new_report(inp, route, case, received, ReportOutcome.OPENED)
    case.reports = [report]
    session.add(case)
    if inp.channel == Channel.PLATFORM and inp.external_id:
        session.add(_platform_ref(case, inp.external_id))
    await record(
        session,
        scope,
        case,
        EventKind.REGISTER,
        None,
        CaseStatus.REGISTERED,
        None,
        {"channel": inp.channel.value, "report": str(report.id), "route": route.reason},
    )
    return case


def _needs_feedback(inp: RegisterInput) -> bool:
    return inp.channel in FEEDBACK_CHANNELS or bool(inp.reporter_phone)


def _platform_ref(case: Case, external_id: str) -> ExternalRef:
    return ExternalRef(
        tenant_id=case.tenant_id, case_id=case.id, system=PLATFORM_SYSTEM, external_id=external_id
    )


async def _attach(session: AsyncSession, scope: Scope, case: Case, report: Report) -> None:
    session.add(report)
    case.report_count += 1
    case.channel_mask |= channel_bit(Channel(report.channel))
    if report.channel in FEEDBACK_CHANNELS or report.reporter_phone:
        case.needs_feedback = True
    if report.channel == Channel.PLATFORM and report.external_id:
        session.add(_platform_ref(case, report.external_id))
    await record(
        session,
        scope,
        case,
        EventKind.REPORT_ATTACHED,
        None,
        None,
        None,
        {"channel": report.channel, "report": str(report.id)},
    )


async def next_number(session: AsyncSession, prefix: str, year: int) -> str:
    """XM-2026-000123. The counter row is taken in the caller's transaction; numbers stay unique
    under concurrency, and a rolled-back registration may leave a gap."""
    scope_key = f"{prefix}-{year}"
    insert = pg_insert if session.bind.dialect.name == "postgresql" else sqlite_insert
    await session.execute(
        insert(CaseCounter).values(scope=scope_key, value=0).on_conflict_do_nothing()
    )
    value = await session.scalar(
        update(CaseCounter)
        .where(CaseCounter.scope == scope_key)
        .values(value=CaseCounter.value + 1)
        .returning(CaseCounter.value)
    )
    return f"{scope_key}-{value:06d}"


# --- the timeline --------------------------------------------------------------------------------


async def record(
    session: AsyncSession,
    who: Scope | Principal,
    case: Case,
    kind: EventKind,
    from_status: str | None,
    to_status: str | None,
    note: str | None,
    data: dict[str, Any] | None = None,
) -> Event:
    """One change: its Event, its AuditEntry and (after commit) its notice to subscribers."""
    now = utcnow()
    actor = who.principal if isinstance(who, Scope) else who
    event = Event(
        tenant_id=case.tenant_id,
        case_id=case.id,
        at=now,
        action=kind,
        from_status=from_status,
        to_status=to_status,
        note=note,
        actor_id=actor.id,
        actor_name=actor.name,
        data=data or {},
    )
    session.add(event)
    case.updated_at = now
    await audit.append(
        session,
        case.tenant_id,
        actor,
        f"case.{kind.lower()}",
        "case",
        case.id,
        {"number": case.number, "from": from_status, "to": to_status, "note": note, **(data or {})},
        at=now,
    )
    await record_change(session, case)
    await run_hooks(session, case, event)
    announce(session, CaseNotice(kind, now, case.tenant_id, case))
    return event


def _decide(scope: Scope, case: Case, action: workflow.Action) -> CaseStatus:
    decided = workflow.decide(
        CaseStatus(case.status), action, scope.roles, needs_feedback=case.needs_feedback
    )
    if isinstance(decided, workflow.Refusal):
        raise DomainError(decided.code, decided.reason)
    return decided


async def _transition(
    session: AsyncSession,
    scope: Scope,
    case: Case,
    action: workflow.Action,
    kind: EventKind,
    note: str | None,
    data: dict[str, Any] | None = None,
) -> None:
    decided = _decide(scope, case, action)
    before = case.status
    case.status = decided
    await record(session, scope, case, kind, before, decided, note, data)


# --- the workflow's steps ----------------------------------------------------------------------


async def dispatch(
    session: AsyncSession, scope: Scope, case_id: str, inp: DispatchInput, *, tz: ZoneInfo
) -> Case:
    """转办: send the case to a town (and its grid cell and member), starting its clocks."""
    note = check_text("note", inp.note)
    check_time("dueAt", inp.due_at)
    case = await case_for_change(session, case_id)
    tenant = scope.directory.by_code.get(inp.tenant_code)
    if tenant is None or not scope.sees(tenant.id):
        raise not_found(f"tenant {inp.tenant_code!r}", "tenantCode")
    cell = await _owned(session, GridCell, inp.grid_cell_id, tenant.id, "gridCellId")
    member = await _owned(session, Member, inp.assignee_id, tenant.id, "assigneeId")
    now = utcnow()
    if inp.due_at is not None and inp.due_at <= now:
        raise invalid("dueAt", "dueAt must be in the future")
    decided = _decide(scope, case, workflow.Action.DISPATCH)
    previous_tenant = case.tenant_id
    if tenant.id != case.tenant_id:
        await move_case(session, case, tenant.id)
        case.grid_cell_id = await _cell_in_town(session, case, tenant.id)
    before, case.status = case.status, decided
    await record(
        session,
        scope,
        case,
        EventKind.DISPATCH,
        before,
        decided,
        note,
        {
            "to": tenant.code,
            "gridCell": str(cell.id) if cell else None,
            "assignee": member.name if member else None,
        },
    )
    case.grid_cell_id = cell.id if cell else case.grid_cell_id
    case.assignee_id = member.id if member else None
    if inp.due_at is not None:
        case.due_at, case.due_fixed = inp.due_at, True
    level = clocks.level_of(tenant.kind, case.assignee_id)
    hop = await clocks.open_hop(session, case, level, case.assignee_id, previous_tenant, tz)
    case.accept_due_at = hop.yellow_at
    if not case.due_fixed:
        case.due_at, _ = await clocks.thresholds(session, case, level, Phase.HANDLE, now, tz)
    return case


async def _cell_in_town(
    session: AsyncSession, case: Case, tenant_id: uuid.UUID
) -> uuid.UUID | None:
    """The new town's cell that contains the case's point, if any."""
    if case.latitude is None or case.longitude is None:
        return None
    index = await grid_index(session.info["db"])
    found = index.locate(case.longitude, case.latitude, {tenant_id})
    return found.cell_id if found else None


async def _owned(
    session: AsyncSession,
    model: type[Any],
    row_id: uuid.UUID | None,
    tenant_id: uuid.UUID,
    field_name: str,
) -> Any:
    if row_id is None:
        return None
    row = await session.get(model, row_id)
    if row is None or row.tenant_id != tenant_id:
        raise not_found(f"{model.__name__} in that town", field_name)
    return row


async def move_case(session: AsyncSession, case: Case, tenant_id: uuid.UUID) -> None:
    """A case changing town takes its reports, timeline, links and refs along."""
    for model in (Report, Event, ExternalRef):
        await session.execute(
            update(model).where(model.case_id == case.id).values(tenant_id=tenant_id)
        )
    await session.execute(
        update(CaseLink).where(CaseLink.case_id == case.id).values(tenant_id=tenant_id)
    )
    case.tenant_id = tenant_id


async def accept(session: AsyncSession, scope: Scope, case_id: str, note: str | None) -> Case:
    case = await case_for_change(session, case_id)
    await _transition(
        session, scope, case, workflow.Action.ACCEPT, EventKind.ACCEPT, check_text("note", note)
    )
    hop = await clocks.current_hop(session, case)
    if hop is not None:
        hop.accepted_at = utcnow()
        await clocks.start_phase(session, case, hop, Phase.HANDLE, local_tz())
    return case


async def _next_phase(session: AsyncSession, case: Case, phase: Phase) -> None:
    hop = await clocks.current_hop(session, case)
    if hop is not None:
        await clocks.start_phase(session, case, hop, phase, local_tz())


async def record_progress(session: AsyncSession, scope: Scope, case_id: str, note: str) -> Case:
    text = check_text("note", note, required=True)
    case = await case_for_change(session, case_id)
    await _transition(session, scope, case, workflow.Action.PROGRESS, EventKind.PROGRESS, text)
    return case


async def submit_result(
    session: AsyncSession, scope: Scope, case_id: str, result: str, on_site_at: datetime | None
) -> Case:
    text = check_text("result", result, required=True)
    check_time("onSiteAt", on_site_at)
    case = await case_for_change(session, case_id)
    data = {"onSiteAt": on_site_at.isoformat() if on_site_at else None}
    await _transition(session, scope, case, workflow.Action.SUBMIT, EventKind.SUBMIT, text, data)
    await _next_phase(session, case, Phase.REVIEW)
    return case


async def review(
    session: AsyncSession, scope: Scope, case_id: str, approve: bool, note: str | None
) -> Case:
    text = check_text("note", note)
    case = await case_for_change(session, case_id)
    action, kind = (
        (workflow.Action.APPROVE, EventKind.APPROVE)
        if approve
        else (workflow.Action.RETURN, EventKind.RETURN)
    )
    await _transition(session, scope, case, action, kind, text)
    if not approve:
        await _next_phase(session, case, Phase.HANDLE)
    elif case.needs_feedback:
        case.resolved_at = utcnow()
        await _next_phase(session, case, Phase.FEEDBACK)
    else:
        case.resolved_at = utcnow()
        await clocks.end_current(session, case, "RESOLVED")
    return case


async def record_feedback(
    session: AsyncSession,
    scope: Scope,
    case_id: str,
    satisfaction: Satisfaction,
    note: str | None,
) -> Case:
    text = check_text("note", note)
    case = await case_for_change(session, case_id)
    await _transition(
        session,
        scope,
        case,
        workflow.Action.FEEDBACK,
        EventKind.FEEDBACK,
        text,
        {"satisfaction": satisfaction.value},
    )
    await clocks.end_current(session, case, "FEEDBACK_GIVEN")
    return case


async def close(session: AsyncSession, scope: Scope, case_id: str, note: str | None) -> Case:
    text = check_text("note", note)
    case = await case_for_change(session, case_id)
    await _transition(session, scope, case, workflow.Action.CLOSE, EventKind.CLOSE, text)
    case.closed_at = utcnow()
    await clocks.end_current(session, case, "CLOSED")
    return case


async def reopen(session: AsyncSession, scope: Scope, case_id: str, reason: str) -> Case:
    text = check_text("reason", reason, required=True)
    case = await case_for_change(session, case_id)
    await _transition(session, scope, case, workflow.Action.REOPEN, EventKind.REOPEN, text)
    case.closed_at = case.resolved_at = None
    kind = scope.directory.by_id[case.tenant_id].kind
    level = clocks.level_of(kind, case.assignee_id)
    hop = await clocks.open_hop(session, case, level, case.assignee_id, None, local_tz())
    case.accept_due_at = hop.yellow_at
    return case


async def reject(session: AsyncSession, scope: Scope, case_id: str, reason: str) -> Case:
    text = check_text("reason", reason, required=True)
    case = await case_for_change(session, case_id)
    await _transition(session, scope, case, workflow.Action.REJECT, EventKind.REJECT, text)
    case.closed_at = utcnow()
    await clocks.end_current(session, case, "REJECTED")
    return case


async def merge(
    session: AsyncSession, scope: Scope, case_id: str, into_case_id: str, note: str | None
) -> Case:
    """Merge a case into another: its reports move (never deleted), both keep their history,
    and each links to the other as DUPLICATE. Returns the case that now holds the reports."""
    text = check_text("note", note)
    case = await case_for_change(session, case_id)
    try:
        target = await case_for_change(session, into_case_id)
    except DomainError:
        raise not_found("case", "intoCaseId") from None
    if target.id == case.id:
        raise invalid("intoCaseId", "a case cannot be merged into itself")
    if target.status in (CaseStatus.MERGED, CaseStatus.REJECTED, CaseStatus.CLOSED):
        raise DomainError(
            ErrorCode.INVALID_TRANSITION, f"cannot merge into a {target.status} case", "intoCaseId"
        )
    await _transition(
        session,
        scope,
        case,
        workflow.Action.MERGE,
        EventKind.MERGE,
        text,
        {"into": target.number},
    )
    moved = await _move_reports(session, case, target)
    case.merged_into_id = target.id
    case.closed_at = utcnow()
    await clocks.end_current(session, case, "MERGED")
    for a, b in ((case, target), (target, case)):
        session.add(
            CaseLink(tenant_id=a.tenant_id, case_id=a.id, other_case_id=b.id, kind="DUPLICATE")
        )
    await record(
        session,
        scope,
        target,
        EventKind.MERGE_RECEIVED,
        None,
        None,
        text,
        {"from": case.number, "reports": moved},
    )
    return target


async def _move_reports(session: AsyncSession, case: Case, target: Case) -> int:
    reports = list(await session.scalars(select(Report).where(Report.case_id == case.id)))
    for report in reports:
        report.case_id, report.tenant_id = target.id, target.tenant_id
        if report.reporter_phone or report.channel in FEEDBACK_CHANNELS:
            target.needs_feedback = True
    target.report_count += len(reports)
    target.channel_mask |= case.channel_mask
    case.report_count = 0
    return len(reports)


async def audit_unmasked(
    session: AsyncSession, scope: Scope, reads: list[tuple[Case, list[str]]]
) -> None:
    """Every read of a reporter's full phone number goes on the audit trail (one batch per
    town, so a page of cases costs the same few statements whatever its size)."""
    by_tenant: dict[uuid.UUID, list[tuple[str, str, uuid.UUID, dict[str, Any]]]] = {}
    for case, report_ids in reads:
        by_tenant.setdefault(case.tenant_id, []).append(
            ("reporter.unmasked", "case", case.id, {"number": case.number, "reports": report_ids})
        )
    for tenant_id in sorted(by_tenant):  # a fixed order: two readers never deadlock on heads
        await audit.append_many(session, tenant_id, scope.principal, by_tenant[tenant_id])
