"""Work diaries (工作日记) and spot checks (抽查).

A member's day is derived from the record (patrols, findings, the case steps they took: see
``day.py``) plus their own text, which only they write, for today or yesterday by the local clock;
every text a diary had is kept (``DiaryRevision``). A SUPERVISOR or the town's OPERATOR judges a
day once (``SpotCheck``, unique per member and day). Every write is on the town's audit chain.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.audit import service as audit
from hub.auth import Scope
from hub.cases.model import Case, Event
from hub.db import utcnow
from hub.diaries import day as days
from hub.diaries.model import Diary, DiaryRevision, SpotCheck, SpotCheckResult
from hub.errors import DomainError, ErrorCode, invalid, not_found, unknown_town
from hub.grid.model import Member
from hub.localtime import local_text
from hub.patrols.model import Finding, Patrol
from hub.patrols.work import bound_member
from hub.roles import Permission, Role
from hub.supervision.calendar import official_day
from hub.supervision.model import WorkDay
from hub.tenancy.model import TenantKind
from hub.validation import check_text, parse_id

TEXT_MAX = 5_000
# How long before a day a patrol that ends in it may have started (bounds the index range read).
PATROL_SPAN = timedelta(days=7)
MISSING_SPAN_DAYS = 92  # one query of missingDiaries covers at most a quarter


@dataclass(frozen=True)
class DiaryView:
    diary: Diary
    revisions: list[DiaryRevision]


@dataclass(frozen=True)
class MemberDay:
    """A member's day: the record's entries, their own text (with its history), the check."""

    member: Member
    day: date
    diary: Diary | None
    revisions: list[DiaryRevision]
    entries: list[days.Entry]
    spot_check: SpotCheck | None


def local_today(tz: ZoneInfo) -> date:
    return utcnow().astimezone(tz).date()


def _check_diary_text(text: str) -> str:
    flat = (text or "").strip()
    if not flat:
        raise invalid("text", "日记内容（text）不能为空")
    if len(flat) > TEXT_MAX:
        raise invalid("text", f"日记内容（text）不能超过 {TEXT_MAX} 个字符")
    if "\x00" in flat:
        raise invalid("text", "日记内容（text）含有空字符（NUL）")
    return flat


def _writable_day(day: date, tz: ZoneInfo) -> date:
    today = local_today(tz)
    if day > today:
        raise invalid("date", f"不能填写未来（{day.isoformat()}）的工作日记，只能填写今天或昨天的")
    if day < today - timedelta(days=1):
        raise invalid("date", f"只能填写今天或昨天的工作日记，{day.isoformat()} 的已不能填写或修改")
    return day


async def write_diary(
    session: AsyncSession, scope: Scope, day: date, text: str, *, tz: ZoneInfo
) -> DiaryView:
    """The caller's own text for a day (today or yesterday). A new text is a new revision; the
    same text again (a phone's retry) changes nothing and writes no audit entry."""
    scope.require(Permission.DIARY_WRITE)
    member = await bound_member(session, scope)
    _writable_day(day, tz)
    body = _check_diary_text(text)
    diary = await session.scalar(
        select(Diary)
        .where(Diary.member_id == member.id, Diary.day == day)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    now = utcnow()
    if diary is not None and diary.text == body:
        return DiaryView(diary, await _revisions(session, diary))
    if diary is None:  # two first writes racing: the unique key refuses one, the retry edits
        diary = Diary(
            tenant_id=member.tenant_id,
            member_id=member.id,
            day=day,
            text=body,
            created_at=now,
            updated_at=now,
        )
        session.add(diary)
        await session.flush()
    diary.text, diary.updated_at = body, now
    session.add(
        DiaryRevision(
            tenant_id=member.tenant_id,
            diary_id=diary.id,
            text=body,
            written_at=now,
            written_by=scope.principal.name[:100],
        )
    )
    await session.flush()
    revisions = await _revisions(session, diary)
    await audit.append(
        session,
        member.tenant_id,
        scope.principal,
        "diary.write",
        "diary",
        diary.id,
        {
            "member": str(member.id),
            "date": day.isoformat(),
            "revision": len(revisions),
            "sha256": hashlib.sha256(body.encode()).hexdigest(),
        },
        at=now,
    )
    return DiaryView(diary, revisions)


async def _revisions(session: AsyncSession, diary: Diary) -> list[DiaryRevision]:
    return list(
        await session.scalars(
            select(DiaryRevision)
            .where(DiaryRevision.diary_id == diary.id)
            .order_by(DiaryRevision.written_at, DiaryRevision.id)
        )
    )


async def _seen_member(session: AsyncSession, scope: Scope, member_id: str) -> Member:
    """A member of a town the caller sees: NOT_FOUND otherwise (another town's does not exist)."""
    parsed = parse_id(member_id)
    member = await session.get(Member, parsed) if parsed else None
    if member is None or not scope.sees(member.tenant_id):
        raise not_found("网格人员", "memberId")
    return member


def _only_member(scope: Scope) -> bool:
    """A caller who is nothing but a grid member (sees their own day only)."""
    return scope.roles <= {Role.MEMBER}


async def work_diary(
    session: AsyncSession,
    scope: Scope,
    member_id: str,
    day: date,
    *,
    tz: ZoneInfo,
    with_revisions: bool = True,
) -> MemberDay:
    """A member's day: the member themselves, their town's office, supervision and the city.
    Four statements: the member with their text and check of the day, then the patrols, the
    findings and the case steps of the day (and the text's revisions when asked for)."""
    scope.require(Permission.DIARY_READ)
    parsed = parse_id(member_id)
    found = (
        await session.execute(
            select(Member, Diary, SpotCheck)
            .outerjoin(Diary, and_(Diary.member_id == Member.id, Diary.day == day))
            .outerjoin(SpotCheck, and_(SpotCheck.member_id == Member.id, SpotCheck.day == day))
            .where(Member.id == parsed)
        )
        if parsed
        else None
    )
    row = found.first() if found is not None else None
    if row is None or not scope.sees(row[0].tenant_id):
        raise not_found("网格人员", "memberId")
    member, diary, check = row
    if _only_member(scope) and scope.principal.member_id != member.id:
        raise DomainError(ErrorCode.FORBIDDEN, "只能查看自己的工作日记", "memberId")
    start, end = days.day_window(day, tz)
    entries = days.build_day(
        start,
        end,
        await _patrols(session, member, start, end),
        await _findings(session, member, start, end),
        await _steps(session, member, start, end),
    )
    revisions = await _revisions(session, diary) if diary is not None and with_revisions else []
    return MemberDay(member, day, diary, revisions, entries, check)


async def _patrols(
    session: AsyncSession, member: Member, start: datetime, end: datetime
) -> list[days.PatrolFact]:
    rows = await session.execute(
        select(
            Patrol.kind, Patrol.started_at, Patrol.ended_at, Patrol.track_meters, Patrol.summary
        ).where(
            Patrol.member_id == member.id,
            Patrol.started_at < end,
            Patrol.started_at >= start - PATROL_SPAN,
            or_(Patrol.started_at >= start, Patrol.ended_at >= start),
        )
    )
    return [days.PatrolFact(*row) for row in rows]


async def _findings(
    session: AsyncSession, member: Member, start: datetime, end: datetime
) -> list[days.FindingFact]:
    rows = await session.execute(
        select(Finding.created_at, Finding.data, Case.number, Finding.resolved_on_site)
        .join(Patrol, Patrol.id == Finding.patrol_id)
        .join(Case, Case.id == Finding.case_id)
        .where(
            Patrol.member_id == member.id,
            # a finding is made on an open patrol: one that started by the day's end
            Patrol.started_at < end,
            Patrol.started_at >= start - PATROL_SPAN,
            Finding.created_at >= start,
            Finding.created_at < end,
        )
    )
    return [
        days.FindingFact(at, str((data or {}).get("title") or ""), number, on_site)
        for at, data, number, on_site in rows
    ]


async def _steps(
    session: AsyncSession, member: Member, start: datetime, end: datetime
) -> list[days.StepFact]:
    rows = await session.execute(
        select(Event.at, Event.action, Case.number, Case.title, Event.note)
        .join(Case, Case.id == Event.case_id)
        .where(
            Event.member_id == member.id,
            Event.at >= start,
            Event.at < end,
            Event.action.in_(list(days.STEP_KINDS)),
        )
    )
    return [days.StepFact(*row) for row in rows]


async def spot_check(
    session: AsyncSession,
    scope: Scope,
    member_id: str,
    day: date,
    result: SpotCheckResult,
    note: str,
    *,
    tz: ZoneInfo,
) -> SpotCheck:
    """抽查: judge a member's day, once. A day already checked is a CONFLICT naming who checked
    it and how: a check counts in the evaluation and is not silently replaced."""
    scope.require(Permission.DIARY_SPOT_CHECK)
    member = await _seen_member(session, scope, member_id)
    if day > local_today(tz):
        raise invalid("date", f"{day.isoformat()} 还没有到，不能抽查")
    text = check_text("note", note, required=result == SpotCheckResult.FAIL) or ""
    seen = await session.scalar(
        select(SpotCheck).where(SpotCheck.member_id == member.id, SpotCheck.day == day)
    )
    if seen is not None:
        verdict = "合格" if seen.result == SpotCheckResult.PASS else "不合格"
        raise DomainError(
            ErrorCode.CONFLICT,
            f"{member.name} {day.isoformat()} 的工作已由{seen.checked_by}于"
            f"{local_text(seen.checked_at, tz)}抽查（{verdict}），同一天只抽查一次",
            "date",
        )
    now = utcnow()
    check = SpotCheck(
        tenant_id=member.tenant_id,
        member_id=member.id,
        day=day,
        result=SpotCheckResult(result),
        note=text,
        checked_by=scope.principal.name[:100],
        checked_at=now,
    )
    session.add(check)
    await session.flush()
    await audit.append(
        session,
        member.tenant_id,
        scope.principal,
        "diary.spot_check",
        "spot_check",
        check.id,
        {"member": str(member.id), "date": day.isoformat(), "result": check.result, "note": text},
        at=now,
    )
    return check


async def missing_diaries(
    session: AsyncSession,
    scope: Scope,
    tenant_code: str | None,
    first: date,
    last: date,
    *,
    tz: ZoneInfo,
) -> list[tuple[date, Member]]:
    """The active members with neither a diary nor a patrol on a working day of their town in
    [first, last] (days after today and before the member was added are not counted), by day,
    town and name. A handful of statements whatever the number of members and days."""
    scope.require(Permission.DIARY_MISSING)
    if last < first:
        raise invalid("to", "结束日期（to）不能早于开始日期（from）")
    if (last - first).days >= MISSING_SPAN_DAYS:
        raise invalid("to", f"一次最多查询 {MISSING_SPAN_DAYS} 天")
    towns = _towns(scope, tenant_code)
    last = min(last, local_today(tz))
    if last < first or not towns:
        return []
    start, _ = days.day_window(first, tz)
    _, end = days.day_window(last, tz)
    span = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    set_days = {
        (t, d): w
        for t, d, w in await session.execute(
            select(WorkDay.tenant_id, WorkDay.day, WorkDay.workday).where(
                WorkDay.tenant_id.in_(towns), WorkDay.day >= first, WorkDay.day <= last
            )
        )
    }
    official = {d: official_day(d)[0] for d in span}
    members = list(
        await session.scalars(
            select(Member).where(Member.tenant_id.in_(towns), Member.active.is_(True))
        )
    )
    done = set(
        (m, d)
        for m, d in await session.execute(
            select(Diary.member_id, Diary.day).where(
                Diary.tenant_id.in_(towns), Diary.day >= first, Diary.day <= last
            )
        )
    )
    for member_id, started, ended in await session.execute(
        select(Patrol.member_id, Patrol.started_at, Patrol.ended_at).where(
            Patrol.tenant_id.in_(towns),
            Patrol.started_at < end,
            Patrol.started_at >= start - PATROL_SPAN,
            or_(
                Patrol.started_at >= start,
                and_(Patrol.ended_at.is_not(None), Patrol.ended_at >= start),
            ),
        )
    ):
        done |= {(member_id, d) for d in _days_of(started, ended, tz)}
    order = {t: scope.directory.by_id[t].code for t in towns}
    found = [
        (d, m)
        for m in members
        for d in span
        if set_days.get((m.tenant_id, d), official[d])
        and m.created_at.astimezone(tz).date() <= d
        and (m.id, d) not in done
    ]
    return sorted(found, key=lambda pair: (pair[0], order[pair[1].tenant_id], pair[1].name))


def _days_of(started: datetime, ended: datetime | None, tz: ZoneInfo) -> list[date]:
    """The local days a patrol covers: from its start to its end (an open one: its start)."""
    first = started.astimezone(tz).date()
    last = ended.astimezone(tz).date() if ended is not None else first
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def _towns(scope: Scope, tenant_code: str | None) -> list[uuid.UUID]:
    """The towns asked about: the one named (it must be one the caller sees), else every town
    the caller sees."""
    if tenant_code is not None:
        tenant = scope.directory.by_code.get(tenant_code)
        if tenant is None or not scope.sees(tenant.id):
            raise unknown_town("tenantCode", tenant_code)
        return [tenant.id]
    return [t.id for t in scope.directory.tenants if t.kind == TenantKind.TOWN and scope.sees(t.id)]
