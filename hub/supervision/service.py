"""Supervision (督查/督办): the card sweep, cards by hand, urges, pauses and extensions, and
reading and setting the clocks' rules and the working calendar.

The sweep is set-based: one UPDATE ... RETURNING per threshold marks every hop whose threshold
has passed and was not carded yet, and only those rows come back to Python for their events,
audit entries and notifications. Marking and carding happen in one transaction, and a hop's
flag is taken under its row lock, so two sweeps at once cannot card a hop twice (the cards'
unique sweep_key is a second guard).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from hub import validation
from hub.audit import service as audit
from hub.auth import SYSTEM, Scope
from hub.cases import loaders, steps, timeline, workflow
from hub.cases.enums import (
    CARD_LABELS,
    FINAL_STATUSES,
    OPEN_STATUSES,
    STATUS_LABELS,
    Card,
    CaseStatus,
    Category,
    Channel,
    EventKind,
    Priority,
)
from hub.cases.model import Case
from hub.db import utcnow
from hub.errors import DomainError, ErrorCode, invalid, label, not_found, unknown_town
from hub.grid.model import Member
from hub.ledgers import cards as ledger_cards
from hub.roles import Permission, Role, require
from hub.supervision import calendar, clocks, notes
from hub.supervision.model import (
    CaseCard,
    CaseHop,
    ExtensionRequest,
    ExtensionStatus,
    Level,
    LimitUnit,
    Phase,
    TimeLimitRule,
    WorkDay,
)
from hub.tenancy.model import Tenant, TenantKind

if TYPE_CHECKING:
    from hub.notify.notifier import Note

CARD_RANK = {Card.NONE: 0, Card.YELLOW: 1, Card.RED: 2}
LEVEL_RANK = {Level.GRID: 1, Level.TOWN: 2, Level.CITY: 3}
PHASE_NAMES = {
    "DISPATCH": "转办",
    "ACCEPT": "签收",
    "HANDLE": "办理",
    "REVIEW": "审核",
    "FEEDBACK": "反馈",
}

# Roles that speak for a town office when they do not see the city (see office_level).
TOWN_OFFICE_ROLES = frozenset(
    {Role.ADMIN, Role.DISPATCHER, Role.SUPERVISOR, Role.OPERATOR, Role.VIEWER, Role.HOTLINE}
)


@dataclass(frozen=True)
class Crossed:
    hop_id: uuid.UUID
    case_id: uuid.UUID
    member_id: uuid.UUID | None
    phase: str
    level: Card


# --- the sweep ------------------------------------------------------------------------------------


async def sweep(
    session: AsyncSession, tenant_id: uuid.UUID, now: datetime | None = None, *, tz: ZoneInfo
) -> int:
    """Card every hop of one tenant whose yellow or red threshold has passed; returns how many
    cards were issued. Running it again issues nothing new. ``tz``: the local time zone the
    notifications' times are written in. The tenant's overdue ledger items (台账) are carded in
    the same run and transaction, through the same notifications (hub/ledgers/cards.py)."""
    now = now or utcnow()
    issued = 0
    for level in (Card.YELLOW, Card.RED):
        crossed = await _mark_crossed(session, tenant_id, level, now)
        if crossed:
            issued += await _card_crossed(session, tenant_id, crossed, now, tz)
    issued += await ledger_cards.sweep_items(session, tenant_id, now, tz)
    return issued


async def _mark_crossed(
    session: AsyncSession, tenant_id: uuid.UUID, level: Card, now: datetime
) -> list[Crossed]:
    at, carded = (
        (CaseHop.yellow_at, CaseHop.yellow_carded)
        if level == Card.YELLOW
        else (CaseHop.red_at, CaseHop.red_carded)
    )
    rows = await session.execute(
        update(CaseHop)
        .where(
            CaseHop.tenant_id == tenant_id, CaseHop.ended_at.is_(None), carded.is_(False), at <= now
        )
        .values({carded: True})
        .returning(CaseHop.id, CaseHop.case_id, CaseHop.member_id, CaseHop.phase)
        .execution_options(synchronize_session=False)
    )
    return [Crossed(r.id, r.case_id, r.member_id, r.phase, level) for r in rows]


async def _card_crossed(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    crossed: list[Crossed],
    now: datetime,
    tz: ZoneInfo,
) -> int:
    rows = [
        {
            "id": uuid.uuid4(),
            "tenant_id": tenant_id,
            "case_id": c.case_id,
            "hop_id": c.hop_id,
            "member_id": c.member_id,
            "level": c.level.value,
            "phase": c.phase,
            "reason": f"超过{PHASE_NAMES.get(c.phase, c.phase)}时限",
            "automatic": True,
            "sweep_key": f"{c.hop_id}:{c.phase}:{c.level}",
            "issued_at": now,
            "issued_by_id": SYSTEM.id,
            "issued_by_name": SYSTEM.name,
        }
        for c in crossed
    ]
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    await session.execute(insert(CaseCard).on_conflict_do_nothing(), rows)
    case_rows = {
        c.id: c
        for c in await session.scalars(
            select(Case).where(Case.id.in_([c.case_id for c in crossed])).with_for_update()
        )
    }
    # One UPDATE marks every crossed hop's card; then the events, audit entries and outbox rows
    # are built without a flush per card (no_autoflush: the audit head is locked once, see
    # audit._lock_head) and leave in one flush, batched (executemany / insertmanyvalues).
    level = crossed[0].level  # a sweep pass handles one threshold
    await session.execute(
        update(CaseHop)
        .where(
            CaseHop.id.in_([c.hop_id for c in crossed if c.case_id in case_rows]),
            CaseHop.card != Card.RED,
        )
        .values(card=level)
        .execution_options(synchronize_session=False)
    )
    recalls, queued = [], []
    whos = await _whos(session, list(case_rows.values()))
    with session.no_autoflush:
        for card in crossed:
            case = case_rows.get(card.case_id)
            if case is None:
                continue
            if CARD_RANK[Card(case.card)] < CARD_RANK[card.level]:
                case.card = card.level
            await timeline.record(
                session,
                SYSTEM,
                case,
                EventKind.CARD,
                None,
                None,
                f"{CARD_LABELS[card.level]}：超过{PHASE_NAMES.get(card.phase, card.phase)}时限",
                {"level": card.level.value, "phase": card.phase, "automatic": True},
            )
            who = whos[case.id]
            queued.append(_card_note(case, who, tz, card.level, card.phase, automatic=True))
            if card.level == Card.RED and card.phase == Phase.ACCEPT:
                recalls.append((case, card.hop_id))
        from hub.notify.notifier import notify_many

        await notify_many(session, queued)
    await session.flush()
    for case, hop_id in recalls:
        await _recall(session, case, hop_id, tz)
    return len(crossed)


async def _raise_card(
    session: AsyncSession, case: Case, hop_id: uuid.UUID | None, level: Card
) -> None:
    if CARD_RANK[Card(case.card)] < CARD_RANK[level]:
        case.card = level
    if hop_id is not None:
        await session.execute(
            update(CaseHop)
            .where(CaseHop.id == hop_id, CaseHop.card != Card.RED)
            .values(card=level)
            .execution_options(synchronize_session=False)
        )


async def _recall(session: AsyncSession, case: Case, hop_id: uuid.UUID, tz: ZoneInfo) -> None:
    """A hop not accepted in time goes back to the dispatcher's queue."""
    if case.status != CaseStatus.DISPATCHED:
        return
    hop = await session.get(CaseHop, hop_id)
    before = case.status
    case.status, case.assignee_id = CaseStatus.REGISTERED, None
    if hop is not None:
        clocks.end_hop(hop, "NOT_ACCEPTED")
        if hop.from_tenant_id and hop.from_tenant_id != case.tenant_id:
            await steps.move_case(session, case, hop.from_tenant_id)
    await timeline.record(
        session,
        SYSTEM,
        case,
        EventKind.RECALL,
        before,
        CaseStatus.REGISTERED,
        "未按时签收，退回派单队列",
        {"hop": str(hop_id)},
    )
    # Back in the queue, the case waits on its dispatcher again, with a dispatch clock.
    tenant = await session.get(Tenant, case.tenant_id)
    await clocks.open_dispatch_hop(session, case, tenant.kind if tenant else "", tz)


# --- by hand -------------------------------------------------------------------------------------


def office_level(scope: Scope) -> Level:
    """The caller's office: the command centre (sees the city), a town, or a grid member."""
    city = scope.directory.city
    if city is not None and scope.sees(city.id):
        return Level.CITY
    if scope.roles & TOWN_OFFICE_ROLES:
        return Level.TOWN
    return Level.GRID


# What a person reads for an office level and an extension decision.
LEVEL_LABELS: dict[str, str] = {Level.CITY: "市级", Level.TOWN: "乡镇级", Level.GRID: "网格级"}
_DECISION_LABELS: dict[str, str] = {"APPROVED": "批准", "REFUSED": "驳回"}


async def _open_case(session: AsyncSession, case_id: str) -> Case:
    case = await loaders.case_for_change(session, case_id)
    if case.status in FINAL_STATUSES:
        raise DomainError(
            ErrorCode.INVALID_TRANSITION, f"案件状态为{STATUS_LABELS[case.status]}，已办理完毕"
        )
    return case


async def issue_card(
    session: AsyncSession, scope: Scope, case_id: str, level: Card, reason: str, *, tz: tzinfo
) -> Case:
    """A card by hand: only an office at the same or a higher level than the late one."""
    require(scope, Permission.CARD_ISSUE)
    text = validation.check_text("reason", reason, required=True)
    if Card(level) == Card.NONE:
        raise invalid("level", "牌色只能是黄牌或红牌")
    case = await _open_case(session, case_id)
    hop = await clocks.current_hop(session, case)
    late = Level(hop.level) if hop else _case_level(scope, case)
    if LEVEL_RANK[office_level(scope)] < LEVEL_RANK[late]:
        raise DomainError(
            ErrorCode.FORBIDDEN, f"只有{LEVEL_LABELS[late]}及以上的单位可以对该案件亮牌"
        )
    card = Card(level)
    session.add(
        CaseCard(
            tenant_id=case.tenant_id,
            case_id=case.id,
            hop_id=hop.id if hop else None,
            member_id=hop.member_id if hop else case.assignee_id,
            level=card,
            phase=hop.phase if hop else None,
            reason=text,
            automatic=False,
            issued_by_id=scope.principal.id,
            issued_by_name=scope.principal.name,
        )
    )
    await _raise_card(session, case, hop.id if hop else None, card)
    await timeline.record(
        session,
        scope,
        case,
        EventKind.CARD,
        None,
        None,
        text,
        {"level": card.value, "automatic": False},
    )
    who = (await _whos(session, [case]))[case.id]
    note = _card_note(case, who, tz, card, hop.phase if hop else None, automatic=False)
    await _notify(session, note)
    return case


def _case_level(scope: Scope, case: Case) -> Level:
    kind = scope.directory.by_id[case.tenant_id].kind
    return Level.CITY if kind == TenantKind.CITY else Level.TOWN


async def urge(session: AsyncSession, scope: Scope, case_id: str, note: str, *, tz: tzinfo) -> Case:
    """督办: press the responsible office; on the timeline, the audit trail, and notified."""
    require(scope, Permission.CASE_URGE)
    text = validation.check_text("note", note, required=True)
    case = await _open_case(session, case_id)
    await timeline.record(session, scope, case, EventKind.URGE, None, None, text)
    who = (await _whos(session, [case]))[case.id]
    by = scope.principal.name
    await _notify(
        session,
        _note(
            case,
            "case.urged",
            notes.urged_text(case, who, tz, text or "", by),
            {"note": text, "by": by, **notes.who_data(case, who)},
        ),
    )
    return case


async def suspend(session: AsyncSession, scope: Scope, case_id: str, reason: str) -> Case:
    """挂起: the clock stops until the case is resumed."""
    require(scope, Permission.CASE_SUSPEND)
    text = validation.check_text("reason", reason, required=True)
    case = await _open_case(session, case_id)
    hop = await clocks.current_hop(session, case)
    if hop is None or hop.suspended or case.status not in OPEN_STATUSES:
        raise DomainError(ErrorCode.INVALID_TRANSITION, "案件没有正在计时的期限，无法挂起")
    await clocks.suspend(hop)
    await timeline.record(session, scope, case, EventKind.SUSPEND, None, None, text)
    return case


async def resume(
    session: AsyncSession, scope: Scope, case_id: str, note: str | None, *, tz: ZoneInfo
) -> Case:
    require(scope, Permission.CASE_RESUME)
    text = validation.check_text("note", note)
    case = await _open_case(session, case_id)
    hop = await clocks.current_hop(session, case)
    if hop is None or not hop.suspended:
        raise DomainError(ErrorCode.INVALID_TRANSITION, "案件未挂起")
    await timeline.record(session, scope, case, EventKind.RESUME, None, None, text)
    await session.flush()
    await clocks.resume(session, case, hop, tz)
    return case


async def request_extension(
    session: AsyncSession, scope: Scope, case_id: str, due_at: datetime, reason: str
) -> ExtensionRequest:
    """延期申请: a later deadline, pending a supervisor's approval."""
    require(scope, Permission.EXTENSION_REQUEST)
    text = validation.check_text("reason", reason, required=True)
    validation.check_time("dueAt", due_at)
    case = await _open_case(session, case_id)
    # A grid member asks for more time on their own case only, as they work only their own.
    personal = workflow.refuse_other_member(
        workflow.Action.PROGRESS, scope.roles, scope.principal.member_id, case.assignee_id
    )
    if personal is not None:
        raise DomainError(personal.code, personal.reason)
    if due_at <= utcnow() or (case.due_at and due_at <= case.due_at):
        raise invalid("dueAt", "延期后的期限须晚于原期限")
    hop = await clocks.current_hop(session, case)
    request = ExtensionRequest(
        tenant_id=case.tenant_id,
        case_id=case.id,
        hop_id=hop.id if hop else None,
        requested_due_at=due_at,
        reason=text,
        requested_by_id=scope.principal.id,
        requested_by_name=scope.principal.name,
    )
    session.add(request)
    await timeline.record(
        session,
        scope,
        case,
        EventKind.EXTENSION_REQUESTED,
        None,
        None,
        text,
        {"dueAt": due_at.isoformat(), "request": str(request.id)},
    )
    return request


async def decide_extension(
    session: AsyncSession,
    scope: Scope,
    request_id: str,
    approve: bool,
    note: str | None,
    *,
    tz: ZoneInfo,
) -> Case:
    require(scope, Permission.EXTENSION_DECIDE)
    text = validation.check_text("note", note)
    parsed = validation.parse_id(request_id)
    request = await session.get(ExtensionRequest, parsed) if parsed else None
    if request is None:
        raise not_found("延期申请", "requestId")
    if request.status != "PENDING":
        raise DomainError(
            ErrorCode.CONFLICT,
            f"该延期申请已{_DECISION_LABELS.get(request.status, request.status)}",
        )
    if request.requested_by_id == scope.principal.id:
        # Whoever asks for more time does not grant it to themselves (四眼原则), whatever roles
        # their login holds: another supervisor decides.
        raise DomainError(
            ErrorCode.FORBIDDEN, "不能审批自己提出的延期申请，请由其他督查人员审批", "requestId"
        )
    case = await _open_case(session, str(request.case_id))
    request.status = "APPROVED" if approve else "REFUSED"
    request.decided_at, request.decision_note = utcnow(), text
    request.decided_by_id, request.decided_by_name = scope.principal.id, scope.principal.name
    kind = EventKind.EXTENSION_APPROVED if approve else EventKind.EXTENSION_REFUSED
    verdict = "同意" if approve else "不同意"
    await timeline.record(
        session,
        scope,
        case,
        kind,
        None,
        None,
        text or f"{verdict}{request.requested_by_name}的延期申请",
        {
            "dueAt": request.requested_due_at.isoformat(),
            "request": str(request.id),
            "requestedBy": request.requested_by_name,
        },
    )
    if approve:
        await clocks.fix_deadline(session, case, request.requested_due_at, tz)
    return case


async def extension_requests(
    session: AsyncSession, scope: Scope, status: ExtensionStatus | None
) -> list[tuple[ExtensionRequest, Case]]:
    """The supervisor's queue: extension requests with their cases, oldest first, in the towns
    the caller sees (the session's tenant scope), for those who may decide them."""
    require(scope, Permission.EXTENSION_DECIDE)
    query = select(ExtensionRequest, Case).join(Case, Case.id == ExtensionRequest.case_id)
    if status is not None:
        query = query.where(ExtensionRequest.status == ExtensionStatus(status).value)
    rows = await session.execute(query.order_by(ExtensionRequest.requested_at))
    return [(request, case) for request, case in rows]


# --- the clocks, the rules and the working calendar -----------------------------------------------

RULE_THRESHOLD_MAX = 10_000  # hours or working days: far beyond any real limit, below overflow
CALENDAR_DAYS_MAX = 400  # days per calendar read: a year and a margin


@dataclass(frozen=True)
class RuleSpec:
    """A phase's thresholds; no category, priority or channel matches any."""

    level: Level
    phase: Phase
    unit: LimitUnit
    yellow_after: float
    red_after: float
    category: str | None = None
    priority: str | None = None
    channel: str | None = None


async def case_clocks(
    session: AsyncSession, scope: Scope, case_id: str
) -> tuple[list[CaseHop], list[CaseCard]]:
    """A case's hops in order and its cards oldest first; nothing for a case the caller does not
    see."""
    case = await loaders.get_case(session, scope, case_id)
    if case is None:
        return [], []
    hops = await session.scalars(
        select(CaseHop).where(CaseHop.case_id == case.id).order_by(CaseHop.seq)
    )
    cards = await session.scalars(
        select(CaseCard).where(CaseCard.case_id == case.id).order_by(CaseCard.issued_at)
    )
    return list(hops), list(cards)


async def time_limit_rules(session: AsyncSession, scope: Scope) -> list[TimeLimitRule]:
    """Every rule, by level, phase and priority (the rules are city-wide data)."""
    return list(
        await session.scalars(
            select(TimeLimitRule).order_by(
                TimeLimitRule.level, TimeLimitRule.phase, TimeLimitRule.priority
            )
        )
    )


def _check_rule(spec: RuleSpec) -> None:
    if spec.phase == Phase.DONE:
        raise invalid("phase", "已办结环节不计时")
    if not 0 < spec.yellow_after <= spec.red_after <= RULE_THRESHOLD_MAX:
        raise invalid("yellowAfter", "须满足 0 < 黄牌时限 ≤ 红牌时限 ≤ 10000")
    for name, value, allowed in (
        ("category", spec.category, Category),
        ("priority", spec.priority, Priority),
        ("channel", spec.channel, Channel),
    ):
        if value is not None and value not in allowed.__members__:
            raise invalid(name, f"未知的{label(name)} {value!r}")


async def set_time_limit_rule(session: AsyncSession, scope: Scope, spec: RuleSpec) -> TimeLimitRule:
    """Add or change the rule of a level, phase and match (ADMIN); audited on the city."""
    require(scope, Permission.TIMELIMIT_ADMIN)
    _check_rule(spec)
    values = {
        "level": Level(spec.level).value,
        "phase": Phase(spec.phase).value,
        "category": spec.category,
        "priority": spec.priority,
        "channel": spec.channel,
        "unit": LimitUnit(spec.unit).value,
        "yellow_after": spec.yellow_after,
        "red_after": spec.red_after,
    }
    rule = await clocks.set_rule(session, values)
    city = scope.directory.city
    if city is not None:
        await audit.append(
            session,
            city.id,
            scope.principal,
            "timelimits.set_rule",
            "time_limit_rule",
            f"{values['level']}:{values['phase']}",
            values,
        )
    return rule


def _seen_tenant(scope: Scope, tenant_code: str) -> uuid.UUID:
    tenant = scope.directory.by_code.get(tenant_code)
    if tenant is None or not scope.sees(tenant.id):
        raise unknown_town("tenantCode", tenant_code)
    return tenant.id


async def work_calendar(
    session: AsyncSession, scope: Scope, tenant_code: str, start: date, end: date
) -> list[WorkDay]:
    """A tenant's working calendar between two dates, both included."""
    tenant_id = _seen_tenant(scope, tenant_code)
    if (end - start).days > CALENDAR_DAYS_MAX or end < start:
        raise invalid("to", "开始日期须早于结束日期，且最多查询 400 天")
    return await calendar.days(session, tenant_id, start, end)


async def set_work_day(
    session: AsyncSession, scope: Scope, tenant_code: str, day: date, workday: bool, reason: str
) -> WorkDay:
    """Make a day of a tenant's calendar a working day or not (ADMIN), with the reason; audited."""
    require(scope, Permission.CALENDAR_ADMIN)
    tenant_id = _seen_tenant(scope, tenant_code)
    text = validation.check_text("reason", reason, required=True)
    row = await calendar.set_day(session, tenant_id, day, workday, text or "")
    await audit.append(
        session,
        tenant_id,
        scope.principal,
        "calendar.set_day",
        "calendar",
        f"{tenant_code}:{day.isoformat()}",
        {"workday": workday, "reason": text},
    )
    return row


# --- notifications ----------------------------------------------------------------------------


async def _whos(session: AsyncSession, cases: list[Case]) -> dict[uuid.UUID, notes.Who]:
    """Each case's town and assignee by name (one query for the assignees)."""
    assignees = {c.assignee_id for c in cases if c.assignee_id is not None}
    names: dict[uuid.UUID, str] = {}
    if assignees:
        rows = await session.execute(select(Member.id, Member.name).where(Member.id.in_(assignees)))
        names = {row.id: row.name for row in rows}
    found: dict[uuid.UUID, notes.Who] = {}
    for case in cases:
        town = await session.get(Tenant, case.tenant_id)  # the identity map: once per town
        code, name = (town.code, town.name) if town else ("", "")
        assignee = names.get(case.assignee_id) if case.assignee_id else None
        found[case.id] = notes.Who(code, name, assignee)
    return found


def _card_note(
    case: Case, who: notes.Who, tz: tzinfo, level: Card, phase: str | None, *, automatic: bool
) -> Note:
    phase_name = PHASE_NAMES.get(phase or "", "办理")
    return _note(
        case,
        "case.carded",
        notes.carded_text(case, who, tz, level, phase_name, automatic=automatic),
        {"level": level.value, "phase": phase, "automatic": automatic, **notes.who_data(case, who)},
    )


def _note(case: Case, kind: str, text: str, data: dict[str, Any]) -> Note:
    payload = {"caseId": str(case.id), "caseNumber": case.number, **data}
    key = f"{kind}:{case.id}:{uuid.uuid4()}"
    return (case.tenant_id, kind, text, payload, key, str(case.id))


async def _notify(session: AsyncSession, note: Note) -> None:
    from hub.notify import notify

    await notify(session, *note)
