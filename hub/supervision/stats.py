"""Counts for the command-centre board, in SQL aggregates rather than Python loops.

onTimeRate = resolved on time / (resolved + open and overdue), null where both are zero: open
overdue cases count against it, so a town cannot look punctual by leaving late cases open.

satisfactionRate = (SATISFIED + BASICALLY_SATISFIED) / callers who answered (UNREACHABLE does
not count), null when no one answered. onSiteHours: mean and median hours from registration to
the case's onSiteAt, over the cases that have one (null when none has).

The parts add up: every group of every key answers a row (zero rows for a town with no cases, a
status no case is in), and within a row total = open + resolved + withdrawn, by status (open:
登记 转办 办理 督查; resolved: 办结 反馈 结案; withdrawn: 合并 不予受理). Group ALL answers the
one row of the caller's towns together, equal to the sum of the TENANT, STATUS or CATEGORY
rows (CHANNEL rows need not add up: a case may have come by several channels).

The seed's own categories, per case registered in the period: networkFound (came by one of the
three networks: the 12369 hotline, the city platform, online monitoring), platformAssigned
(交办 by the city platform: its channel or a platform external ref), solvedOnSite (a patrol's
finding closed it on site, 现场解决). jointActions counts the joint actions (联合执法) that acted
on the group's cases in the period (by the action's time, as cards by their issue time).
"""

from __future__ import annotations

import enum
import statistics
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, case, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.auth import Scope
from hub.cases.enums import (
    CATEGORY_LABELS,
    CHANNEL_LABELS,
    OPEN_STATUSES,
    STATUS_LABELS,
    CaseStatus,
    Category,
    Channel,
    Satisfaction,
    channel_bit,
    channels_of,
)
from hub.cases.intake import PLATFORM_SYSTEM
from hub.cases.model import Case, ExternalRef
from hub.db import utcnow
from hub.errors import invalid, needs_offset
from hub.joint.model import JointActionCase
from hub.patrols.model import Finding
from hub.roles import Permission
from hub.supervision.model import CaseCard, CaseHop


class StatsGroup(enum.Enum):
    TENANT = "TENANT"
    CHANNEL = "CHANNEL"
    CATEGORY = "CATEGORY"
    STATUS = "STATUS"
    ALL = "ALL"  # one row: the caller's towns together


ALL_KEY = "ALL"
RESOLVED_STATUSES = (CaseStatus.RESOLVED, CaseStatus.FEEDBACK_GIVEN, CaseStatus.CLOSED)
WITHDRAWN_STATUSES = (CaseStatus.MERGED, CaseStatus.REJECTED)
# The three networks of 三网合一: the 12369 hotline, the city platform, online monitoring.
NETWORK_MASK = sum(channel_bit(c) for c in (Channel.HOTLINE, Channel.PLATFORM, Channel.MONITORING))


@dataclass
class Row:
    key: str
    label: str
    total: int = 0
    open: int = 0
    resolved: int = 0
    withdrawn: int = 0
    overdue: int = 0
    on_time: int = 0
    yellow_cards: int = 0
    red_cards: int = 0
    satisfied: int = 0
    answered: int = 0
    network_found: int = 0
    platform_assigned: int = 0
    solved_on_site: int = 0
    joint_actions: int = 0
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
        StatsGroup.ALL: Case.tenant_id,  # grouped by town, then summed into one row
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
    """Cases created in [start, end) and cards and joint actions in it, grouped by one key;
    a row for every key of the group, zero where nothing happened."""
    scope.require(Permission.CASE_READ)
    now = utcnow()
    key = _key_column(group)
    is_open = Case.status.in_(list(OPEN_STATUSES))
    resolved = Case.status.in_(list(RESOLVED_STATUSES))
    platform = or_(
        Case.channel_mask.op("&")(channel_bit(Channel.PLATFORM)) != 0,
        exists().where(ExternalRef.case_id == Case.id, ExternalRef.system == PLATFORM_SYSTEM),
    )
    on_site = exists().where(Finding.case_id == Case.id, Finding.resolved_on_site.is_(True))

    def count(condition: Any) -> Any:
        return func.sum(case((condition, 1), else_=0))

    query = (
        select(
            key,
            func.count(),
            count(is_open),
            count(resolved),
            count(Case.status.in_(list(WITHDRAWN_STATUSES))),
            count(and_(is_open, Case.due_at < now)),
            count(
                and_(resolved, or_(Case.due_at.is_(None), Case.resolved_at <= Case.due_at)),
            ),
            count(Case.satisfaction.in_(SATISFIED)),
            count(Case.satisfaction.in_(ANSWERED)),
            count(Case.channel_mask.op("&")(NETWORK_MASK) != 0),
            count(platform),
            count(on_site),
        )
        .where(*_period(Case.created_at, start, end))
        .group_by(key)
    )
    rows = _empty_rows(scope, group)
    for value, total, *figures in await session.execute(query):
        for k in _keys(group, value):
            row = rows.setdefault(k, Row(k, _label(scope, group, k)))
            row.total += total
            (
                open_,
                resolved_,
                withdrawn,
                overdue,
                on_time,
                satisfied,
                answered,
                network,
                platform_,
                on_site_,
            ) = (int(f or 0) for f in figures)
            row.open += open_
            row.resolved += resolved_
            row.withdrawn += withdrawn
            row.overdue += overdue
            row.on_time += on_time
            row.satisfied += satisfied
            row.answered += answered
            row.network_found += network
            row.platform_assigned += platform_
            row.solved_on_site += on_site_
    await _add_on_site(session, group, start, end, rows)
    await _add_cards(session, group, start, end, rows, scope)
    await _add_joint(session, group, start, end, rows, scope)
    return sorted(rows.values(), key=lambda r: (-r.total, r.key))


def _empty_rows(scope: Scope, group: StatsGroup) -> dict[str, Row]:
    """A zero row for every key the group can take (every town the caller sees)."""
    keys: list[str]
    if group == StatsGroup.TENANT:
        keys = [str(t) for t in scope.tenant_ids]
    elif group == StatsGroup.ALL:
        keys = [ALL_KEY]
    else:
        keys = [
            str(v.value)
            for v in {
                StatsGroup.CHANNEL: Channel,
                StatsGroup.CATEGORY: Category,
                StatsGroup.STATUS: CaseStatus,
            }[group]
        ]
    return {k: Row(k, _label(scope, group, k)) for k in keys}


async def _add_joint(
    session: AsyncSession,
    group: StatsGroup,
    start: datetime | None,
    end: datetime | None,
    rows: dict[str, Row],
    scope: Scope,
) -> None:
    """Distinct joint actions that acted on the group's cases in [start, end)."""
    key = JointActionCase.tenant_id if group == StatsGroup.TENANT else _key_column(group)
    if group == StatsGroup.ALL:
        query = select(func.count(func.distinct(JointActionCase.action_id))).where(
            *_period(JointActionCase.at, start, end)
        )
        rows[ALL_KEY].joint_actions += int(await session.scalar(query) or 0)
        return
    grouped = (
        select(key, func.count(func.distinct(JointActionCase.action_id)))
        .select_from(JointActionCase)
        .join(Case, Case.id == JointActionCase.case_id)
        .where(*_period(JointActionCase.at, start, end))
        .group_by(key)
    )
    for value, count in await session.execute(grouped):
        for k in _keys(group, value):
            row = rows.setdefault(k, Row(k, _label(scope, group, k)))
            row.joint_actions += count


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
    if group == StatsGroup.ALL:
        return [ALL_KEY]
    if group == StatsGroup.CHANNEL:
        return [c.value for c in channels_of(int(value or 0))] or [Channel.OTHER.value]
    if group == StatsGroup.TENANT:
        return [str(value)]
    return [str(value)]


def _label(scope: Scope, group: StatsGroup, key: str) -> str:
    if group == StatsGroup.ALL:
        return "合计"
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
