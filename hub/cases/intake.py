"""Intake: registering a report. A repeat delivery returns what the first one did; otherwise
the report is routed to a town, then attaches to the open case it surely duplicates (raising
its priority when several callers report it) or opens a case with its own number.

Every function works inside the caller's transaction (the caller commits) and raises
DomainError for expected failures.
"""

from __future__ import annotations

import uuid
import weakref
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from limits import RateLimitItemPerMinute
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from sqlalchemy import Select, bindparam, func, literal, select, union_all
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import joinedload

from hub.audit import service as audit
from hub.auth import Scope
from hub.cases import duplicates
from hub.cases.duplicates import Arrival, OpenCase, Reason, Rules
from hub.cases.enums import (
    CHANNEL_LABELS,
    OPEN_STATUSES,
    CaseStatus,
    Channel,
    EventKind,
    Priority,
    ReportOutcome,
    channel_bit,
)
from hub.cases.inputs import Registered, RegisterInput, validate_register
from hub.cases.loaders import case_for_change
from hub.cases.model import Case, CaseCandidate, CaseCounter, ExternalRef, Report
from hub.cases.routing import Route, RouteStep, route_report
from hub.cases.timeline import record
from hub.db import Database, utcnow
from hub.errors import DomainError, ErrorCode
from hub.roles import UNMASKED_PHONE_ROLES, Permission, allows, refusal
from hub.supervision import clocks

PLATFORM_SYSTEM = "platform"
# Channels whose reporter expects to hear the result (反馈); monitoring and patrols do not.
FEEDBACK_CHANNELS = frozenset({Channel.HOTLINE, Channel.PLATFORM, Channel.OTHER})
# The networks' channels: their external ids are the network's (a 12369 call id, a platform
# case id, an alarm episode), so only that network's role (or ADMIN) registers under them.
NETWORK_CHANNELS: dict[Channel, Permission] = {
    Channel.HOTLINE: Permission.CHANNEL_HOTLINE,
    Channel.PLATFORM: Permission.CHANNEL_PLATFORM,
    Channel.MONITORING: Permission.CHANNEL_MONITORING,
}

# registerCase calls per principal, in this process only (see SANWANG_REGISTER_RATE_PER_MINUTE):
# limits' moving window rather than a hand-written token bucket; one window per database, so
# two hubs in one process (tests) do not share counts.
_RATE_LIMITERS: weakref.WeakKeyDictionary[Database, MovingWindowRateLimiter] = (
    weakref.WeakKeyDictionary()
)


def throttle(db: Database, scope: Scope, per_minute: int) -> None:
    """RATE_LIMITED once the caller registered ``per_minute`` reports in the last minute (0: no
    limit). Guessing a masked number by registration would take thousands of them."""
    if per_minute <= 0:
        return
    limiter = _RATE_LIMITERS.get(db)
    if limiter is None:
        limiter = _RATE_LIMITERS[db] = MovingWindowRateLimiter(MemoryStorage())
    if not limiter.hit(RateLimitItemPerMinute(per_minute), "register", scope.principal.id):
        raise DomainError(
            ErrorCode.RATE_LIMITED,
            f"登记过于频繁：每个账号每分钟最多登记 {per_minute} 件，请稍后再试",
        )


async def register(
    session: AsyncSession,
    scope: Scope,
    inp: RegisterInput,
    *,
    tz: ZoneInfo,
    prefix: str,
    route: Route | None = None,
    rules: Rules,
) -> Registered:
    """Register one report: a repeat returns what the first delivery did; otherwise the report
    is routed to a town and either attaches to the open case it surely duplicates or opens a
    case (with the open cases it may duplicate shown as candidates)."""
    scope.require(Permission.CASE_REGISTER)
    _require_channel(scope, inp.channel)
    validate_register(inp)
    if inp.external_id:
        repeat = await _repeat_of(session, scope, inp)
        if repeat is not None:
            return repeat
    route = route or await route_report(session, scope, inp)
    received = inp.received_at or utcnow()
    arrival = Arrival(
        inp.category,
        received,
        route.tenant_id,
        route.source_id,
        # Matching numbers is only for callers who see them: else the answer (duplicateOf)
        # tells a masked viewer whether a guessed number is the caller's.
        inp.reporter_phone if _sees_numbers(scope) else None,
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


def _sees_numbers(scope: Scope) -> bool:
    """Whether the registering caller reads reporters' numbers unmasked: only then may what
    registration answers depend on a number (else it is an oracle for masked numbers)."""
    return bool(scope.roles & UNMASKED_PHONE_ROLES)


def _require_channel(scope: Scope, channel: Channel) -> None:
    permission = NETWORK_CHANNELS.get(channel)
    if permission is not None and not allows(scope, permission):
        raise DomainError(ErrorCode.FORBIDDEN, refusal(permission), "channel")


async def _repeat_of(session: AsyncSession, scope: Scope, inp: RegisterInput) -> Registered | None:
    """The first delivery of this (channel, externalId). A network's ids are unique city-wide,
    so for its channels the search covers every town, not only those the caller sees (a
    delivery routed to another town is still a repeat)."""
    query = (
        select(Report)
        .where(Report.channel == inp.channel, Report.external_id == inp.external_id)
        .options(joinedload(Report.case))
        .order_by(Report.received_at, Report.id)
        .limit(1)
    )
    everywhere = tuple(scope.directory.by_id)
    sees_all = set(scope.tenant_ids) == set(everywhere)
    if sees_all and not await _delivered(session, inp):
        return None  # the usual answer, found without loading ORM objects
    if inp.channel in NETWORK_CHANNELS and not sees_all:
        # The caller's session is scoped (ORM criteria, RLS) to its towns: ask in one that
        # sees them all, then answer only what the caller may see.
        async with session.info["db"].session(everywhere) as city:
            report = await city.scalar(query)
        if report is not None and not scope.sees(report.tenant_id):
            raise DomainError(
                ErrorCode.CONFLICT,
                f"{CHANNEL_LABELS[inp.channel]}来件 {inp.external_id} 已在您看不到的乡镇登记过",
                "externalId",
            )
        if report is not None:
            report = await session.scalar(query)
    else:
        report = await session.scalar(query)
    if report is None:
        return None
    if inp.payload and report.payload != inp.payload:
        raise DomainError(
            ErrorCode.CONFLICT,
            f"{CHANNEL_LABELS[inp.channel]}来件 {inp.external_id} 此前已收到，且内容不同",
            "externalId",
        )
    duplicate_of = report.case if report.outcome == ReportOutcome.ATTACHED else None
    return Registered(report.case, report, False, duplicate_of)


_DELIVERED = (
    select(Report.__table__.c.id)
    .where(
        Report.__table__.c.channel == bindparam("channel"),
        Report.__table__.c.external_id == bindparam("external_id"),
    )
    .limit(1)
)


async def _delivered(session: AsyncSession, inp: RegisterInput) -> bool:
    """Whether any report of this (channel, externalId) is stored: one Core statement on the
    session's connection (the session sees every town: no town to filter out)."""
    connection = await session.connection()
    found = await connection.scalar(
        _DELIVERED, {"channel": inp.channel.value, "external_id": inp.external_id}
    )
    return found is not None


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
    if keys and session.get_bind().dialect.name == "postgresql":
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
    number = await next_number(session, prefix, now.astimezone(tz).year)
    # The town's audit head now, before any row is added: the rows below then leave together
    # in the flush at commit (no statement in between flushes them one by one).
    await audit.take_head(session, route.tenant_id)
    case = Case(
        id=uuid.uuid4(),
        tenant_id=route.tenant_id,
        number=number,
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
        f"分派依据：{route.reason}",
        {
            "channel": inp.channel.value,
            "report": str(report.id),
            "route": route.reason,
            "routeStep": route.step.value,
        },
    )
    await clocks.open_dispatch_hop(
        session, case, scope.directory.by_id[case.tenant_id].kind, tz, new_case=True
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
    # Before the report is added (nothing to flush yet): the head, and the callers so far.
    await audit.take_head(session, case.tenant_id)
    sees_numbers = _sees_numbers(scope)
    callers = await _callers(session, case, report) if sees_numbers else 0
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
    if sees_numbers:
        # Counting distinct callers after a masked viewer's report would tell them whether
        # the number they typed was already a caller's (URGENT or not): their report is
        # counted by the next registration of someone who sees numbers.
        await _raise_priority(session, scope, case, callers, rules or Rules())


async def _callers(session: AsyncSession, case: Case, report: Report) -> int:
    """The distinct callers of the case once ``report`` (not added yet) is on it: the stored
    reports' numbers and the report's own, in one statement. The case row is locked, so no
    other report joins it meanwhile. A case already URGENT needs no count."""
    if case.priority == Priority.URGENT:
        return 0
    stored = select(Report.reporter_phone).where(
        Report.case_id == case.id, Report.reporter_phone.is_not(None)
    )
    phones = (
        stored.union(select(literal(report.reporter_phone)))
        if report.reporter_phone
        else stored.distinct()
    )
    return int(await session.scalar(select(func.count()).select_from(phones.subquery())) or 0)


async def _raise_priority(
    session: AsyncSession, scope: Scope, case: Case, callers: int, rules: Rules
) -> None:
    """Several different callers about one case make it URGENT (on the timeline, once)."""
    if case.priority == Priority.URGENT:
        return
    if not duplicates.raises_priority(case.priority, callers, rules):
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
        {"priority": Priority.URGENT.value, "callers": callers},
    )


async def next_number(session: AsyncSession, prefix: str, year: int) -> str:
    """XM-2026-000123, unique; a rolled-back registration may leave a gap.

    On PostgreSQL the number is taken in a short transaction of its own: the counter row is
    locked only for that one statement, not until the registration commits (which would make
    every registration of the city wait for the one before it). SQLite has one writer at a
    time anyway: there it is taken in the caller's transaction."""
    scope_key = f"{prefix}-{year}"
    if session.get_bind().dialect.name == "postgresql":
        side = session.info["db"].side
        try:
            async with side.connect() as own:  # autocommit, its own pool, no ping
                value = await _take_number(own, scope_key, pg_insert)
        except DBAPIError as exc:
            if not exc.connection_invalidated:  # not a connection that died while pooled
                raise
            async with side.connect() as own:
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
