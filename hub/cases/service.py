"""The case graph's use cases: register, route, attach, move through the workflow, merge.

Every function takes the session and the caller's Scope, works inside the caller's transaction
(the caller commits), and raises DomainError for expected failures. Every accepted change
writes its Event and its AuditEntry in the same transaction.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, func, literal, select, union_all, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import joinedload, selectinload

from hub.audit import service as audit
from hub.auth import Principal, Scope
from hub.cases import duplicates, workflow
from hub.cases.duplicates import Arrival, OpenCase, Reason, Rules
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
from hub.cases.model import (
    Case,
    CaseCandidate,
    CaseCounter,
    CaseLink,
    Event,
    ExternalRef,
    Report,
)
from hub.cases.phones import normalize_phone
from hub.cases.routing import Route, RouteStep, route_report
from hub.config import local_tz
from hub.db import utcnow
from hub.errors import DomainError, ErrorCode, invalid, not_found
from hub.events import CaseNotice, announce
from hub.grid.model import GridCell, Member
from hub.grid.service import grid_index
from hub.roles import Permission, Role
from hub.sources.model import Source
from hub.supervision import clocks
from hub.supervision.model import Phase
from hub.sync.service import record_change

DUPLICATE_WINDOW = duplicates.DEFAULT_WINDOW
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
    if inp.reporter_phone:
        # One form before any comparison; a number we cannot read is kept as it came.
        inp.reporter_phone = normalize_phone(inp.reporter_phone) or inp.reporter_phone
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
    "possibleDuplicates": selectinload(Case.candidates).joinedload(CaseCandidate.candidate),
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
    rules: Rules | None = None,
) -> Registered:
    """Register one report: a repeat returns what the first delivery did; otherwise the report
    is routed to a town and either attaches to the open case it surely duplicates or opens a
    case (with the open cases it may duplicate shown as candidates)."""
    scope.require(Permission.CASE_REGISTER)
    validate_register(inp)
    rules = rules or Rules()
    if inp.external_id:
        repeat = await _repeat_of(session, inp)
        if repeat is not None:
            return repeat
    route = route or await route_report(session, scope, inp)
    received = inp.received_at or utcnow()
    arrival = Arrival(
        inp.category,
        received,
        route.tenant_id,
        route.source_id,
        inp.reporter_phone,
        inp.latitude,
        inp.longitude,
        unrouted=route.step == RouteStep.COMMAND_CENTRE,
    )
    verdict = duplicates.judge(arrival, await _open_cases(session, arrival, rules), rules)
    if verdict.attach_to is not None and verdict.reason is not None:
        open_case = await case_for_change(session, verdict.attach_to)
        report = _new_report(inp, route, open_case, received, ReportOutcome.ATTACHED)
        report.outcome_reason = (
            f"{duplicates.reason_text(verdict.reason, rules)}: {open_case.number}"
        )
        await _attach(session, scope, open_case, report, verdict.reason, rules)
        return Registered(open_case, report, True, open_case)
    if verdict.candidates:
        # The candidate rows' foreign keys will take a key-share lock on those cases. Take it
        # now, before the case number and the audit head, in the order every registration
        # takes its locks: else a report attaching to a candidate (its row, then the head)
        # and this one (the head, then the candidate) deadlock.
        await session.execute(
            select(Case.id)
            .where(Case.id.in_([c.case_id for c in verdict.candidates]))
            .with_for_update(key_share=True)
        )
    case = await _open_case(session, scope, inp, route, received, tz=tz, prefix=prefix)
    for candidate in verdict.candidates:
        session.add(
            CaseCandidate(
                tenant_id=case.tenant_id,
                case_id=case.id,
                candidate_id=candidate.case_id,
                distance_m=candidate.distance_m,
                reason=candidate.reason,
            )
        )
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


_OPEN = [s.value for s in OPEN_STATUSES]
_FACTS = (
    Case.id,
    Case.category,
    Case.created_at,
    Case.tenant_id,
    Case.source_id,
    Case.latitude,
    Case.longitude,
)


async def _open_cases(session: AsyncSession, arrival: Arrival, rules: Rules) -> list[OpenCase]:
    """The open cases of the arrival's category the rules could pick, in one statement: of its
    source, of its caller, and near its point (an indexed box around it). On PostgreSQL,
    simultaneous reports about one source, from one number or near one place wait for each
    other first, so two of them never both open a case (keys taken in one order: no
    deadlock)."""
    keys = sorted(_lock_keys(arrival))
    if keys and session.bind.dialect.name == "postgresql":
        await session.execute(select(*(_advisory_lock(k) for k in keys)))
    parts = _searches(arrival, rules)
    if not parts:
        return []
    query = parts[0] if len(parts) == 1 else union_all(*parts)
    found: dict[uuid.UUID, OpenCase] = {}
    for row in await session.execute(query):
        seen = found.get(row.id)
        phones = frozenset({arrival.phone}) if row.found_by == "phone" and arrival.phone else None
        found[row.id] = OpenCase(
            row.id,
            row.category,
            row.created_at,
            row.tenant_id,
            row.source_id,
            (phones or frozenset()) | (seen.phones if seen else frozenset()),
            row.latitude,
            row.longitude,
        )
    return list(found.values())


def _searches(arrival: Arrival, rules: Rules) -> list[Select]:
    since = arrival.received_at - rules.window

    def base(found_by: str) -> Select:
        return select(*_FACTS, literal(found_by).label("found_by")).where(
            Case.category == arrival.category, Case.status.in_(_OPEN)
        )

    parts = []
    if arrival.source_id is not None:
        by_source = base("source").where(
            Case.tenant_id == arrival.tenant_id,
            Case.source_id == arrival.source_id,
            Case.created_at >= since,
        )
        parts.append(by_source.order_by(Case.created_at.desc()).limit(5))
    if arrival.phone:
        callers = select(Report.case_id).where(Report.reporter_phone == arrival.phone)
        by_phone = base("phone").where(Case.id.in_(callers))
        if not arrival.unrouted:
            by_phone = by_phone.where(Case.tenant_id == arrival.tenant_id)
        parts.append(by_phone.order_by(Case.created_at.desc()).limit(5))
    if arrival.latitude is not None and arrival.longitude is not None:
        lat0, lat1, lon0, lon1 = duplicates.box(
            arrival.latitude, arrival.longitude, rules.distance_m
        )
        near = base("near").where(
            Case.created_at >= since,
            Case.latitude.between(lat0, lat1),
            Case.longitude.between(lon0, lon1),
        )
        parts.append(near.limit(50))
    # Each part keeps its own order and limit inside the union.
    return [p.subquery().select() if len(parts) > 1 else p for p in parts]


def _lock_keys(arrival: Arrival) -> set[str]:
    keys = set()
    if arrival.source_id is not None:
        keys.add(f"dup:source:{arrival.source_id}:{arrival.category}")
    if arrival.phone:
        keys.add(f"dup:phone:{arrival.phone}")
    if arrival.latitude is not None and arrival.longitude is not None:
        # A cell of about 1 km: reports near one place serialise, others do not wait.
        keys.add(f"dup:area:{round(arrival.latitude, 2)}:{round(arrival.longitude, 2)}")
    return keys


def _advisory_lock(key: str) -> Any:
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
        f"分派依据 (route): {route.reason}",
        {
            "channel": inp.channel.value,
            "report": str(report.id),
            "route": route.reason,
            "routeStep": route.step.value,
        },
    )
    return case


def _needs_feedback(inp: RegisterInput) -> bool:
    return inp.channel in FEEDBACK_CHANNELS or bool(inp.reporter_phone)


def _platform_ref(case: Case, external_id: str) -> ExternalRef:
    return ExternalRef(
        tenant_id=case.tenant_id, case_id=case.id, system=PLATFORM_SYSTEM, external_id=external_id
    )


async def _attach(
    session: AsyncSession,
    scope: Scope,
    case: Case,
    report: Report,
    reason: Reason | None = None,
    rules: Rules | None = None,
) -> None:
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
        report.outcome_reason,
        {"channel": report.channel, "report": str(report.id), "reason": reason},
    )
    await _raise_priority(session, scope, case, rules or Rules())


async def _raise_priority(session: AsyncSession, scope: Scope, case: Case, rules: Rules) -> None:
    """Several different callers about one case make it URGENT (on the timeline, once)."""
    if case.priority == Priority.URGENT:
        return
    callers = await session.scalar(
        select(func.count(func.distinct(Report.reporter_phone))).where(
            Report.case_id == case.id, Report.reporter_phone.is_not(None)
        )
    )
    if not duplicates.raises_priority(case.priority, int(callers or 0), rules):
        return
    case.priority = Priority.URGENT
    await record(
        session,
        scope,
        case,
        EventKind.PRIORITY_RAISED,
        None,
        None,
        f"{callers} 位不同来电人反映同一问题，升为紧急 ({callers} different callers: URGENT)",
        {"priority": Priority.URGENT.value, "callers": int(callers or 0)},
    )


async def next_number(session: AsyncSession, prefix: str, year: int) -> str:
    """XM-2026-000123, unique; a rolled-back registration may leave a gap.

    On PostgreSQL the number is taken in a short transaction of its own: the counter row is
    locked only for that one statement, not until the registration commits (which would make
    every registration of the city wait for the one before it). SQLite has one writer at a
    time anyway: there it is taken in the caller's transaction."""
    scope_key = f"{prefix}-{year}"
    if session.bind.dialect.name == "postgresql":
        async with session.info["db"].side.connect() as own:  # autocommit, its own pool
            value = await _take_number(own, scope_key, pg_insert)
    else:
        value = await _take_number(session, scope_key, sqlite_insert)
    return f"{scope_key}-{value:06d}"


async def _take_number(session: AsyncSession | AsyncConnection, scope_key: str, insert: Any) -> int:
    taken = await session.scalar(
        insert(CaseCounter)
        .values(scope=scope_key, value=1)
        .on_conflict_do_update(
            index_elements=[CaseCounter.scope], set_={"value": CaseCounter.value + 1}
        )
        .returning(CaseCounter.value)
    )
    return int(taken)


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
    """反馈: what the complainant said of the result. UNSATISFIED does not let the case close:
    it goes back to supervision (UNDER_REVIEW, with the review clock), where it is approved
    again (a new result goes out) or returned to the office."""
    text = check_text("note", note)
    satisfaction = Satisfaction(satisfaction)
    case = await case_for_change(session, case_id)
    unsatisfied = satisfaction == Satisfaction.UNSATISFIED
    action = workflow.Action.FEEDBACK_UNSATISFIED if unsatisfied else workflow.Action.FEEDBACK
    await _transition(
        session, scope, case, action, EventKind.FEEDBACK, text, {"satisfaction": satisfaction.value}
    )
    if unsatisfied:
        case.resolved_at = None
        await _next_phase(session, case, Phase.REVIEW)
    else:
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


SPLITTERS = frozenset({Role.ADMIN, Role.DISPATCHER})  # who merges may also undo a merge


async def split_report(
    session: AsyncSession,
    scope: Scope,
    report_id: str | uuid.UUID,
    note: str | None,
    *,
    tz: ZoneInfo,
    prefix: str,
) -> Case:
    """Split one report off its case into a case of its own (the hub, or a person, attached it
    where it did not belong). Both cases keep their history: the old one records what left and
    where to, the new one where it came from; each links to the other as RELATED. Returns the
    new case, REGISTERED in the old case's town and cell, waiting to be dispatched."""
    text = check_text("note", note)
    if SPLITTERS.isdisjoint(scope.roles):
        raise DomainError(ErrorCode.FORBIDDEN, "only ADMIN or DISPATCHER may split reports off")
    parsed = parse_id(report_id)
    report = await session.get(Report, parsed, with_for_update=True) if parsed else None
    if report is None:
        raise not_found("report", "reportId")
    case = await case_for_change(session, report.case_id)
    others = [
        r
        for r in await session.scalars(select(Report).where(Report.case_id == case.id))
        if r.id != report.id
    ]
    if not others:
        raise invalid("reportId", "the only report of a case cannot be split off it")
    new = _case_of_report(report, case, await next_number(session, prefix, _year(tz)))
    session.add(new)
    await session.flush()  # the new case exists before the report points at it
    report.case_id = new.id
    report.outcome = ReportOutcome.OPENED
    report.outcome_reason = f"从 {case.number} 拆分 (split off {case.number})"
    case.report_count = len(others)
    case.channel_mask = 0
    for other in others:
        case.channel_mask |= channel_bit(Channel(other.channel))
    for a, b in ((case, new), (new, case)):
        session.add(
            CaseLink(tenant_id=a.tenant_id, case_id=a.id, other_case_id=b.id, kind="RELATED")
        )
    moved = {"report": str(report.id), "channel": report.channel}
    await record(
        session, scope, new, EventKind.SPLIT_FROM, None, new.status, text,
        {**moved, "from": case.number},
    )  # fmt: skip
    await record(
        session, scope, case, EventKind.REPORT_SPLIT, None, None, text, {**moved, "to": new.number}
    )
    return new


def _year(tz: ZoneInfo) -> int:
    return utcnow().astimezone(tz).year


def _case_of_report(report: Report, old: Case, number: str) -> Case:
    now = utcnow()
    return Case(
        id=uuid.uuid4(),
        tenant_id=old.tenant_id,
        number=number,
        title=report.title,
        description=report.description,
        status=CaseStatus.REGISTERED,
        category=report.category,
        priority=Priority.NORMAL,
        channel_mask=channel_bit(Channel(report.channel)),
        report_count=1,
        needs_feedback=report.channel in FEEDBACK_CHANNELS or bool(report.reporter_phone),
        grid_cell_id=old.grid_cell_id,
        source_id=report.source_id,
        address=report.address,
        latitude=report.latitude,
        longitude=report.longitude,
        created_at=now,
        updated_at=now,
    )


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
