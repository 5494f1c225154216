"""GraphQL: a member's own work (myWork), dispatch candidates, patrols and their findings."""

from __future__ import annotations

from datetime import date, datetime

import strawberry

from hub.cases.nodes import Case, case_node
from hub.cases.schema import view_of
from hub.gql import Context
from hub.grid.schema import Member
from hub.patrols import work
from hub.patrols.model import Patrol as PatrolRow
from hub.patrols.model import PatrolKind as PatrolKindEnum
from hub.patrols.model import PatrolStatus as PatrolStatusEnum

Info = strawberry.Info[Context, None]

# strawberry.enum registers on the enum class itself; mypy accepts the plain alias as a type
strawberry.enum(PatrolKindEnum, name="PatrolKind")
PatrolKind = PatrolKindEnum
strawberry.enum(PatrolStatusEnum, name="PatrolStatus")
PatrolStatus = PatrolStatusEnum


@strawberry.type(description="An open patrol as myWork shows it.")
class OpenPatrol:
    id: strawberry.ID
    kind: PatrolKind
    started_at: datetime

    @classmethod
    def of(cls, row: PatrolRow) -> OpenPatrol:
        return cls(
            id=strawberry.ID(str(row.id)),
            kind=PatrolKindEnum(row.kind),
            started_at=row.started_at,
        )


@strawberry.type(description="A ledger item (台账) in a member's work.")
class WorkLedgerItem:
    id: strawberry.ID
    number: str
    title: str
    deadline: date
    status: str


@strawberry.type(description="The signed-in grid member's own work.")
class MyWork:
    member: Member
    cases: list[Case] = strawberry.field(
        description="Cases assigned to this member: open ones first, soonest due first."
    )
    open_patrol: OpenPatrol | None = strawberry.field(
        description="The patrol the member is on, if any."
    )
    ledger_items: list[WorkLedgerItem] = strawberry.field(
        description="The ledger items (台账) the member is responsible for. The hub keeps no "
        "ledgers yet, so this is empty until ledgers land (there are no items, not hidden ones)."
    )


@strawberry.type
class Query:
    @strawberry.field(
        description="The caller's own work. The token or account must be bound to a member "
        "(`sanwang token create --member EXTERNAL_ID`, or a JWT's `member` claim)."
    )
    async def my_work(self, info: Info) -> MyWork:
        ctx = info.context
        found = await ctx.read(work.my_work)
        view = view_of(ctx)
        return MyWork(
            member=Member.of(found.member),
            cases=[case_node(c, view) for c in found.cases],
            open_patrol=OpenPatrol.of(found.open_patrol) if found.open_patrol else None,
            ledger_items=[],
        )

    @strawberry.field(
        description="Whom a case may be dispatched to: the active members of its grid cell, "
        "then of the cells above it (village cell first, then the town's), by name."
    )
    async def dispatch_candidates(self, info: Info, case_id: strawberry.ID) -> list[Member]:
        rows = await info.context.read(work.dispatch_candidates, case_id)
        return [Member.of(member, cell) for member, cell in rows]
