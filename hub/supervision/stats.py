"""Counts for the command-centre board, in SQL aggregates rather than Python loops.

onTimeRate = resolved on time / (resolved + open and overdue), null where both are zero: open
overdue cases count against it, so a town cannot look punctual by leaving late cases open.

satisfactionRate = (SATISFIED + BASICALLY_SATISFIED) / callers who answered (UNREACHABLE does
not count), null when no one answered. onSiteHours: mean and median hours from registration to
the case's onSiteAt, over the cases that have one (null when none has).
"""

from __future__ import annotations

import enum
import statistics
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.auth import Scope
from hub.cases.enums import (
    CATEGORY_LABELS,
    CHANNEL_LABELS,
    OPEN_STATUSES,
    STATUS_LABELS,
    Channel,
    Satisfaction,
    channels_of,
)
from hub.cases.model import Case
from hub.db import utcnow
from hub.errors import invalid, needs_offset
from hub.roles import Permission
from hub.supervision.model import CaseCard, CaseHop


class StatsGroup(enum.Enum):
    TENANT = "TENANT"
    CHANNEL = "CHANNEL"
    CATEGORY = "CATEGORY"
    STATUS = "STATUS"


@dataclass
class Row:
    key: str
    label: str
    total: int = 0
    open: int = 0
    resolved: int = 0
    overdue: int = 0
    on_time: int = 0
    yellow_cards: int = 0
    red_cards: int = 0
    satisfied: int = 0
    answered: int = 0
    on_site_hours: list[float] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def on_time_rate(self) -> float | None:
        base = self.resolved + self.overdue
        return round(self.on_time / base, 4) if base else None

    @property
    def satisfaction_rate(self) -> float | None:
        return round(self.satisfied / self.answered, 4) if self.answered else None

    @property
    def on_site_hours_mean(self) -> float | None:
        hours = self.on_site_hours
        return round(statistics.fmean(hours), 2) if hours else None

    @property
    def on_site_hours_median(self) -> float | None:
        hours = self.on_site_hours
        return round(statistics.median(hours), 2) if hours else None


def _key_column(group: StatsGroup) -> Any:
    return {
        StatsGroup.TENANT: Case.tenant_id,
        StatsGroup.CHANNEL: Case.channel_mask,
        StatsGroup.CATEGORY: Case.category,
        StatsGroup.STATUS: Case.status,
    }[group]


def _period(column: Any, start: datetime | None, end: datetime | None) -> list[Any]:
    for name, value in (("from", start), ("to", end)):
        if value is not None and value.tzinfo is None:
            raise needs_offset(name)
    return [c for c in (start and column >= start, end and column < end) if c is not None]


async def case_stats(
    session: AsyncSession,
    scope: Scope,
    start: datetime | None,
    end: datetime | None,
    group: StatsGroup,
) -> list[Row]:
    """Cases created in [start, end) and cards issued in it, grouped by one key."""
    scope.require(Permission.CASE_READ)
    now = utcnow()
    key = _key_column(group)
    is_open = Case.status.in_(list(OPEN_STATUSES))
    resolved = Case.resolved_at.is_not(None)
    query = (
        select(
            key,
            func.count(),
            func.sum(case((is_open, 1), else_=0)),
            func.sum(case((resolved, 1), else_=0)),
            func.sum(case((and_(is_open, Case.due_at < now), 1), else_=0)),
            func.sum(
                case(
                    (
                        and_(resolved, or_(Case.due_at.is_(None), Case.resolved_at <= Case.due_at)),
                        1,
                    ),
                    else_=0,
                )
            ),
            func.sum(case((Case.satisfaction.in_(SATISFIED), 1), else_=0)),
            func.sum(case((Case.satisfaction.in_(ANSWERED), 1), else_=0)),
        )
        .where(*_period(Case.created_at, start, end))
        .group_by(key)
    )
    rows: dict[str, Row] = {}
    for (
        value,
        total,
        open_,
        resolved_,
        overdue,
        on_time,
        satisfied,
        answered,
    ) in await session.execute(query):
        for k in _keys(group, value):
            row = rows.setdefault(k, Row(k, _label(scope, group, k)))
            row.total += total
            row.open += open_ or 0
            row.resolved += resolved_ or 0
            row.overdue += overdue or 0
            row.on_time += on_time or 0
            row.satisfied += satisfied or 0
            row.answered += answered or 0
    await _add_on_site(session, group, start, end, rows)
    await _add_cards(session, group, start, end, rows, scope)
    return sorted(rows.values(), key=lambda r: (-r.total, r.key))


SATISFIED = [Satisfaction.SATISFIED.value, Satisfaction.BASICALLY_SATISFIED.value]
ANSWERED = [*SATISFIED, Satisfaction.UNSATISFIED.value]


async def _add_on_site(
    session: AsyncSession,
    group: StatsGroup,
    start: datetime | None,
    end: datetime | None,
    rows: dict[str, Row],
) -> None:
    """Hours from registration to on site, per group: one query over the cases that have an
    onSiteAt (two timestamps each); the median is taken in Python, as SQLite has none."""
    key = _key_column(group)
    query = select(key, Case.created_at, Case.on_site_at).where(
        Case.on_site_at.is_not(None), *_period(Case.created_at, start, end)
    )
    for value, created, on_site in await session.execute(query):
        hours = max((on_site - created).total_seconds() / 3600, 0.0)
        for k in _keys(group, value):
            if k in rows:
                rows[k].on_site_hours.append(hours)


async def _add_cards(
    session: AsyncSession,
    group: StatsGroup,
    start: datetime | None,
    end: datetime | None,
    rows: dict[str, Row],
    scope: Scope,
) -> None:
    key = CaseCard.tenant_id if group == StatsGroup.TENANT else _key_column(group)
    query = (
        select(key, CaseCard.level, func.count())
        .select_from(CaseCard)
        .join(Case, Case.id == CaseCard.case_id)
        .where(*_period(CaseCard.issued_at, start, end))
        .group_by(key, CaseCard.level)
    )
    for value, level, count in await session.execute(query):
        for k in _keys(group, value):
            row = rows.setdefault(k, Row(k, _label(scope, group, k)))
            if level == "YELLOW":
                row.yellow_cards += count
            elif level == "RED":
                row.red_cards += count


def _keys(group: StatsGroup, value: Any) -> list[str]:
    if group == StatsGroup.CHANNEL:
        return [c.value for c in channels_of(int(value or 0))] or [Channel.OTHER.value]
    if group == StatsGroup.TENANT:
        return [str(value)]
    return [str(value)]


def _label(scope: Scope, group: StatsGroup, key: str) -> str:
    if group == StatsGroup.TENANT:
        import uuid

        tenant = scope.directory.by_id.get(uuid.UUID(key))
        return tenant.name if tenant else key
    labels = {
        StatsGroup.CHANNEL: CHANNEL_LABELS,
        StatsGroup.CATEGORY: CATEGORY_LABELS,
        StatsGroup.STATUS: STATUS_LABELS,
    }[group]
    return labels.get(key, key)


@dataclass
class BoardRow:
    tenant_id: Any
    open: int
    overdue: int
    due_soon: int
    yellow: int
    red: int


async def board(session: AsyncSession, scope: Scope, soon_hours: float = 24) -> list[BoardRow]:
    """Per town: open cases, overdue ones, those whose current clock turns yellow soon, and
    carded open cases."""
    scope.require(Permission.CASE_READ)
    from datetime import timedelta

    now = utcnow()
    soon = now + timedelta(hours=soon_hours)
    is_open = Case.status.in_(list(OPEN_STATUSES))
    counts = await session.execute(
        select(
            Case.tenant_id,
            func.count(),
            func.sum(case((Case.due_at < now, 1), else_=0)),
            func.sum(case((Case.card == "YELLOW", 1), else_=0)),
            func.sum(case((Case.card == "RED", 1), else_=0)),
        )
        .where(is_open)
        .group_by(Case.tenant_id)
    )
    soon_rows = dict(
        (
            await session.execute(
                select(CaseHop.tenant_id, func.count())
                .where(
                    CaseHop.ended_at.is_(None), CaseHop.yellow_at > now, CaseHop.yellow_at <= soon
                )
                .group_by(CaseHop.tenant_id)
            )
        ).all()
    )
    found = {
        t: BoardRow(t, n, o or 0, soon_rows.get(t, 0), y or 0, r or 0) for t, n, o, y, r in counts
    }
    return [found.get(t) or BoardRow(t, 0, 0, soon_rows.get(t, 0), 0, 0) for t in scope.tenant_ids]


class CardGroup(enum.Enum):
    TENANT = "TENANT"
    MEMBER = "MEMBER"


@dataclass
class CardCount:
    key: str
    label: str
    yellow: int = 0
    red: int = 0


async def card_counts(
    session: AsyncSession,
    scope: Scope,
    start: datetime | None,
    end: datetime | None,
    group: CardGroup,
) -> list[CardCount]:
    """Cards issued in [start, end) per town or per grid member (the monthly evaluation)."""
    from hub.grid.model import Member

    scope.require(Permission.CASE_READ)
    query: Select[Any, Any, str, int]  # key, label (member name), level, count
    if group == CardGroup.TENANT:
        query = select(CaseCard.tenant_id, CaseCard.tenant_id, CaseCard.level, func.count())
    else:
        query = select(CaseCard.member_id, Member.name, CaseCard.level, func.count()).join(
            Member, Member.id == CaseCard.member_id
        )
    query = query.where(*_period(CaseCard.issued_at, start, end)).group_by(
        *query.selected_columns[:3]
    )
    rows: dict[str, CardCount] = {}
    for key, label, level, count in await session.execute(query):
        name = _label(scope, StatsGroup.TENANT, str(key)) if group == CardGroup.TENANT else label
        row = rows.setdefault(str(key), CardCount(str(key), name))
        if level == "RED":
            row.red += count
        else:
            row.yellow += count
    return sorted(rows.values(), key=lambda r: (-r.red, -r.yellow, r.label))


@dataclass
class CellCount:
    cell_id: Any
    open: int
    overdue: int


async def cell_counts(session: AsyncSession, scope: Scope) -> list[CellCount]:
    """Per grid cell: open cases and the overdue ones among them (the board's map); cases not
    yet placed in a cell are not counted here (they are in the towns' figures)."""
    scope.require(Permission.CASE_READ)
    now = utcnow()
    rows = await session.execute(
        select(
            Case.grid_cell_id,
            func.count(),
            func.sum(case((Case.due_at < now, 1), else_=0)),
        )
        .where(Case.status.in_(list(OPEN_STATUSES)), Case.grid_cell_id.is_not(None))
        .group_by(Case.grid_cell_id)
    )
    return [CellCount(cell, n, overdue or 0) for cell, n, overdue in rows]


async def longest_overdue(session: AsyncSession, scope: Scope, limit: int = 10) -> list[Case]:
    """The open cases longest past their deadline, the longest first."""
    scope.require(Permission.CASE_READ)
    if not 1 <= limit <= 100:
        raise invalid("limit", "条数须在 1 至 100 之间")
    query = (
        select(Case)
        .where(Case.status.in_(list(OPEN_STATUSES)), Case.due_at < utcnow())
        .order_by(Case.due_at, Case.number)
        .limit(limit)
    )
    return list(await session.scalars(query))
