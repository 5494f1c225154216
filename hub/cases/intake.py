"""Intake: registering a report. A repeat delivery returns what the first one did; otherwise
the report is routed to a town, then attaches to the open case it surely duplicates (raising
its priority when several callers report it) or opens a case with its own number.

Every function works inside the caller's transaction (the caller commits) and raises
DomainError for expected failures.
"""

from __future__ import annotations

import functools
import uuid
import weakref
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from limits import RateLimitItemPerMinute
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from sqlalchemy import (
    JSON,
    Column,
    Select,
    String,
    bindparam,
    func,
    insert,
    literal_column,
    select,
    union_all,
)
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import joinedload, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

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
from hub.cases.model import Case, CaseCandidate, CaseCounter, Event, ExternalRef, Report
from hub.cases.routing import KnownSource, Route, RouteStep, route_report
from hub.cases.timeline import record
from hub.db import Database, TenantScopeError, utcnow, visible_tenants
from hub.errors import DomainError, ErrorCode, not_found
from hub.outbox.model import OutboxMessage
from hub.roles import UNMASKED_PHONE_ROLES, Permission, allows, refusal
from hub.supervision import clocks
from hub.supervision.model import CaseHop

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
    known: KnownSource | None = None,
) -> Registered:
    """Register one report: a repeat returns what the first delivery did; otherwise the report
    is routed to a town and either attaches to the open case it surely duplicates or opens a
    case (with the open cases it may duplicate shown as candidates). ``known``: the source
    ``inp.source_id`` names, as the caller found it (routing then need not read it)."""
    scope.require(Permission.CASE_REGISTER)
    _require_channel(scope, inp.channel)
    validate_register(inp)
    if inp.external_id:
        repeat = await _repeat_of(session, scope, inp)
        if repeat is not None:
            return repeat
    route = route or await route_report(session, scope, inp, known)
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
    verdict = duplicates.judge(arrival, await _open_cases(session, scope, arrival, rules), rules)
    if verdict.attach_to is not None and verdict.reason is not None:
        open_case = await _locked_case(session, verdict.attach_to)
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
    everywhere = tuple(scope.directory.by_id)
    sees_all = set(scope.tenant_ids) == set(everywhere)
    if sees_all and not await _delivered(session, inp):
        return None  # the usual answer, found without building or loading ORM objects
    query = (
        select(Report)
        .where(Report.channel == inp.channel, Report.external_id == inp.external_id)
        .options(joinedload(Report.case))
        .order_by(Report.received_at, Report.id)
        .limit(1)
    )
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


_OPEN = sorted(s.value for s in OPEN_STATUSES)


async def _open_cases(
    session: AsyncSession, scope: Scope, arrival: Arrival, rules: Rules
) -> list[OpenCase]:
    """The open cases of the arrival's category the rules could pick, in one statement: of its
    source, of its caller, and near its point (an indexed box around it). On PostgreSQL,
    simultaneous reports about one source, from one number or near one place wait for each
    other first, so two of them never both open a case (keys taken in one order: no
    deadlock). Both statements are built once per shape and run on the transaction's
    connection (Core: no ORM statement to build, cache-key or filter per call)."""
    sync = session.sync_session
    if sync.new or sync.dirty or sync.deleted:  # as an ORM statement's autoflush would
        await session.flush()
    connection = await session.connection()
    keys = sorted(_lock_keys(arrival))
    if keys and connection.dialect.name == "postgresql":
        await connection.execute(
            _advisory_locks(len(keys)), {f"k{i}": k for i, k in enumerate(keys)}
        )
    shape = _Shape(
        arrival.source_id is not None,
        bool(arrival.phone),
        arrival.latitude is not None and arrival.longitude is not None,
        arrival.unrouted,
        _scoped(session, scope),
    )
    if not (shape.source or shape.phone or shape.point):
        return []
    found: dict[uuid.UUID, OpenCase] = {}
    for row in await connection.execute(_search(shape), _search_values(session, arrival, rules)):
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


def _scoped(session: AsyncSession, scope: Scope) -> bool:
    """Whether the session sees fewer than every town: then the search names its towns (as
    the ORM's tenant criteria would); the hotline's and the platform's tokens see all."""
    return not set(scope.directory.by_id) <= set(session.info["tenant_ids"])


@dataclass(frozen=True)
class _Shape:
    source: bool  # the arrival has a matched source
    phone: bool  # a caller's number the registering caller may match on
    point: bool  # a point
    unrouted: bool  # the command centre's queue: a caller's cases in any town
    scoped: bool  # the session sees only some towns


_CASES, _REPORTS = Case.__table__, Report.__table__


@functools.cache
def _search(shape: _Shape) -> Any:
    """The union of the searches the arrival's facts allow, with bind parameters (category,
    since, tenant, source, phone, lat0..lon1, visible): built once per shape."""
    c = _CASES.c

    def base(found_by: str) -> Select:
        query = select(
            c.id,
            c.category,
            c.created_at,
            c.tenant_id,
            c.source_id,
            c.latitude,
            c.longitude,
            literal_column(f"'{found_by}'").label("found_by"),
        ).where(c.category == bindparam("category"), c.status.in_(_OPEN))
        if shape.scoped:
            query = query.where(c.tenant_id.in_(bindparam("visible", expanding=True)))
        return query

    parts = []
    if shape.source:
        by_source = base("source").where(
            c.tenant_id == bindparam("tenant"),
            c.source_id == bindparam("source"),
            c.created_at >= bindparam("since"),
        )
        parts.append(by_source.order_by(c.created_at.desc()).limit(5))
    if shape.phone:
        callers = select(_REPORTS.c.case_id).where(_REPORTS.c.reporter_phone == bindparam("phone"))
        if shape.scoped:
            callers = callers.where(_REPORTS.c.tenant_id.in_(bindparam("visible", expanding=True)))
        by_phone = base("phone").where(c.id.in_(callers))
        if not shape.unrouted:
            by_phone = by_phone.where(c.tenant_id == bindparam("tenant"))
        parts.append(by_phone.order_by(c.created_at.desc()).limit(5))
    if shape.point:
        near = base("near").where(
            c.created_at >= bindparam("since"),
            c.latitude.between(bindparam("lat0"), bindparam("lat1")),
            c.longitude.between(bindparam("lon0"), bindparam("lon1")),
        )
        parts.append(near.limit(50))
    if len(parts) == 1:
        return parts[0]
    # Each part keeps its own order and limit inside the union.
    return union_all(*(p.subquery().select() for p in parts))


def _search_values(session: AsyncSession, arrival: Arrival, rules: Rules) -> dict[str, Any]:
    values: dict[str, Any] = {
        "category": arrival.category,
        "since": arrival.received_at - rules.window,
        "tenant": arrival.tenant_id,
        "source": arrival.source_id,
        "phone": arrival.phone,
        "visible": list(session.info["tenant_ids"]),
    }
    if arrival.latitude is not None and arrival.longitude is not None:
        lat0, lat1, lon0, lon1 = duplicates.box(
            arrival.latitude, arrival.longitude, rules.distance_m
        )
        values.update(lat0=lat0, lat1=lat1, lon0=lon0, lon1=lon1)
    return values


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


@functools.cache
def _advisory_locks(n: int) -> Any:
    """SELECT pg_advisory_xact_lock(hashtextextended(:k0, 0)), ... for n keys, built once."""
    return select(
        *(
            func.pg_advisory_xact_lock(func.hashtextextended(bindparam(f"k{i}", type_=String), 0))
            for i in range(n)
        )
    )


# The open case a report joins, its row locked as case_for_change locks it: built once.
_LOCK_CASE = select(_CASES).where(_CASES.c.id == bindparam("id")).with_for_update()


async def _locked_case(session: AsyncSession, case_id: uuid.UUID) -> Case:
    """The case a report attaches to, its row locked until the commit: a Core ``SELECT ... FOR
    UPDATE`` on the transaction's connection, the Case made from the row as the ORM query
    (loaders.case_for_change, about 2 ms of CPU) would leave it: persistent, every column
    loaded, later changes flushed as an UPDATE. A case this session holds already takes the
    ORM query (its populate_existing refreshes the held object). The id comes from the
    duplicate search, which saw only the session's towns."""
    sync = session.sync_session
    if sync.identity_map.get(sync.identity_key(Case, case_id)) is not None:
        return await case_for_change(session, case_id)
    connection = await session.connection()
    row = (await connection.execute(_LOCK_CASE, {"id": case_id})).one_or_none()
    if row is None:
        raise not_found("案件", "caseId")
    case = Case(**{key: row._mapping[column] for column, key, _ in _columns(Case)})
    make_transient_to_detached(case)
    session.add(case)
    return case


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
    other report joins it meanwhile. A case already URGENT needs no count. Core, built once,
    on the transaction's connection (a case's reports are its town's: no town to filter)."""
    if case.priority == Priority.URGENT:
        return 0
    connection = await session.connection()
    statement = _CALLERS[bool(report.reporter_phone)]
    found = await connection.scalar(statement, {"case": case.id, "phone": report.reporter_phone})
    return int(found or 0)


def _callers_statement(with_phone: bool) -> Any:
    r = _REPORTS.c
    stored = select(r.reporter_phone).where(
        r.case_id == bindparam("case", type_=r.case_id.type), r.reporter_phone.is_not(None)
    )
    phones = (
        stored.union(select(bindparam("phone", type_=r.reporter_phone.type)))
        if with_phone
        else stored.distinct()
    )
    return select(func.count()).select_from(phones.subquery())


# {the report has a number: the count}, built once.
_CALLERS = {True: _callers_statement(True), False: _callers_statement(False)}


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
    statement = _TAKE_NUMBER[insert is pg_insert]
    return int(await session.scalar(statement, {"scope": scope_key}))


def _take_number_statement(insert: Any) -> Any:
    return (
        insert(CaseCounter)
        .values(scope=bindparam("scope", type_=String), value=1)
        .on_conflict_do_update(
            index_elements=[CaseCounter.scope], set_={"value": CaseCounter.value + 1}
        )
        .returning(CaseCounter.value)
    )


# {is PostgreSQL: the upsert}, built once (its compiled form is cached).
_TAKE_NUMBER = {
    True: _take_number_statement(pg_insert),
    False: _take_number_statement(sqlite_insert),
}


# --- the new case's rows in one statement (PostgreSQL) ------------------------------------------

# Parents first. A data-modifying CTE's foreign keys are checked at the end of the statement.
# A hook's outbox message (the platform's status of a new case) goes with them.
_BATCHED: tuple[type[Any], ...] = (
    Case, Report, Event, CaseHop, CaseCandidate, ExternalRef, OutboxMessage
)  # fmt: skip


async def write_new_rows(session: AsyncSession) -> None:
    """On PostgreSQL, the registration's new rows (a new case with its report, event, hop,
    reference and a hook's outbox message; or an attached report with its events and its
    case's UPDATE) in one INSERT of data-modifying CTEs
    (and several candidates or events in one executemany), instead of the flush at commit
    sending a statement per table through the ORM's unit of work; the objects then become
    persistent as if flushed. Called when the registration's rows are final (the answer is
    made). Anything else stays for the flush; on SQLite all of it does."""
    sync = session.sync_session
    if sync.get_bind().dialect.name != "postgresql":
        return
    found: dict[type[Any], list[Any]] = {}
    for obj in sync.new:
        if type(obj) in _BATCHED:
            found.setdefault(type(obj), []).append(obj)
    if not found:
        return  # a repeated delivery: nothing new
    visible = set(visible_tenants(sync))
    rows: dict[type[Any], list[dict[str, Any]]] = {}
    for cls in _BATCHED:
        for obj in found.get(cls, ()):
            if obj.tenant_id not in visible:  # what the before-flush check refuses
                raise TenantScopeError(f"{cls.__name__} of a tenant outside this session's scope")
            row = _row(obj)
            if row is None:
                return  # let the flush write them all
            rows.setdefault(cls, []).append(row)
    single = tuple(cls for cls, found_rows in rows.items() if len(found_rows) == 1)
    connection = await session.connection()
    if single:
        values = {k: v for cls in single for k, v in rows[cls][0].items()}
        changed = _changed_case(sync, visible)
        keys: tuple[str, ...] = ()
        if changed is not None:
            case, update_values = changed
            keys = tuple(sorted(update_values))
            values.update({f"changed_cases_{k}": v for k, v in update_values.items()})
            values["changed_cases_id_key"] = case.id
        await connection.execute(_insert_rows(single, keys), values)
        if changed is not None:
            for key, value in changed[1].items():  # written: no UPDATE left for the flush
                set_committed_value(changed[0], key, value)
    for cls, found_rows in rows.items():
        if len(found_rows) > 1:  # several candidates or events: one executemany
            await connection.execute(_insert_rows((cls,)), found_rows)
    _now_persistent(sync, [obj for objs in found.values() for obj in objs])


def _row(obj: Any) -> dict[str, Any] | None:
    """The object's INSERT parameters (named table_column), its columns' defaults set on it as
    a flush would; None when a JSON column is unset (SQL NULL to the ORM, JSON null here)."""
    row = {}
    for column, key, name in _columns(type(obj)):
        if key not in obj.__dict__:
            if isinstance(column.type, JSON):
                return None
            default = column.default
            value = None
            if default is not None:
                value = default.arg(None) if default.is_callable else default.arg  # type: ignore[attr-defined]
            setattr(obj, key, value)
        row[name] = obj.__dict__[key]
    return row


def _now_persistent(sync: Any, objects: list[Any]) -> None:
    """Pending objects whose rows are written: persistent with their values as loaded ones."""
    for obj in objects:
        if obj in sync:  # expunging a case may have cascaded to its report
            sync.expunge(obj)
    for obj in objects:
        make_transient_to_detached(obj)
    for obj in objects:
        sync.add(obj)


_COLUMNS: dict[type[Any], list[tuple[Column[Any], str, str]]] = {}


def _columns(cls: type[Any]) -> list[tuple[Column[Any], str, str]]:
    """(column, attribute, parameter name) of each column of the class' table."""
    found = _COLUMNS.get(cls)
    if found is None:
        mapper, table = sa_inspect(cls), cls.__table__
        found = _COLUMNS[cls] = [
            (c, mapper.get_property_by_column(c).key, f"{table.name}_{c.key}")
            for c in table.columns
        ]
    return found


def _changed_case(sync: Any, visible: set[Any]) -> tuple[Case, dict[str, Any]] | None:
    """The one case changed in this transaction (the case a report joins: its count, channels,
    feedback flag, priority, updated_at) and its changed columns, for the rows' statement to
    UPDATE as the flush would; None when there is none or more than one."""
    cases = [obj for obj in sync.dirty if type(obj) is Case]
    if len(cases) != 1 or cases[0].tenant_id not in visible:
        return None  # the flush writes them (and its before-flush check refuses a foreign one)
    attrs = sa_inspect(cases[0]).attrs
    values = {}
    for column, key, _ in _columns(Case):
        history = attrs[key].history
        if history.added and not history.unchanged:
            values[column.key] = history.added[0]
    return (cases[0], values) if values else None


@functools.cache
def _insert_rows(classes: tuple[type[Any], ...], changed_case: tuple[str, ...] = ()) -> Any:
    """INSERT a row of the last class' table WITH an INSERT of a row of each other's, bind
    parameters named table_column, and with an UPDATE of the case's ``changed_case`` columns
    (changed_cases_column, the case by changed_cases_id_key): built once per combination (a
    few). Every CTE sees the statement's snapshot; the case's row is locked already."""
    inserts = [
        insert(cls.__table__).values(
            {c.key: bindparam(name, type_=c.type) for c, _, name in _columns(cls)}
        )
        for cls in classes
    ]
    *first, last = inserts
    ctes = [s.cte(f"new_{s.table.name}") for s in first]
    if changed_case:
        c = _CASES.c
        changed = (
            _CASES.update()
            .where(c.id == bindparam("changed_cases_id_key", type_=c.id.type))
            .values({k: bindparam(f"changed_cases_{k}", type_=c[k].type) for k in changed_case})
        )
        ctes.append(changed.cte("changed_cases"))
    return last.add_cte(*ctes)
