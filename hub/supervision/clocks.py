"""Each hop's clocks: which rule applies, when a phase turns yellow and red, pauses, extensions.

A case moves from office to office (city -> town -> grid member, and back when returned); each
hop has a phase (accept, handle, review, feedback) whose thresholds are stored when the phase
starts, so the sweep and the "overdue" lists are indexed queries, never computed on read.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.cases.deadlines import add_working_days
from hub.cases.model import Case, Event
from hub.db import Database, utcnow
from hub.supervision.calendar import workdays
from hub.supervision.model import CaseHop, Level, LimitUnit, Phase, TimeLimitRule

RULES_CACHE_SECONDS = 30.0


async def rules(session: AsyncSession) -> list[TimeLimitRule]:
    db: Database = session.info["db"]
    cached: list[TimeLimitRule] | None = db.cache.get("time_limit_rules")
    if cached is not None:
        return cached
    found = list(await session.scalars(select(TimeLimitRule)))
    # Cached across sessions: detached, so a rollback of this one (a refused registration)
    # cannot expire them under the other readers.
    for rule in found:
        session.expunge(rule)
    db.cache.put("time_limit_rules", found, RULES_CACHE_SECONDS)
    return found


def forget_rules(db: Database) -> None:
    db.cache.pop("time_limit_rules", None)


def pick(found: list[TimeLimitRule], level: str, phase: str, case: Case) -> TimeLimitRule | None:
    """The most specific rule for this level and phase that matches the case."""
    best, best_score = None, -1
    for rule in found:
        if rule.level != level or rule.phase != phase:
            continue
        wanted = (
            (rule.category, case.category),
            (rule.priority, case.priority),
            (rule.channel, _first_channel(case)),
        )
        if any(value is not None and value != actual for value, actual in wanted):
            continue
        score = sum(value is not None for value, _ in wanted)
        if score > best_score:
            best, best_score = rule, score
    return best


def _first_channel(case: Case) -> str | None:
    channels = case.channels
    return channels[0].value if channels else None


async def thresholds(
    session: AsyncSession, case: Case, level: str, phase: str, start: datetime, tz: ZoneInfo
) -> tuple[datetime | None, datetime | None]:
    rule = pick(await rules(session), level, phase, case)
    if rule is None:
        return None, None
    if rule.unit == LimitUnit.HOURS:
        return start + timedelta(hours=rule.yellow_after), start + timedelta(hours=rule.red_after)
    is_workday = await workdays(session, case.tenant_id, start.astimezone(tz).date())
    return (
        add_working_days(start, round(rule.yellow_after), tz, is_workday),
        add_working_days(start, round(rule.red_after), tz, is_workday),
    )


async def current_hop(session: AsyncSession, case: Case) -> CaseHop | None:
    return await session.scalar(
        select(CaseHop)
        .where(CaseHop.case_id == case.id, CaseHop.ended_at.is_(None))
        .order_by(CaseHop.seq.desc())
        .limit(1)
    )


def level_of(tenant_kind: str, member_id: uuid.UUID | None) -> Level:
    if member_id is not None:
        return Level.GRID
    return Level.CITY if tenant_kind == "CITY" else Level.TOWN


async def open_hop(
    session: AsyncSession,
    case: Case,
    level: Level,
    member_id: uuid.UUID | None,
    from_tenant_id: uuid.UUID | None,
    tz: ZoneInfo,
    phase: Phase = Phase.ACCEPT,
    *,
    first: bool = False,
) -> CaseHop:
    """A new hop in its accept (or dispatch) phase; the office's previous hop ends. ``first``:
    the case is new in this transaction (hop 1, no previous one to end)."""
    now = utcnow()
    previous = None if first else await current_hop(session, case)
    if previous is not None:
        dispatched = previous.phase == Phase.DISPATCH
        end_hop(previous, "DISPATCHED" if dispatched else "REDISPATCHED", now)
    if previous is not None:
        seq = previous.seq + 1
    else:
        seq = 1 if first else await _last_seq(session, case) + 1
    hop = CaseHop(
        id=uuid.uuid4(),
        tenant_id=case.tenant_id,
        case_id=case.id,
        seq=seq,
        level=level,
        member_id=member_id,
        from_tenant_id=from_tenant_id,
        phase=phase,
        phase_started_at=now,
        opened_at=now,
    )
    session.add(hop)
    await start_phase(session, case, hop, phase, tz, now)
    return hop


async def open_dispatch_hop(
    session: AsyncSession, case: Case, tenant_kind: str, tz: ZoneInfo, *, new_case: bool = False
) -> CaseHop:
    """登记 -> 转办: a REGISTERED case waits on the office that holds it (the command centre or a
    town), with a clock like any other phase, until it is dispatched. ``new_case``: the case is
    being registered in this transaction, so it has no hop yet (nothing to look up)."""
    level = Level.CITY if tenant_kind == "CITY" else Level.TOWN
    return await open_hop(session, case, level, None, None, tz, Phase.DISPATCH, first=new_case)


async def _last_seq(session: AsyncSession, case: Case) -> int:
    from sqlalchemy import func

    return int(
        await session.scalar(
            select(func.coalesce(func.max(CaseHop.seq), 0)).where(CaseHop.case_id == case.id)
        )
        or 0
    )


async def start_phase(
    session: AsyncSession,
    case: Case,
    hop: CaseHop,
    phase: Phase,
    tz: ZoneInfo,
    now: datetime | None = None,
) -> None:
    """Start a phase's clocks; the handle phase keeps a deadline set from outside (the city
    platform's, or an approved extension) as its yellow threshold."""
    now = now or utcnow()
    hop.phase, hop.phase_started_at = phase, now
    hop.yellow_carded = hop.red_carded = False
    hop.suspended = False
    if phase == Phase.DONE:
        hop.yellow_at = hop.red_at = None
        return
    hop.yellow_at, hop.red_at = await _clock(session, case, hop.level, phase, now, tz)


async def _clock(
    session: AsyncSession, case: Case, level: str, phase: str, start: datetime, tz: ZoneInfo
) -> tuple[datetime | None, datetime | None]:
    yellow, red = await thresholds(session, case, level, phase, start, tz)
    if not (case.due_fixed and case.due_at is not None):
        return yellow, red
    gap = (red - yellow) if yellow and red else timedelta(days=1)
    if phase == Phase.HANDLE:
        yellow, red = case.due_at, case.due_at + gap
    elif phase == Phase.DISPATCH:
        # A platform case keeps the platform's deadline: left undispatched past it, it is
        # carded then at the latest, whatever the dispatch rule says.
        yellow = min(yellow, case.due_at) if yellow else case.due_at
        red = min(red, case.due_at + gap) if red else case.due_at + gap
    return yellow, red


async def fix_deadline(session: AsyncSession, case: Case, due_at: datetime, tz: ZoneInfo) -> None:
    """A deadline set from outside (an approved extension, the city platform's change): the
    case keeps it, and the running phase that counts towards it (dispatch or handle) is timed
    again from when it started, so its cards fire by the new deadline, not the old one."""
    case.due_at, case.due_fixed = due_at, True
    hop = await current_hop(session, case)
    if hop is not None and hop.phase in (Phase.DISPATCH, Phase.HANDLE) and not hop.suspended:
        await start_phase(session, case, hop, Phase(hop.phase), tz, hop.phase_started_at)


def end_hop(hop: CaseHop, reason: str, now: datetime | None = None) -> None:
    hop.ended_at, hop.end_reason = now or utcnow(), reason
    hop.phase, hop.yellow_at, hop.red_at = Phase.DONE, None, None


async def end_current(session: AsyncSession, case: Case, reason: str) -> None:
    hop = await current_hop(session, case)
    if hop is not None:
        end_hop(hop, reason)


# --- pauses (挂起/解挂) --------------------------------------------------------------------------


def paused_since(events: list[Event], since: datetime, now: datetime) -> timedelta:
    """Total paused time after ``since``, rebuilt from SUSPEND and RESUME events."""
    total, started = timedelta(), None
    for event in sorted(events, key=lambda e: e.at):
        if event.action == "SUSPEND" and started is None:
            started = max(event.at, since)
        elif event.action == "RESUME" and started is not None:
            total += max(event.at - started, timedelta())
            started = None
    if started is not None:
        total += now - started
    return total


async def suspend(hop: CaseHop) -> None:
    hop.suspended, hop.yellow_at, hop.red_at = True, None, None


async def resume(session: AsyncSession, case: Case, hop: CaseHop, tz: ZoneInfo) -> None:
    """Restore the phase's thresholds moved on by every pause since the phase started."""
    now = utcnow()
    events = list(
        await session.scalars(
            select(Event).where(Event.case_id == case.id, Event.action.in_(["SUSPEND", "RESUME"]))
        )
    )
    started = hop.phase_started_at
    yellow, red = await _clock(session, case, hop.level, hop.phase, started, tz)
    pause = paused_since(events, started, now)
    hop.suspended = False
    hop.yellow_at = yellow + pause if yellow else None
    hop.red_at = red + pause if red else None


async def set_rule(session: AsyncSession, values: Mapping[str, Any]) -> TimeLimitRule:
    """Add or change the rule for one (level, phase, category, priority, channel)."""
    key = {k: values[k] for k in ("level", "phase", "category", "priority", "channel")}
    found = await session.scalar(
        select(TimeLimitRule).where(
            *[
                getattr(TimeLimitRule, k) == v
                if v is not None
                else getattr(TimeLimitRule, k).is_(None)
                for k, v in key.items()
            ]
        )
    )
    rule = found or TimeLimitRule(**key)
    rule.unit, rule.yellow_after, rule.red_after = (
        values["unit"],
        values["yellow_after"],
        values["red_after"],
    )
    rule.updated_at = utcnow()
    session.add(rule)
    forget_rules(session.info["db"])
    return rule
