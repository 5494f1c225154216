"""Patrols (巡查): start, track, findings (GRID reports), end, and the list.

A patrol is its member's own: every change needs a caller bound to that member. A phone on a bad
connection sends the same clientId again and gets the same patrol or finding back; track points
are kept by their time, so a piece sent twice or out of order changes nothing twice.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from geographiclib.geodesic import Geodesic
from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.attachments import service as attachments
from hub.attachments.model import OwnerKind
from hub.audit import service as audit
from hub.auth import Scope
from hub.cases import intake, workflow
from hub.cases.duplicates import Rules
from hub.cases.enums import CaseStatus, Category, Channel, EventKind, ReportOutcome
from hub.cases.inputs import RegisterInput
from hub.cases.loaders import load_options
from hub.cases.model import Case
from hub.cases.timeline import transition
from hub.db import utcnow
from hub.errors import DomainError, ErrorCode, invalid
from hub.grid.model import GridCell, Member
from hub.localtime import local_text
from hub.patrols.model import Finding, Patrol, PatrolKind, PatrolStatus, TrackPoint
from hub.patrols.work import bound_member
from hub.roles import Permission, Role
from hub.sources.model import Source
from hub.supervision import clocks
from hub.validation import check_text, check_time, parse_id

# How far ahead of the hub's clock a phone's time may be (its clock is a little off).
CLOCK_SKEW = timedelta(minutes=5)
CLIENT_ID_MAX = 100
SUMMARY_MAX = 4_000
MAX_FINDING_ATTACHMENTS = 20
LIST_SPAN = timedelta(days=366)
# The list is one answer, not pages: a county's year is ~70,000 patrols, more than a screen or
# a client wants at once; past this many the caller is asked to narrow the window.
LIST_MAX_ROWS = 5000


@dataclass(frozen=True)
class StartSpec:
    kind: PatrolKind
    started_at: datetime
    client_id: str
    grid_cell_id: str | None = None
    source_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class TrackSpec:
    latitude: float
    longitude: float
    at: datetime


@dataclass(frozen=True)
class FindingSpec:
    title: str
    description: str
    category: Category
    client_id: str
    source_id: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    resolved_on_site: bool = False
    result: str | None = None
    attachment_ids: tuple[str, ...] = ()  # photos uploaded first (POST /attachments)


@dataclass(frozen=True)
class PatrolRow:
    """A patrol as the list shows it: with its member, cell and number of findings."""

    patrol: Patrol
    member: Member
    cell: GridCell | None
    finding_count: int


def _client_id(value: str) -> str:
    text = value.strip() if value else ""
    if not text:
        raise invalid("clientId", "clientId 不能为空")
    if len(text) > CLIENT_ID_MAX:
        raise invalid("clientId", f"clientId 不能超过 {CLIENT_ID_MAX} 个字符")
    return text


def _when(name: str, value: datetime) -> datetime:
    """A time from the phone: with its offset, and not ahead of the hub's clock."""
    check_time(name, value)
    if value > utcnow() + CLOCK_SKEW:
        raise invalid(name, f"{name} 不能晚于当前时间")
    return value


async def start_patrol(
    session: AsyncSession, scope: Scope, spec: StartSpec, *, tz: ZoneInfo
) -> Patrol:
    """出发巡查. The same clientId again returns the patrol it started."""
    scope.require(Permission.PATROL_RECORD)
    member = await bound_member(session, scope)
    client_id = _client_id(spec.client_id)
    started_at = _when("startedAt", spec.started_at)
    seen = await session.scalar(
        select(Patrol).where(Patrol.member_id == member.id, Patrol.client_id == client_id)
    )
    if seen is not None:
        return seen
    cell_id = await _cell_of(session, member, spec.grid_cell_id)
    sources = await _sources_of(session, member, spec.source_ids)
    await _no_open_patrol(session, member, tz)
    patrol = Patrol(
        tenant_id=member.tenant_id,
        member_id=member.id,
        grid_cell_id=cell_id,
        kind=PatrolKind(spec.kind),
        status=PatrolStatus.OPEN,
        client_id=client_id,
        source_ids=sources,
        started_at=started_at,
    )
    session.add(patrol)
    await session.flush()
    await _audit(session, scope, patrol, "patrol.start", {"kind": patrol.kind, "sources": sources})
    return patrol


async def _cell_of(session: AsyncSession, member: Member, given: str | None) -> uuid.UUID | None:
    """The patrolled cell: the one given (an active cell of the member's town), else theirs."""
    if given is None:
        return member.grid_cell_id
    cell_id = parse_id(given)
    cell = await session.get(GridCell, cell_id) if cell_id else None
    if cell is None or cell.tenant_id != member.tenant_id or not cell.active:
        raise DomainError(ErrorCode.NOT_FOUND, "本镇没有这个网格单元", "gridCellId")
    return cell.id


async def _sources_of(session: AsyncSession, member: Member, given: tuple[str, ...]) -> list[str]:
    ids = [parse_id(s) for s in given]
    wanted = {i for i in ids if i is not None}
    found = (
        set(
            await session.scalars(
                select(Source.id).where(Source.id.in_(wanted), Source.tenant_id == member.tenant_id)
            )
        )
        if wanted
        else set()
    )
    if None in ids or found != wanted:
        raise DomainError(ErrorCode.NOT_FOUND, "本镇没有其中的某个企业", "sourceIds")
    return sorted(str(i) for i in wanted)


async def _no_open_patrol(session: AsyncSession, member: Member, tz: ZoneInfo) -> None:
    """One patrol at a time (the partial unique index holds it against a race, too)."""
    open_one = await session.scalar(
        select(Patrol).where(Patrol.member_id == member.id, Patrol.status == PatrolStatus.OPEN)
    )
    if open_one is not None:
        raise DomainError(
            ErrorCode.CONFLICT,
            f"已有一次进行中的巡查（{local_text(open_one.started_at, tz)} 开始），请先结束它",
            "clientId",
        )


async def own_patrol(session: AsyncSession, scope: Scope, patrol_id: str) -> Patrol:
    """The caller's own patrol, locked for the change."""
    scope.require(Permission.PATROL_RECORD)
    member = await bound_member(session, scope)
    parsed = parse_id(patrol_id)
    patrol = (
        await session.scalar(
            select(Patrol)
            .where(Patrol.id == parsed)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        if parsed
        else None
    )
    if patrol is None:
        raise DomainError(ErrorCode.NOT_FOUND, "找不到这次巡查", "patrolId")
    if patrol.member_id != member.id:
        raise DomainError(ErrorCode.FORBIDDEN, "这不是你的巡查，只能记录自己的巡查", "patrolId")
    return patrol


def _open(patrol: Patrol) -> None:
    if patrol.status != PatrolStatus.OPEN:
        raise DomainError(ErrorCode.VALIDATION, "这次巡查已经结束，不能再记录", "patrolId")


def _check_points(patrol: Patrol, points: list[TrackSpec]) -> dict[datetime, TrackSpec]:
    """Each point in range and inside the patrol's time, by its time (the first of a time wins)."""
    if not points:
        raise invalid("points", "points 不能为空")
    end = patrol.ended_at or utcnow() + CLOCK_SKEW
    kept: dict[datetime, TrackSpec] = {}
    for i, point in enumerate(points):
        where = f"points[{i}]"
        if not -90 <= point.latitude <= 90:
            raise invalid(f"{where}.latitude", f"{where}.latitude 必须在 -90 到 90 之间")
        if not -180 <= point.longitude <= 180:
            raise invalid(f"{where}.longitude", f"{where}.longitude 必须在 -180 到 180 之间")
        check_time(f"{where}.at", point.at)
        if not patrol.started_at <= point.at <= end:
            raise invalid(f"{where}.at", f"{where}.at 不在这次巡查的起止时间之内")
        kept.setdefault(point.at, point)
    return kept


async def record_track(
    session: AsyncSession, scope: Scope, patrol_id: str, points: list[TrackSpec]
) -> Patrol:
    """Track points, in any order and any number of pieces; a time already kept is skipped. A
    track may still arrive after the end (a phone that was offline), within the patrol's time."""
    patrol = await own_patrol(session, scope, patrol_id)
    kept = _check_points(patrol, points)
    stored = set(
        await session.scalars(
            select(TrackPoint.at).where(
                TrackPoint.patrol_id == patrol.id, TrackPoint.at.in_(list(kept))
            )
        )
    )
    session.add_all(
        TrackPoint(
            tenant_id=patrol.tenant_id,
            patrol_id=patrol.id,
            at=at,
            latitude=p.latitude,
            longitude=p.longitude,
        )
        for at, p in kept.items()
        if at not in stored
    )
    await session.flush()
    await _measure(session, patrol)
    return patrol


async def _measure(session: AsyncSession, patrol: Patrol) -> None:
    """The track's length over all its points in time order, on the WGS 84 ellipsoid:
    geographiclib's geodesics (Karney's algorithm, exact to nanometres) rather than a
    hand-written haversine on a sphere."""
    rows = (
        await session.execute(
            select(TrackPoint.latitude, TrackPoint.longitude)
            .where(TrackPoint.patrol_id == patrol.id)
            .order_by(TrackPoint.at)
        )
    ).all()
    line = Geodesic.WGS84.Polygon(True)  # polyline: its "perimeter" is the length
    for latitude, longitude in rows:
        line.AddPoint(latitude, longitude)
    _, length, _ = line.Compute()
    patrol.track_meters = round(float(length), 1) if len(rows) > 1 else 0.0
    patrol.point_count = len(rows)


async def record_finding(
    session: AsyncSession,
    scope: Scope,
    patrol_id: str,
    spec: FindingSpec,
    *,
    tz: ZoneInfo,
    prefix: str,
    rules: Rules,
) -> Case:
    """A finding is a GRID report through the same intake as every report (routing,
    duplicates). Solved on site: the new case is registered and closed at once."""
    patrol = await own_patrol(session, scope, patrol_id)
    client_id = _client_id(spec.client_id)
    seen = await session.scalar(
        select(Finding).where(Finding.patrol_id == patrol.id, Finding.client_id == client_id)
    )
    if seen is not None:  # a phone's retry, even after the patrol ended: the same case
        return await session.get_one(Case, seen.case_id)
    _open(patrol)
    if len(spec.attachment_ids) > MAX_FINDING_ATTACHMENTS:
        raise invalid("attachmentIds", f"一条发现最多 {MAX_FINDING_ATTACHMENTS} 个附件")
    photos = await attachments.usable(session, scope, spec.attachment_ids)
    result = check_text("result", spec.result)
    if spec.resolved_on_site and result is None:
        raise invalid("result", "现场解决须填写处理结果 result")
    if spec.resolved_on_site:
        scope.require(Permission.CASE_RESOLVE_ON_SITE)
    town = scope.directory.by_id[patrol.tenant_id].code
    registered = await intake.register(
        session, scope, _report_of(spec, town, patrol), tz=tz, prefix=prefix, rules=rules
    )
    case = registered.case
    if spec.resolved_on_site:
        opened = registered.created and registered.report.outcome == ReportOutcome.OPENED
        await _resolve_on_site(session, scope, case, opened, result or "", patrol)
    finding = Finding(
        tenant_id=patrol.tenant_id,
        patrol_id=patrol.id,
        client_id=client_id,
        case_id=case.id,
        resolved_on_site=spec.resolved_on_site,
        data={"title": spec.title, "category": str(spec.category)},
    )
    session.add(finding)
    await session.flush()
    # The photos are the finding's and its case's: the sha256 on both audit trails.
    await attachments.attach_all(
        session, scope, photos, kind=OwnerKind.FINDING, owner_id=finding.id,
        tenant_id=finding.tenant_id,
    )  # fmt: skip
    await attachments.attach_all(
        session, scope, photos, kind=OwnerKind.CASE, owner_id=case.id, tenant_id=case.tenant_id
    )
    data = {"case": case.number, "resolvedOnSite": spec.resolved_on_site}
    await _audit(session, scope, patrol, "patrol.finding", data)
    return case


def _report_of(spec: FindingSpec, town: str, patrol: Patrol) -> RegisterInput:
    source_id = parse_id(spec.source_id) if spec.source_id else None
    if spec.source_id and source_id is None:
        raise DomainError(ErrorCode.NOT_FOUND, "找不到这个企业", "sourceId")
    return RegisterInput(
        channel=Channel.GRID,
        title=spec.title,
        description=spec.description,
        category=spec.category,
        tenant_code=town,
        latitude=spec.latitude,
        longitude=spec.longitude,
        source_id=source_id,
        payload={"patrolId": str(patrol.id), "clientId": spec.client_id},
    )


async def _resolve_on_site(
    session: AsyncSession,
    scope: Scope,
    case: Case,
    opened: bool,
    result: str,
    patrol: Patrol,
) -> None:
    """现场解决: the case the finding opened is closed at once, the step on its timeline and
    audit trail. A finding that joined an open case closes nothing: that case is being worked."""
    if not opened or case.status != CaseStatus.REGISTERED:
        raise DomainError(
            ErrorCode.VALIDATION,
            f"这个问题已有在办案件 {case.number}，不能现场办结；请不勾选现场解决再上报",
            "resolvedOnSite",
        )
    data = {"patrolId": str(patrol.id)}
    await transition(
        session, scope, case, workflow.Action.RESOLVE_ON_SITE, EventKind.RESOLVED_ON_SITE,
        result, data,
    )  # fmt: skip
    case.resolved_at = case.closed_at = utcnow()
    await clocks.end_current(session, case, "CLOSED")


async def end_patrol(
    session: AsyncSession, scope: Scope, patrol_id: str, summary: str, ended_at: datetime
) -> Patrol:
    """结束巡查. Ending again at the same time (a phone's retry) returns the ended patrol."""
    patrol = await own_patrol(session, scope, patrol_id)
    text = (summary or "").strip()
    if not text:
        raise invalid("summary", "summary 不能为空")
    if len(text) > SUMMARY_MAX:
        raise invalid("summary", f"summary 不能超过 {SUMMARY_MAX} 个字符")
    ended = _when("endedAt", ended_at)
    if patrol.status == PatrolStatus.ENDED:
        if patrol.ended_at == ended:
            return patrol
        _open(patrol)
    if ended < patrol.started_at:
        raise invalid("endedAt", "endedAt 不能早于巡查开始时间 startedAt")
    last = await session.scalar(
        select(func.max(TrackPoint.at)).where(TrackPoint.patrol_id == patrol.id)
    )
    if last is not None and ended < last:
        raise invalid("endedAt", "endedAt 不能早于已记录的最后一个轨迹点")
    patrol.status, patrol.ended_at, patrol.summary = PatrolStatus.ENDED, ended, text
    await _audit(session, scope, patrol, "patrol.end", {"trackMeters": patrol.track_meters})
    return patrol


async def _audit(
    session: AsyncSession, scope: Scope, patrol: Patrol, action: str, data: dict[str, object]
) -> None:
    await audit.append(
        session, patrol.tenant_id, scope.principal, action, "patrol", patrol.id, data
    )


async def findings_of(
    session: AsyncSession, scope: Scope, patrol_ids: list[uuid.UUID], include: set[str]
) -> dict[uuid.UUID, list[Case]]:
    """The cases the findings of these patrols became, in the order found, per patrol: one
    statement for a whole list (with what the client asked for of each case)."""
    scope.require(Permission.PATROL_READ)
    found: dict[uuid.UUID, list[Case]] = {}
    if not patrol_ids:
        return found
    rows = await session.execute(
        select(Finding.patrol_id, Case)
        .join(Finding, Finding.case_id == Case.id)
        .options(*load_options(include))
        .where(Finding.patrol_id.in_(patrol_ids))
        .order_by(Finding.created_at, Finding.id)
    )
    for patrol_id, case in rows:
        found.setdefault(patrol_id, []).append(case)
    return found


async def list_patrols(
    session: AsyncSession,
    scope: Scope,
    tenant_code: str | None,
    member_id: str | None,
    since: datetime,
    until: datetime,
) -> list[PatrolRow]:
    """Patrols started in [since, until), newest first, with member, cell and finding count in
    one statement. A MEMBER sees their own only."""
    scope.require(Permission.PATROL_READ)
    check_time("from", since)
    check_time("to", until)
    if until <= since:
        raise invalid("to", "to 必须晚于 from")
    if until - since > LIST_SPAN:
        raise invalid("to", "一次最多查询 366 天的巡查")
    query = (
        _with_people()
        .where(Patrol.started_at >= since, Patrol.started_at < until)
        .order_by(Patrol.started_at.desc(), Patrol.id)
    )
    if tenant_code is not None:
        tenant = scope.directory.by_code.get(tenant_code)
        if tenant is None or not scope.sees(tenant.id):
            return []
        query = query.where(Patrol.tenant_id == tenant.id)
    if member_id is not None:
        query = query.where(Patrol.member_id == parse_id(member_id))
    if scope.roles == frozenset({Role.MEMBER}):
        query = query.where(Patrol.member_id == scope.principal.member_id)
    rows = (await session.execute(query.limit(LIST_MAX_ROWS + 1))).all()
    if len(rows) > LIST_MAX_ROWS:
        raise invalid(
            "from", f"此时间范围内巡查超过 {LIST_MAX_ROWS} 次，请缩小时间范围或指定乡镇、人员"
        )
    return [PatrolRow(p, m, c, n) for p, m, c, n in rows]


async def patrol_row(session: AsyncSession, scope: Scope, patrol_id: uuid.UUID) -> PatrolRow:
    """One patrol as the list shows it (read back after a change)."""
    scope.require(Permission.PATROL_READ)
    patrol, member, cell, count = (
        await session.execute(_with_people().where(Patrol.id == patrol_id))
    ).one()
    return PatrolRow(patrol, member, cell, count)


def _with_people() -> Select[Patrol, Member, GridCell, int]:
    """Patrols with their member, cell and number of findings: one statement for any number."""
    findings = (
        select(func.count(Finding.id)).where(Finding.patrol_id == Patrol.id).scalar_subquery()
    )
    return (
        select(Patrol, Member, GridCell, findings)
        .join(Member, Member.id == Patrol.member_id)
        .outerjoin(GridCell, GridCell.id == Patrol.grid_cell_id)
    )
