"""The monthly evaluation (每月考核): rules, the month's figures, publishing.

Figures are counted set-based: one SQL statement per kind of input over every member of the
towns asked for (members; patrols with their findings; cases; cards; ledger items; diaries;
spot checks), never a query per member. A published month is read back from its frozen rows.

Who is in a month (documented in docs/evaluation.md): every member of the towns asked for who
is active and was added before the month ended, and every member, active or not, with any
figure counted in the month. ``left`` marks a member no longer active, ``joined`` one added
during the month; targets are not prorated for either.

A member's cases are the cases registered in the month whose assignee (``Case.assignee_id``,
the member the case was last dispatched to) is the member: the same cases and the same
on-time definition as caseStats (hub/supervision/stats.py), so a town's figures add up.
"""

from __future__ import annotations

import math
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.audit import service as audit
from hub.auth import Scope
from hub.cases.enums import OPEN_STATUSES
from hub.cases.model import Case
from hub.db import utcnow
from hub.diaries.model import Diary, SpotCheck, SpotCheckResult
from hub.errors import DomainError, ErrorCode, invalid, unknown_town
from hub.evaluation import formula
from hub.evaluation.defaults import BY_KEY, DEFAULT_RULES, KEYS
from hub.evaluation.formula import Measure, Points, Rule, Sense
from hub.evaluation.model import EvaluationMonth, EvaluationRow, EvaluationRule
from hub.evaluation.months import Month, day_end, parse_month
from hub.grid.model import Member
from hub.ledgers.model import LedgerItem, LedgerStatus
from hub.localtime import local_text
from hub.patrols.model import Finding, Patrol
from hub.patrols.work import bound_member
from hub.roles import Permission, Role, allows
from hub.supervision.model import CaseCard

WEIGHT_MAX = 1_000.0
COUNT_TARGET_MAX = 10_000.0
RATE = "onTimeRate"
COUNTS = tuple(k for k in KEYS if k != RATE)


@dataclass(frozen=True)
class RuleView:
    """A rule as it scores now (or scored, in a published month), with how it is counted."""

    rule: Rule
    description: str
    updated_at: datetime | None = None
    updated_by: str | None = None


@dataclass
class MemberRow:
    member: Member
    tenant_id: uuid.UUID
    figures: dict[str, float | None]
    lines: list[Points]
    score: float
    left: bool
    joined: bool
    rank: int = 0

    def figure(self, key: str) -> int:
        return int(self.figures.get(key) or 0)


@dataclass
class Evaluation:
    month: str
    published_at: datetime | None
    published_by: str | None
    rules: list[RuleView]
    rows: list[MemberRow]

    @property
    def published(self) -> bool:
        return self.published_at is not None


# --- rules --------------------------------------------------------------------------------------


async def current_rules(session: AsyncSession) -> list[RuleView]:
    """Every rule in the method's order: the default, with ADMIN's weight and target if set."""
    stored = {row.key: row for row in await session.scalars(select(EvaluationRule))}
    found = []
    for spec in DEFAULT_RULES:
        row = stored.get(spec.rule.key)
        if row is None:
            found.append(RuleView(spec.rule, spec.description))
            continue
        rule = replace(spec.rule, weight=row.weight, target=row.target)
        found.append(RuleView(rule, spec.description, row.updated_at, row.updated_by))
    return found


async def evaluation_rules(session: AsyncSession, scope: Scope) -> list[RuleView]:
    """The method is published to everyone it judges: any signed-in caller reads it."""
    return await current_rules(session)


def _check_rule(rule: Rule, weight: float, target: float | None) -> None:
    if not math.isfinite(weight):
        raise invalid("weight", "权重须是有限的数")
    if weight < 0:
        raise invalid("weight", "权重不能小于 0（扣分项的方向由考核项决定，权重只写分值）")
    if weight > WEIGHT_MAX:
        raise invalid("weight", f"权重不能超过 {WEIGHT_MAX:g}")
    if target is None:
        return
    limit = 1.0 if rule.measure == Measure.RATE else COUNT_TARGET_MAX
    if not math.isfinite(target) or not 0 < target <= limit:
        what = (
            "比率目标值须大于 0 且不超过 1"
            if limit == 1.0
            else f"目标值须大于 0 且不超过 {limit:g}"
        )
        raise invalid("target", f"{what}（不设目标值请传 null：每单位得“权重”分）")


async def set_rule(
    session: AsyncSession, scope: Scope, key: str, weight: float, target: float | None
) -> RuleView:
    """Change one rule's weight and target (ADMIN); audited on the city's chain. Months not yet
    published score with it from now on; published months keep the rules they were scored with."""
    scope.require(Permission.EVALUATION_RULES)
    spec = BY_KEY.get(key)
    if spec is None:
        raise invalid("key", f"没有考核项 {key!r}（可用：{', '.join(KEYS)}）")
    _check_rule(spec.rule, weight, target)
    row = await session.get(EvaluationRule, key, with_for_update=True)
    before = {"weight": row.weight, "target": row.target} if row else _values(spec.rule)
    now = utcnow()
    if row is None:
        row = EvaluationRule(key=key, label=spec.rule.label)
        session.add(row)
    row.weight, row.target = float(weight), None if target is None else float(target)
    row.updated_at, row.updated_by = now, scope.principal.name
    await session.flush()
    city = scope.directory.city
    if city is not None:
        data = {"before": before, "after": {"weight": row.weight, "target": row.target}}
        await audit.append(
            session, city.id, scope.principal, "evaluation.set_rule", "evaluation_rule", key, data
        )
    rule = replace(spec.rule, weight=row.weight, target=row.target)
    return RuleView(rule, spec.description, now, row.updated_by)


def _values(rule: Rule) -> dict[str, float | None]:
    return {"weight": rule.weight, "target": rule.target}


# --- the month ----------------------------------------------------------------------------------


def _towns(scope: Scope, tenant_code: str | None) -> list[uuid.UUID]:
    if tenant_code is None:
        return list(scope.tenant_ids)
    tenant = scope.directory.by_code.get(tenant_code)
    if tenant is None or not scope.sees(tenant.id):
        raise unknown_town("tenantCode", tenant_code)
    return [tenant.id]


def _only_own_row(scope: Scope) -> bool:
    """A MEMBER (and no role that reads every row of its towns) reads their own row only."""
    return Role.MEMBER in scope.roles and not allows(
        scope.roles - {Role.MEMBER}, Permission.EVALUATION_READ
    )


async def monthly_evaluation(
    session: AsyncSession,
    scope: Scope,
    month: str,
    tenant_code: str | None,
    *,
    tz: ZoneInfo,
) -> Evaluation:
    """The month's rows for the towns the caller sees (one with tenantCode), ranked by score
    among those rows; a published month from its frozen rows, else counted now."""
    scope.require(Permission.EVALUATION_READ)
    parsed = parse_month(month)
    own = (await bound_member(session, scope)).id if _only_own_row(scope) else None
    towns = _towns(scope, tenant_code)
    published = await session.get(EvaluationMonth, parsed.text)
    if published is not None:
        evaluation = await _frozen(session, published, towns)
    else:
        rules = await current_rules(session)
        rows = await count_month(session, [r.rule for r in rules], parsed, towns, tz)
        evaluation = Evaluation(parsed.text, None, None, rules, rows)
    rank(evaluation.rows, scope)
    if own is not None:
        evaluation.rows = [r for r in evaluation.rows if r.member.id == own]
    return evaluation


def rank(rows: list[MemberRow], scope: Scope) -> None:
    """Competition ranks over the rows given; sorted by rank, then town, then name."""
    for row, place in zip(rows, formula.ranks([r.score for r in rows]), strict=True):
        row.rank = place
    codes = {t.id: t.code for t in scope.directory.tenants}
    rows.sort(key=lambda r: (r.rank, codes.get(r.tenant_id, ""), r.member.name, str(r.member.id)))


async def count_month(
    session: AsyncSession,
    rules: Sequence[Rule],
    month: Month,
    towns: Sequence[uuid.UUID],
    tz: ZoneInfo,
) -> list[MemberRow]:
    """Every member's figures, points and score for a local month (unranked)."""
    start, end = month.bounds(tz)
    members = list(await session.scalars(select(Member).where(Member.tenant_id.in_(list(towns)))))
    figures: dict[uuid.UUID, dict[str, float | None]] = defaultdict(
        lambda: dict.fromkeys(COUNTS, 0) | {RATE: None}
    )
    window = _Window(list(towns), start, end, month, tz)
    await _patrols(session, window, figures)
    await _cases(session, window, figures)
    await _cards(session, window, figures)
    await _ledger(session, window, figures)
    await _diaries(session, window, figures)
    await _spot_checks(session, window, figures)
    rows = []
    for member in members:
        counted = figures.get(member.id)
        has_record = counted is not None and (
            any(counted[k] for k in COUNTS) or counted[RATE] is not None
        )
        if not has_record and not (member.active and member.created_at < end):
            continue
        values = counted if counted is not None else figures[member.id]
        lines = formula.breakdown(rules, values)
        rows.append(
            MemberRow(
                member=member,
                tenant_id=member.tenant_id,
                figures=dict(values),
                lines=lines,
                score=formula.score(lines),
                left=not member.active,
                joined=start <= member.created_at < end,
            )
        )
    return rows


@dataclass(frozen=True)
class _Window:
    towns: list[uuid.UUID]
    start: datetime
    end: datetime
    month: Month
    tz: ZoneInfo


Figures = dict[uuid.UUID, dict[str, float | None]]


def _add(figures: Figures, member_id: uuid.UUID | None, key: str, amount: Any) -> None:
    if amount and member_id is not None:
        row = figures[member_id]
        row[key] = (row[key] or 0) + int(amount)


async def _patrols(session: AsyncSession, w: _Window, figures: Figures) -> None:
    """Patrols started in the month, with their findings (a finding counts with its patrol)."""
    on_site = case((Finding.resolved_on_site.is_(True), 1), else_=0)
    query = (
        select(
            Patrol.member_id,
            func.count(func.distinct(Patrol.id)),
            func.count(Finding.id),
            func.coalesce(func.sum(on_site), 0),
        )
        .outerjoin(Finding, Finding.patrol_id == Patrol.id)
        .where(Patrol.tenant_id.in_(w.towns), Patrol.started_at >= w.start)
        .where(Patrol.started_at < w.end)
        .group_by(Patrol.member_id)
    )
    for member_id, patrols, findings, solved in await session.execute(query):
        _add(figures, member_id, "patrols", patrols)
        _add(figures, member_id, "findings", findings)
        _add(figures, member_id, "solvedOnSite", solved)


async def _cases(session: AsyncSession, w: _Window, figures: Figures) -> None:
    """The member's cases of the month (registered in it, assigned to them): resolved, resolved
    on time, open and overdue now, as caseStats counts them."""
    now = utcnow()
    is_open = Case.status.in_(list(OPEN_STATUSES))
    resolved = Case.resolved_at.is_not(None)
    on_time = and_(resolved, or_(Case.due_at.is_(None), Case.resolved_at <= Case.due_at))
    query = (
        select(
            Case.assignee_id,
            func.sum(case((resolved, 1), else_=0)),
            func.sum(case((on_time, 1), else_=0)),
            func.sum(case((and_(is_open, Case.due_at < now), 1), else_=0)),
        )
        .where(Case.tenant_id.in_(w.towns), Case.created_at >= w.start, Case.created_at < w.end)
        .where(Case.assignee_id.is_not(None))
        .group_by(Case.assignee_id)
    )
    for member_id, handled, punctual, overdue in await session.execute(query):
        _add(figures, member_id, "casesHandled", handled)
        if (handled or 0) + (overdue or 0):
            figures[member_id][RATE] = formula.rate(
                int(punctual or 0), int(handled or 0) + int(overdue or 0)
            )


async def _cards(session: AsyncSession, w: _Window, figures: Figures) -> None:
    """Cards issued in the month against the member (the hop's member when carded)."""
    query = (
        select(CaseCard.member_id, CaseCard.level, func.count())
        .where(CaseCard.tenant_id.in_(w.towns), CaseCard.member_id.is_not(None))
        .where(CaseCard.issued_at >= w.start, CaseCard.issued_at < w.end)
        .group_by(CaseCard.member_id, CaseCard.level)
    )
    for member_id, level, count in await session.execute(query):
        _add(figures, member_id, _card_key(level), count)


def _card_key(level: str) -> str:
    return "redCards" if level == "RED" else "yellowCards"


async def _ledger(session: AsyncSession, w: _Window, figures: Figures) -> None:
    """Ledger items of the member's: the card given in the month (an item holds its worst card
    and when it got it), and items closed in the month no later than their deadline's local
    day. A month's items are few: they come back as rows and are counted here."""
    item = LedgerItem
    carded = and_(item.carded_at >= w.start, item.carded_at < w.end)
    closed = and_(item.closed_at >= w.start, item.closed_at < w.end)
    query = select(
        item.responsible_member_id, item.card, item.carded_at, item.status, item.deadline,
        item.closed_at,
    ).where(
        item.tenant_id.in_(w.towns), item.responsible_member_id.is_not(None), or_(carded, closed)
    )  # fmt: skip
    for member_id, card, carded_at, status, deadline, closed_at in await session.execute(query):
        if card in ("YELLOW", "RED") and carded_at and w.start <= carded_at < w.end:
            _add(figures, member_id, _card_key(card), 1)
        if (
            status == LedgerStatus.CLOSED
            and closed_at is not None
            and w.start <= closed_at < w.end
            and closed_at < day_end(deadline, w.tz)
        ):
            _add(figures, member_id, "ledgerOnTime", 1)


async def _diaries(session: AsyncSession, w: _Window, figures: Figures) -> None:
    """Local days of the month with a diary text that is not blank."""
    query = (
        select(Diary.member_id, func.count())
        .where(Diary.tenant_id.in_(w.towns), Diary.day >= w.month.first_day)
        .where(Diary.day < w.month.next_first_day, func.length(func.trim(Diary.text)) > 0)
        .group_by(Diary.member_id)
    )
    for member_id, days in await session.execute(query):
        _add(figures, member_id, "diaryDays", days)


async def _spot_checks(session: AsyncSession, w: _Window, figures: Figures) -> None:
    """Spot checks of the month's days, by result."""
    query = (
        select(SpotCheck.member_id, SpotCheck.result, func.count())
        .where(SpotCheck.tenant_id.in_(w.towns), SpotCheck.day >= w.month.first_day)
        .where(SpotCheck.day < w.month.next_first_day)
        .group_by(SpotCheck.member_id, SpotCheck.result)
    )
    for member_id, result, count in await session.execute(query):
        key = "spotChecksPassed" if result == SpotCheckResult.PASS else "spotChecksFailed"
        _add(figures, member_id, key, count)


# --- publishing ---------------------------------------------------------------------------------


def _rule_doc(view: RuleView) -> dict[str, Any]:
    r = view.rule
    return {
        "key": r.key,
        "label": r.label,
        "weight": r.weight,
        "target": r.target,
        "sense": r.sense.value,
        "measure": r.measure.value,
    }


def _rule_of(doc: dict[str, Any]) -> RuleView:
    rule = Rule(
        doc["key"],
        doc["label"],
        float(doc["weight"]),
        None if doc["target"] is None else float(doc["target"]),
        Sense(doc["sense"]),
        Measure(doc["measure"]),
    )
    spec = BY_KEY.get(rule.key)
    return RuleView(rule, spec.description if spec else "")


async def _frozen(
    session: AsyncSession, published: EvaluationMonth, towns: Iterable[uuid.UUID]
) -> Evaluation:
    """A published month as it was published: its rows of the towns asked for."""
    stored = await session.scalars(
        select(EvaluationRow).where(
            EvaluationRow.month == published.month, EvaluationRow.tenant_id.in_(list(towns))
        )
    )
    rows = [
        MemberRow(
            # The person as published (name, role); anything else is read live if asked for.
            member=Member(
                id=row.member_id,
                tenant_id=row.tenant_id,
                name=row.member_name,
                role=row.member_role,
            ),
            tenant_id=row.tenant_id,
            figures=dict(row.figures),
            lines=[Points(p["key"], p["label"], p["value"], p["points"]) for p in row.breakdown],
            score=row.score,
            left=row.left,
            joined=row.joined,
        )
        for row in stored
    ]
    rules = [_rule_of(doc) for doc in published.rules]
    return Evaluation(
        published.month, published.published_at, published.published_by_name, rules, rows
    )


async def publish(session: AsyncSession, scope: Scope, month: str, *, tz: ZoneInfo) -> Evaluation:
    """Freeze a month that has ended: its rows as counted now, with the rules they were scored
    with. ADMIN or SUPERVISOR seeing every town; audited on the city's chain; once only."""
    scope.require(Permission.EVALUATION_PUBLISH)
    parsed = parse_month(month)
    everyone = {t.id for t in scope.directory.tenants}
    if not everyone <= set(scope.tenant_ids):
        raise DomainError(
            ErrorCode.FORBIDDEN, "发布考核须能查看全市所有乡镇（令牌不能限定乡镇）", "month"
        )
    _, end = parsed.bounds(tz)
    if end > utcnow():
        raise invalid(
            "month", f"{parsed.text} 尚未结束（北京时间 {local_text(end, tz)} 结束），不能发布"
        )
    existing = await session.get(EvaluationMonth, parsed.text)
    if existing is not None:
        raise DomainError(
            ErrorCode.CONFLICT,
            f"{parsed.text} 的考核已于 {local_text(existing.published_at, tz)} 由"
            f"{existing.published_by_name}发布，不能重复发布",
            "month",
        )
    rules = await current_rules(session)
    rows = await count_month(session, [r.rule for r in rules], parsed, list(scope.tenant_ids), tz)
    now = utcnow()
    published = EvaluationMonth(
        month=parsed.text,
        published_at=now,
        published_by_id=scope.principal.id,
        published_by_name=scope.principal.name,
        rules=[_rule_doc(r) for r in rules],
    )
    session.add(published)
    await session.flush()
    session.add_all(
        EvaluationRow(
            tenant_id=row.tenant_id,
            month=parsed.text,
            member_id=row.member.id,
            member_name=row.member.name,
            member_role=row.member.role,
            left=row.left,
            joined=row.joined,
            figures=row.figures,
            breakdown=[
                {"key": p.key, "label": p.label, "value": p.value, "points": p.points}
                for p in row.lines
            ],
            score=row.score,
        )
        for row in rows
    )
    await session.flush()
    city = scope.directory.city
    if city is not None:
        data = {"rows": len(rows), "rules": published.rules}
        await audit.append(
            session,
            city.id,
            scope.principal,
            "evaluation.publish",
            "evaluation_month",
            parsed.text,
            data,
        )
    evaluation = Evaluation(parsed.text, now, scope.principal.name, rules, rows)
    rank(evaluation.rows, scope)
    return evaluation
