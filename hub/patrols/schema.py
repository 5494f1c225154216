"""GraphQL: a member's own work (myWork), dispatch candidates, patrols and their findings."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated

import strawberry

from hub.cases.model import Case as CaseRow
from hub.cases.nodes import Case, Category, case_node
from hub.cases.schema import CaseMutationResult, case_result, tz_of, view_of
from hub.errors import DomainError
from hub.gql import Context, UserError, selected, utc_arg
from hub.grid.schema import GridCellInfo, Member
from hub.ledgers.model import LedgerItem as LedgerItemRow
from hub.patrols import service, work
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

    @classmethod
    def of(cls, row: LedgerItemRow) -> WorkLedgerItem:
        return cls(
            id=strawberry.ID(str(row.id)),
            number=row.number,
            title=row.title,
            deadline=row.deadline,
            status=row.status,
        )


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
        description="The open ledger items (台账) the member is responsible for, soonest "
        "deadline first."
    )


# --- patrols -------------------------------------------------------------------------------------


@strawberry.type(description="A patrol (巡查) of one grid member.")
class Patrol:
    id: strawberry.ID
    kind: PatrolKind
    status: PatrolStatus
    member: Member
    grid_cell: GridCellInfo | None
    started_at: datetime
    ended_at: datetime | None
    summary: str | None
    track_meters: float = strawberry.field(
        description="The track's length in metres, on the WGS 84 ellipsoid, over its points in "
        "time order."
    )
    point_count: int = strawberry.field(description="Track points kept (one per time).")
    finding_count: int
    findings: list[Case] = strawberry.field(
        description="The cases the patrol's findings became, in the order found."
    )
    row: strawberry.Private[PatrolRow]

    @classmethod
    def of(cls, info: Info, found: service.PatrolRow, findings: list[Case]) -> Patrol:
        row = found.patrol
        return cls(
            id=strawberry.ID(str(row.id)),
            kind=PatrolKindEnum(row.kind),
            status=PatrolStatusEnum(row.status),
            member=Member.of(found.member),  # their own cell, read only if asked for
            grid_cell=GridCellInfo.of(info, found.cell) if found.cell else None,
            started_at=row.started_at,
            ended_at=row.ended_at,
            summary=row.summary,
            track_meters=row.track_meters,
            point_count=row.point_count,
            finding_count=found.finding_count,
            findings=findings,
            row=row,
        )


@strawberry.type
class PatrolResult:
    patrol: Patrol


PatrolMutationResult = Annotated[PatrolResult | UserError, strawberry.union("PatrolMutationResult")]


@strawberry.input(description="出发巡查. A retry with the same clientId returns the same patrol.")
class StartPatrolInput:
    kind: PatrolKind
    started_at: datetime
    client_id: str = strawberry.field(description="The phone's own id for this patrol.")
    grid_cell_id: strawberry.ID | None = strawberry.field(
        default=None, description="The cell patrolled (default: the member's own cell)."
    )
    source_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Enterprises visited (an ENTERPRISE patrol's)."
    )


@strawberry.input
class TrackPointInput:
    latitude: float
    longitude: float
    at: datetime


@strawberry.input(
    description="A problem found on patrol; it is a GRID report, with its photos "
    "(attachmentIds, uploaded first through POST /attachments)."
)
class FindingInput:
    title: str
    description: str
    category: Category
    client_id: str = strawberry.field(description="The phone's own id for this finding.")
    source_id: strawberry.ID | None = None
    latitude: float | None = None
    longitude: float | None = None
    resolved_on_site: bool = strawberry.field(
        default=False, description="现场解决: registered and closed at once; needs result."
    )
    result: str | None = None
    attachment_ids: list[strawberry.ID] | None = strawberry.field(
        default=None,
        description="Photos or documents uploaded first (POST /attachments): they go on the "
        "finding's case, their sha256 on its audit trail.",
    )


async def _patrol_result(info: Info, done: PatrolRow | UserError) -> PatrolResult | UserError:
    """Read the changed patrol back with its member, cell and findings count."""
    if isinstance(done, UserError):
        return done
    found = await info.context.read(service.patrol_row, done.id)
    [patrol] = await _patrols(info, [found], info.field_name, "patrol")
    return PatrolResult(patrol=patrol)


async def _patrols(info: Info, rows: list[service.PatrolRow], *path: str) -> list[Patrol]:
    """Patrol nodes, their findings read for the whole list at once when asked for."""
    include = selected(info.selected_fields, *path, "findings")
    findings: dict[uuid.UUID, list[CaseRow]] = {}
    if include:
        ids = [r.patrol.id for r in rows]
        findings = await info.context.read(service.findings_of, ids, include)
    view = view_of(info.context)
    return [
        Patrol.of(info, r, [case_node(c, view) for c in findings.get(r.patrol.id, [])])
        for r in rows
    ]


@strawberry.type
class Mutation:
    @strawberry.mutation(description="出发巡查: start a patrol (one open patrol per member).")
    async def start_patrol(self, info: Info, input: StartPatrolInput) -> PatrolMutationResult:
        try:
            spec = service.StartSpec(
                kind=input.kind,
                started_at=utc_arg(input.started_at, "startedAt") or input.started_at,
                client_id=input.client_id,
                grid_cell_id=input.grid_cell_id,
                source_ids=tuple(input.source_ids or ()),
            )
        except DomainError as exc:
            return UserError.of(exc)
        done = await info.context.write(service.start_patrol, spec, tz=info.context.runtime.tz)
        return await _patrol_result(info, done)

    @strawberry.mutation(
        description="Track points of a patrol, in pieces and in any order; a time already kept "
        "is skipped."
    )
    async def record_track(
        self, info: Info, patrol_id: strawberry.ID, points: list[TrackPointInput]
    ) -> PatrolMutationResult:
        specs = [service.TrackSpec(p.latitude, p.longitude, p.at) for p in points]
        done = await info.context.write(service.record_track, patrol_id, specs)
        return await _patrol_result(info, done)

    @strawberry.mutation(
        description="A finding on an open patrol: a GRID report (a case, or joins the open case "
        "about it); resolvedOnSite registers and closes it at once."
    )
    async def record_finding(
        self, info: Info, patrol_id: strawberry.ID, input: FindingInput
    ) -> CaseMutationResult:
        ctx = info.context
        spec = service.FindingSpec(
            title=input.title,
            description=input.description,
            category=input.category,
            client_id=input.client_id,
            source_id=input.source_id,
            latitude=input.latitude,
            longitude=input.longitude,
            resolved_on_site=input.resolved_on_site,
            result=input.result,
            attachment_ids=tuple(input.attachment_ids or ()),
        )
        done = await ctx.write(
            service.record_finding,
            patrol_id,
            spec,
            tz=tz_of(ctx),
            prefix=ctx.runtime.case_prefix,
            rules=ctx.runtime.rules,
        )
        return await case_result(info, done)

    @strawberry.mutation(description="结束巡查: end a patrol with its summary.")
    async def end_patrol(
        self, info: Info, patrol_id: strawberry.ID, summary: str, ended_at: datetime
    ) -> PatrolMutationResult:
        try:
            when = utc_arg(ended_at, "endedAt") or ended_at
        except DomainError as exc:
            return UserError.of(exc)
        done = await info.context.write(service.end_patrol, patrol_id, summary, when)
        return await _patrol_result(info, done)


@strawberry.type
class Query:
    @strawberry.field(
        description="The caller's own work. The token or account must be bound to a member "
        "(`sanwang token create --member EXTERNAL_ID`, or a JWT's `member` claim)."
    )
    async def my_work(self, info: Info) -> MyWork:
        ctx = info.context
        found = await ctx.read(work.my_work, selected(info.selected_fields, "myWork", "cases"))
        view = view_of(ctx)
        return MyWork(
            member=Member.of(found.member),
            cases=[case_node(c, view) for c in found.cases],
            open_patrol=OpenPatrol.of(found.open_patrol) if found.open_patrol else None,
            ledger_items=[WorkLedgerItem.of(i) for i in found.ledger_items],
        )

    @strawberry.field(
        description="Whom a case may be dispatched to: the active members of its grid cell, "
        "then of the cells above it (village cell first, then the town's), by name."
    )
    async def dispatch_candidates(self, info: Info, case_id: strawberry.ID) -> list[Member]:
        rows = await info.context.read(work.dispatch_candidates, case_id)
        return [Member.of(member, cell) for member, cell in rows]

    @strawberry.field(
        description="Patrols started in [from, to), newest first; a MEMBER sees their own."
    )
    async def patrols(
        self,
        info: Info,
        from_: Annotated[datetime, strawberry.argument(name="from")],
        to: datetime,
        tenant_code: str | None = None,
        member_id: strawberry.ID | None = None,
    ) -> list[Patrol]:
        rows = await info.context.read(
            service.list_patrols,
            tenant_code,
            member_id,
            utc_arg(from_, "from"),
            utc_arg(to, "to"),
        )
        return await _patrols(info, rows, "patrols")
