"""GraphQL: ledger items (台账): open, progress, close (销号), and the list."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

import strawberry

from hub.cases.enums import Card as CardEnum
from hub.cases.nodes import Card, Case, case_node
from hub.cases.schema import PageInfo, view_of
from hub.gql import Context, UserError, selected
from hub.grid.schema import Member
from hub.ledgers import service
from hub.ledgers.model import LedgerItem as LedgerItemRow
from hub.ledgers.model import LedgerKind as LedgerKindEnum
from hub.ledgers.model import LedgerStatus as LedgerStatusEnum
from hub.sources.schema import Source

Info = strawberry.Info[Context, None]

# strawberry.enum registers on the enum class itself; mypy accepts the plain alias as a type
strawberry.enum(LedgerKindEnum, name="LedgerKind")
LedgerKind = LedgerKindEnum
strawberry.enum(LedgerStatusEnum, name="LedgerStatus")
LedgerStatus = LedgerStatusEnum


@strawberry.type(description="One step of progress on a ledger item.")
class LedgerProgress:
    at: datetime
    note: str
    percent: int
    by: str = strawberry.field(description="Who recorded it (their name).")


@strawberry.type(
    description="A ledger item (台账): a complex problem (PROBLEM) or a rectification order "
    "(RECTIFICATION, 限期整改), numbered per town and year (TZ-2026-0001)."
)
class LedgerItem:
    id: strawberry.ID
    number: str
    kind: LedgerKind
    title: str
    description: str
    tenant_code: str
    source: Source | None
    responsible: Member | None
    case: Case | None
    measures: list[str]
    deadline: date = strawberry.field(description="The last local day on which it is on time.")
    status: LedgerStatus
    percent: int
    overdue: bool = strawberry.field(description="Open and past its deadline.")
    card: Card = strawberry.field(
        description="The card the time-limit sweep gave it: YELLOW the day after the deadline, "
        "RED two working days later."
    )
    carded_at: datetime | None
    progress: list[LedgerProgress] = strawberry.field(description="Oldest first.")
    opened_by: str
    opened_at: datetime
    verification: str | None = strawberry.field(description="The verification note of 销号.")
    closed_by: str | None
    closed_at: datetime | None

    @classmethod
    def of(cls, info: Info, row: service.ItemRow) -> LedgerItem:
        item, ctx = row.item, info.context
        view = view_of(ctx)
        return cls(
            id=strawberry.ID(str(item.id)),
            number=item.number,
            kind=LedgerKindEnum(item.kind),
            title=item.title,
            description=item.description,
            tenant_code=ctx.scope.directory.by_id[item.tenant_id].code,
            source=Source.of(row.source) if row.source else None,
            responsible=Member.of(row.responsible) if row.responsible else None,
            case=case_node(row.case, view) if row.case else None,
            measures=list(item.measures),
            deadline=item.deadline,
            status=LedgerStatusEnum(item.status),
            percent=item.percent,
            overdue=row.overdue,
            card=CardEnum(item.card or CardEnum.NONE),
            carded_at=item.carded_at,
            progress=[LedgerProgress(at=p.at, note=p.note, percent=p.percent, by=p.by)
                      for p in row.progress],
            opened_by=item.opened_by,
            opened_at=item.opened_at,
            verification=item.verification,
            closed_by=item.closed_by,
            closed_at=item.closed_at,
        )  # fmt: skip


@strawberry.type
class LedgerItemResult:
    item: LedgerItem


LedgerItemMutationResult = Annotated[
    LedgerItemResult | UserError, strawberry.union("LedgerItemMutationResult")
]


@strawberry.type
class LedgerItemEdge:
    cursor: str
    node: LedgerItem


@strawberry.type
class LedgerItemConnection:
    total_count: int | None
    page_info: PageInfo
    edges: list[LedgerItemEdge]


@strawberry.input(description="建立台账. The responsible member, source and case: of the town.")
class LedgerItemInput:
    kind: LedgerKind
    tenant_code: str
    title: str
    description: str
    measures: list[str] = strawberry.field(description="整改措施, at least one.")
    deadline: date = strawberry.field(description="The last day to be done; not before today.")
    responsible_member_id: strawberry.ID | None = None
    source_id: strawberry.ID | None = None
    case_id: strawberry.ID | None = None


@strawberry.input
class LedgerFilter:
    tenant_codes: list[str] | None = None
    kinds: list[LedgerKind] | None = None
    statuses: list[LedgerStatus] | None = None
    overdue: bool | None = None
    source_id: strawberry.ID | None = None


async def _result(info: Info, done: LedgerItemRow | UserError) -> LedgerItemResult | UserError:
    """Read the changed item back, with its source, people and progress."""
    if isinstance(done, UserError):
        return done
    row = await info.context.read(service.item_row, done.id, tz=info.context.runtime.tz)
    return LedgerItemResult(item=LedgerItem.of(info, row))


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="建立台账: an item of a town (OPERATOR its own town, DISPATCHER, SUPERVISOR, "
        "ADMIN), numbered TZ-<year>-<n> per town."
    )
    async def open_ledger_item(
        self, info: Info, input: LedgerItemInput
    ) -> LedgerItemMutationResult:
        spec = service.ItemSpec(
            kind=input.kind,
            tenant_code=input.tenant_code,
            title=input.title,
            description=input.description,
            measures=tuple(input.measures),
            deadline=input.deadline,
            responsible_member_id=input.responsible_member_id,
            source_id=input.source_id,
            case_id=input.case_id,
        )
        done = await info.context.write(service.open_item, spec, tz=info.context.runtime.tz)
        return await _result(info, done)

    @strawberry.mutation(
        description="记录进展: the responsible member, the town's office or the city's roles; "
        "percent from 0 to 100."
    )
    async def record_ledger_progress(
        self, info: Info, item_id: strawberry.ID, note: str, percent: int
    ) -> LedgerItemMutationResult:
        done = await info.context.write(service.record_progress, item_id, note, percent)
        return await _result(info, done)

    @strawberry.mutation(
        description="销号: close an item with the verification note (OPERATOR of its town, "
        "SUPERVISOR, ADMIN; never its responsible member)."
    )
    async def close_ledger_item(
        self, info: Info, item_id: strawberry.ID, verification: str
    ) -> LedgerItemMutationResult:
        done = await info.context.write(service.close_item, item_id, verification)
        return await _result(info, done)


@strawberry.type
class Query:
    @strawberry.field(
        description="Ledger items the caller sees, newest first; a MEMBER sees the items they "
        "are responsible for. first is capped at 200."
    )
    async def ledger_items(
        self,
        info: Info,
        filter: LedgerFilter | None = None,
        first: int | None = 50,
        after: str | None = None,
    ) -> LedgerItemConnection:
        ctx = info.context
        flt = service.LedgerFilter(**vars(filter)) if filter else None
        page = await ctx.read(
            service.list_items,
            flt,
            first,
            after,
            key=ctx.key,
            tz=ctx.runtime.tz,
            want_total="totalCount" in selected(info.selected_fields, "ledgerItems"),
            want_progress="progress"
            in selected(info.selected_fields, "ledgerItems", "edges", "node"),
        )
        edges = [
            LedgerItemEdge(cursor=c, node=LedgerItem.of(info, r))
            for r, c in zip(page.rows, page.cursors, strict=True)
        ]
        return LedgerItemConnection(
            total_count=page.total_count,
            page_info=PageInfo(
                has_next_page=page.has_next_page,
                end_cursor=page.cursors[-1] if page.cursors else None,
            ),
            edges=edges,
        )
