"""The quarterly supervision bulletin (季度督查通报): one row per town, ranked.

Every figure comes from the same set-based statement as caseStats (hub/supervision/stats.py),
grouped by town over the quarter's local days, so the bulletin, the stats and the case list
agree by construction (tests/integration/test_bulletin.py checks it). Towns only: the city's own
cases (the command centre's) are not ranked. Definitions in docs/reporting.md.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from hub.auth import Scope
from hub.reports import ranking
from hub.reports.quarters import Quarter, parse_quarter
from hub.reports.summary import Figures, summary
from hub.roles import Permission
from hub.supervision import stats
from hub.tenancy.model import TenantKind


@dataclass(frozen=True)
class TownLine:
    tenant_code: str
    figures: Figures

    @property
    def name(self) -> str:
        return self.figures.name


@dataclass(frozen=True)
class Bulletin:
    quarter: Quarter
    start: datetime
    end: datetime
    towns: list[TownLine]  # best first
    text: str  # the summary paragraph

    @property
    def title(self) -> str:
        return f"{self.quarter.label}网格化环境监管督查通报"


async def bulletin(session: AsyncSession, scope: Scope, quarter: str, *, tz: ZoneInfo) -> Bulletin:
    scope.require(Permission.BULLETIN_READ)
    period = parse_quarter(quarter)
    start, end = period.bounds(tz)
    rows = await stats.case_stats(session, scope, start, end, stats.StatsGroup.TENANT)
    towns = []
    for row in rows:
        tenant = scope.directory.by_id[uuid.UUID(row.key)]
        if tenant.kind != TenantKind.TOWN:
            continue
        towns.append((tenant.code, row))
    ranked = ranking.rank(
        towns,
        key=lambda t: ranking.standing(t[1].on_time_rate, t[1].red_cards, t[1].yellow_cards),
        name=lambda t: t[0],
    )
    lines = [
        TownLine(
            code,
            Figures(
                name=row.label,
                rank=place,
                found=row.total,
                solved=row.resolved,
                solved_on_site=row.solved_on_site,
                platform_assigned=row.platform_assigned,
                joint_actions=row.joint_actions,
                yellow_cards=row.yellow_cards,
                red_cards=row.red_cards,
                on_time=row.on_time,
                judged=row.resolved + row.overdue,
            ),
        )
        for place, (code, row) in ranked
    ]
    return Bulletin(period, start, end, lines, summary(period.label, [t.figures for t in lines]))
