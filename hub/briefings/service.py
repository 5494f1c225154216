"""Briefings (信息简报): record what the bureau sent up, mark what the city used, count a year.

Decisions (docs/reporting.md): a briefing is the bureau's, kept on the city's tenant; only the
command centre, supervision and ADMIN record them (a town office does not). Issues are numbered
per year of submittedAt in local time, so (year, issue) is unique: the same number twice is a
CONFLICT. A submittedAt later than now (beyond a few minutes of clock skew) is refused: a
briefing is recorded after it was sent. Marking an adopted briefing adopted again by the same
adopter answers it unchanged (a retry); by another adopter it is a CONFLICT.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.audit import service as audit
from hub.auth import Scope
from hub.briefings.model import Briefing
from hub.db import utcnow
from hub.errors import DomainError, ErrorCode, invalid, not_found
from hub.roles import Permission
from hub.tenancy.model import TenantKind
from hub.tenancy.service import TenantInfo
from hub.validation import check_label, check_time, parse_id

TITLE_MAX = 200
NAME_MAX = 100
ISSUE_MAX = 9999
YEARS = range(2000, 2101)
SKEW = timedelta(minutes=5)


@dataclass(frozen=True)
class BriefingSpec:
    issue: int
    title: str
    submitted_to: str
    submitted_at: datetime


@dataclass(frozen=True)
class YearOfBriefings:
    year: int
    submitted: int
    adopted: int
    items: list[Briefing]




def _bureau(scope: Scope) -> TenantInfo:
    """The city's tenant, where the bureau's briefings are kept: the caller must see it."""
    city = next((t for t in scope.directory.tenants if t.kind == TenantKind.CITY), None)
    if city is None or not scope.sees(city.id):
        raise DomainError(
            ErrorCode.FORBIDDEN, "信息简报是县局的记录，只有全县范围的角色可以查看或登记"
        )
    return city


def check_year(year: int, field: str = "year") -> int:
    if year not in YEARS:
        raise invalid(field, f"年份（{field}）须在 {YEARS.start} 至 {YEARS.stop - 1} 之间")
    return year


async def submit(
    session: AsyncSession, scope: Scope, spec: BriefingSpec, *, tz: ZoneInfo
) -> Briefing:
    scope.require(Permission.BRIEFING_WRITE)
    city = _bureau(scope)
    if not 1 <= spec.issue <= ISSUE_MAX:
        raise invalid("issue", f"期号（issue）须为 1 至 {ISSUE_MAX} 的整数")
    title = check_label("title", "标题", spec.title, TITLE_MAX)
    to = check_label("submittedTo", "报送单位", spec.submitted_to, NAME_MAX)
    check_time("submittedAt", spec.submitted_at)
    if spec.submitted_at > utcnow() + SKEW:
        raise invalid("submittedAt", "报送时间（submittedAt）不能晚于现在：简报报送之后才登记")
    year = spec.submitted_at.astimezone(tz).year
    check_year(year, "submittedAt")
    taken = await session.scalar(
        select(Briefing.id).where(
            Briefing.tenant_id == city.id, Briefing.year == year, Briefing.issue == spec.issue
        )
    )
    if taken is not None:
        raise DomainError(ErrorCode.CONFLICT, f"{year} 年第 {spec.issue} 期简报已登记", "issue")
    row = Briefing(
        tenant_id=city.id,
        year=year,
        issue=spec.issue,
        title=title,
        submitted_to=to,
        submitted_at=spec.submitted_at,
        recorded_by=scope.principal.name,
    )
    session.add(row)
    await session.flush()
    await audit.append(
        session,
        city.id,
        scope.principal,
        "briefing.submitted",
        "briefing",
        row.id,
        {
            "year": year,
            "issue": spec.issue,
            "title": title,
            "submittedTo": to,
            "submittedAt": spec.submitted_at.isoformat(),
        },
    )
    return row


async def mark_adopted(
    session: AsyncSession, scope: Scope, briefing_id: str, adopted_by: str
) -> Briefing:
    scope.require(Permission.BRIEFING_WRITE)
    city = _bureau(scope)
    who = check_label("adoptedBy", "采用单位", adopted_by, NAME_MAX)
    key = parse_id(briefing_id)
    row = await session.get(Briefing, key) if key is not None else None
    if row is None or row.tenant_id != city.id:
        raise not_found("信息简报", "id")
    if row.adopted_by is not None:
        if row.adopted_by == who:
            return row  # a retry: already recorded as adopted by the same
        raise DomainError(ErrorCode.CONFLICT, f"该简报已登记为被{row.adopted_by}采用", "adoptedBy")
    row.adopted_by, row.adopted_at = who, utcnow()
    await audit.append(
        session,
        city.id,
        scope.principal,
        "briefing.adopted",
        "briefing",
        row.id,
        {"year": row.year, "issue": row.issue, "adoptedBy": who},
    )
    return row


async def of_year(session: AsyncSession, scope: Scope, year: int) -> YearOfBriefings:
    scope.require(Permission.BRIEFING_READ)
    city = _bureau(scope)
    check_year(year)
    where = (Briefing.tenant_id == city.id, Briefing.year == year)
    items = list(await session.scalars(select(Briefing).where(*where).order_by(Briefing.issue)))
    submitted, adopted = (
        await session.execute(select(func.count(), func.count(Briefing.adopted_by)).where(*where))
    ).one()
    return YearOfBriefings(year, submitted, adopted, items)
