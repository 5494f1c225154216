"""GraphQL: information briefings (信息简报)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from hub.briefings import service
from hub.briefings.model import Briefing as BriefingRow
from hub.gql import Context, UserError, utc_arg

Info = strawberry.Info[Context, None]


@strawberry.type(description="One issue of the bureau's information briefing (信息简报).")
class Briefing:
    id: strawberry.ID
    year: int = strawberry.field(description="The year of submittedAt in local time.")
    issue: int = strawberry.field(description="The issue number (期号) within its year.")
    title: str
    submitted_to: str
    submitted_at: datetime
    adopted: bool = strawberry.field(description="Whether a higher office used it (采用).")
    adopted_by: str | None
    adopted_at: datetime | None

    @classmethod
    def of(cls, row: BriefingRow) -> Briefing:
        return cls(
            id=strawberry.ID(str(row.id)),
            year=row.year,
            issue=row.issue,
            title=row.title,
            submitted_to=row.submitted_to,
            submitted_at=row.submitted_at,
            adopted=row.adopted_by is not None,
            adopted_by=row.adopted_by,
            adopted_at=row.adopted_at,
        )


@strawberry.type(description="A year's briefings and how many were submitted and adopted.")
class BriefingYear:
    year: int
    submitted: int
    adopted: int
    items: list[Briefing]


@strawberry.input
class BriefingInput:
    issue: int
    title: str
    submitted_to: str
    submitted_at: datetime


@strawberry.type
class BriefingResult:
    briefing: Briefing


BriefingMutationResult = Annotated[
    BriefingResult | UserError, strawberry.union("BriefingMutationResult")
]


def _result(found: BriefingRow | UserError) -> BriefingResult | UserError:
    return found if isinstance(found, UserError) else BriefingResult(briefing=Briefing.of(found))


@strawberry.type
class Query:
    @strawberry.field(description="A year's briefings (by submittedAt in local time).")
    async def briefings(self, info: Info, year: int) -> BriefingYear:
        ctx = info.context
        found = await ctx.read(service.of_year, year)
        return BriefingYear(
            year=found.year,
            submitted=found.submitted,
            adopted=found.adopted,
            items=[Briefing.of(r) for r in found.items],
        )


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Record a briefing sent up (audited).")
    async def submit_briefing(self, info: Info, input: BriefingInput) -> BriefingMutationResult:
        ctx = info.context
        spec = service.BriefingSpec(
            issue=input.issue,
            title=input.title,
            submitted_to=input.submitted_to,
            submitted_at=utc_arg(input.submitted_at, "submittedAt") or input.submitted_at,
        )
        return _result(await ctx.write(service.submit, spec, tz=ctx.runtime.tz))

    @strawberry.mutation(description="Record that a higher office used a briefing (audited).")
    async def mark_briefing_adopted(
        self, info: Info, id: strawberry.ID, adopted_by: str
    ) -> BriefingMutationResult:
        return _result(await info.context.write(service.mark_adopted, str(id), adopted_by))
