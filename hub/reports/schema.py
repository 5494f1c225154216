"""GraphQL: the quarterly bulletin (季度督查通报)."""

from __future__ import annotations

import strawberry

from hub.gql import Context
from hub.reports import bulletin as service

Info = strawberry.Info[Context, None]


@strawberry.type(description="One town's line of the quarterly bulletin.")
class BulletinTown:
    tenant_code: str
    name: str
    found: int = strawberry.field(description="cases registered in the quarter (发现问题)")
    solved: int = strawberry.field(description="of those, resolved (办结 反馈 结案)")
    solved_on_site: int = strawberry.field(description="of those, closed on site (现场解决)")
    platform_assigned: int = strawberry.field(description="of those, assigned by the platform")
    joint_actions: int = strawberry.field(description="joint actions on the town's cases")
    yellow_cards: int
    red_cards: int
    on_time_rate: float | None = strawberry.field(
        description="as caseStats: resolved on time / (resolved + open overdue)"
    )
    rank: int = strawberry.field(description="by on-time rate, then red, then yellow cards")


@strawberry.type(description="A file of the bulletin: GET it with the same bearer token.")
class Download:
    format: str
    url: str


@strawberry.type(description="The quarterly supervision bulletin of the towns the caller sees.")
class Bulletin:
    quarter: str
    title: str
    summary: str = strawberry.field(description="the paragraph written from the figures")
    towns: list[BulletinTown]
    downloads: list[Download]


@strawberry.type
class Query:
    @strawberry.field(description='The quarter\'s bulletin, e.g. quarter: "2026Q4".')
    async def bulletin(self, info: Info, quarter: str) -> Bulletin:
        ctx = info.context
        found = await ctx.read(service.bulletin, quarter, tz=ctx.runtime.tz)
        code = found.quarter.code
        return Bulletin(
            quarter=code,
            title=found.title,
            summary=found.text,
            towns=[
                BulletinTown(
                    tenant_code=t.tenant_code,
                    name=t.name,
                    found=t.figures.found,
                    solved=t.figures.solved,
                    solved_on_site=t.figures.solved_on_site,
                    platform_assigned=t.figures.platform_assigned,
                    joint_actions=t.figures.joint_actions,
                    yellow_cards=t.figures.yellow_cards,
                    red_cards=t.figures.red_cards,
                    on_time_rate=t.figures.on_time_rate,
                    rank=t.figures.rank,
                )
                for t in found.towns
            ],
            downloads=[
                Download(format=f, url=f"/exports/bulletin/{code}.{f}") for f in ("docx", "xlsx")
            ],
        )
