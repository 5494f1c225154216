"""GraphQL: the case list and detail, the workflow's mutations, and case events."""

from __future__ import annotations

import enum
import uuid
from collections.abc import AsyncGenerator
from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from hub import validation
from hub.auth import Scope
from hub.cases import inputs, intake, loaders, queries, steps
from hub.cases.enums import Satisfaction as SatisfactionEnum
from hub.cases.model import Case as CaseRow
from hub.cases.nodes import (
    Card,
    Case,
    CaseStatus,
    Category,
    Channel,
    Priority,
    Satisfaction,
    Shared,
    View,
    case_node,
    plain_case_node,
    unmasked_reads,
)
from hub.errors import DomainError, ErrorCode, not_an_id
from hub.gql import Context, UserError, public_error, selected, utc_arg

Info = strawberry.Info[Context, None]


@strawberry.enum
class ReviewDecision(enum.Enum):
    APPROVE = "APPROVE"
    RETURN = "RETURN"


# --- inputs -----------------------------------------------------------------------------------


@strawberry.input
class CaseFilter:
    status: list[CaseStatus] | None = None
    tenant_codes: list[str] | None = None
    channels: list[Channel] | None = None
    categories: list[Category] | None = None
    cards: list[Card] | None = None
    overdue: bool | None = None
    source_id: strawberry.ID | None = None
    text: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None


@strawberry.input
class RegisterCaseInput:
    channel: Channel
    title: str
    description: str
    category: Category
    external_id: str | None = None
    priority: Priority | None = None
    tenant_code: str | None = None
    address: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    source_id: strawberry.ID | None = None
    reporter_name: str | None = None
    reporter_phone: str | None = None
    occurred_at: datetime | None = None


@strawberry.input
class DispatchInput:
    tenant_code: str
    grid_cell_id: strawberry.ID | None = None
    assignee_id: strawberry.ID | None = None
    due_at: datetime | None = None
    note: str | None = None


@strawberry.input
class SubmitResultInput:
    result: str
    on_site_at: datetime | None = None


@strawberry.input
class ReviewInput:
    decision: ReviewDecision
    note: str | None = None


@strawberry.input
class FeedbackInput:
    satisfaction: Satisfaction
    note: str | None = None


# --- outputs ----------------------------------------------------------------------------------


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class CaseEdge:
    cursor: str
    node: Case


@strawberry.type
class CaseConnection:
    total_count: int | None
    page_info: PageInfo
    edges: list[CaseEdge]


@strawberry.type
class CaseResult:
    case: Case
    duplicate_of: Case | None = None


CaseMutationResult = Annotated[CaseResult | UserError, strawberry.union("CaseMutationResult")]


@strawberry.type
class CaseEvent:
    kind: str
    at: datetime
    case: Case


# --- helpers ----------------------------------------------------------------------------------


def view_of(ctx: Context) -> View:
    return View(ctx.scope.roles, ctx.scope.directory, ctx.now)


def tz_of(ctx: Context) -> ZoneInfo:
    return ctx.runtime.tz


def id_arg(value: str | None, field: str) -> uuid.UUID | None:
    if value is None:
        return None
    parsed = validation.parse_id(value)
    if parsed is None:
        raise not_an_id(field)
    return parsed


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    return value


async def case_result(
    info: Info, outcome: CaseRow | inputs.Registered | UserError, duplicate: CaseRow | None = None
) -> CaseResult | UserError:
    """Re-read the changed case with what the client selected, in the caller's scope."""
    if isinstance(outcome, UserError):
        return outcome
    ctx = info.context
    row = outcome.case if isinstance(outcome, inputs.Registered) else outcome
    include = selected(info.selected_fields, info.field_name, "case")
    fresh = await ctx.read(loaders.get_case, row.id, include)
    node = case_node(fresh or row, view_of(ctx))
    dup = duplicate.case if isinstance(duplicate, inputs.Registered) else duplicate
    return CaseResult(case=node, duplicate_of=case_node(dup, view_of(ctx)) if dup else None)


async def audit_reads(ctx: Context, rows: list[Any], view: View) -> None:
    reads = unmasked_reads(rows, view)
    if reads:
        await ctx.write(loaders.audit_unmasked, reads)


async def read_audited(
    ctx: Context, case_id: str, include: set[str], view: View
) -> CaseRow | loaders.PlainCase | None:
    """A case read by a viewer of full phone numbers, and the audit of the numbers it shows,
    in one transaction: one session, BEGIN and COMMIT instead of a read's and then a write's
    (the same statements otherwise; a case without numbers writes nothing)."""

    async def work(session: AsyncSession, scope: Scope) -> CaseRow | loaders.PlainCase | None:
        found = await loaders.get_case_fast(session, scope, case_id, include)
        reads = unmasked_reads([found], view) if found is not None else []
        if reads:
            await loaders.audit_unmasked(session, scope, reads)
        return found

    done = await ctx.write(work)
    if isinstance(done, UserError):  # what a read raises: FORBIDDEN, or a conflict
        raise public_error(DomainError(done.code, done.message, done.field))
    return done


def register_input(inp: RegisterCaseInput) -> inputs.RegisterInput:
    payload = {k: _jsonable(v) for k, v in vars(inp).items() if v is not None}
    return inputs.RegisterInput(
        channel=inp.channel,
        title=inp.title,
        description=inp.description,
        category=inp.category,
        external_id=inp.external_id,
        priority=inp.priority,
        tenant_code=inp.tenant_code,
        address=inp.address,
        latitude=inp.latitude,
        longitude=inp.longitude,
        source_id=id_arg(inp.source_id, "sourceId"),
        reporter_name=inp.reporter_name,
        reporter_phone=inp.reporter_phone,
        occurred_at=utc_arg(inp.occurred_at, "occurredAt"),
        payload=payload,
    )


# --- queries ------------------------------------------------------------------------------------


@strawberry.type
class Query:
    @strawberry.field(description="Cases the caller sees, newest first; first is capped at 200.")
    async def cases(
        self,
        info: Info,
        filter: CaseFilter | None = None,
        first: int | None = 50,
        after: str | None = None,
    ) -> CaseConnection:
        ctx = info.context
        include = selected(info.selected_fields, "cases", "edges", "node")
        flt = queries.CaseFilter(**vars(filter)) if filter else None
        page = await ctx.read(
            queries.list_cases,
            flt,
            first,
            after,
            key=ctx.key,
            include=include,
            want_total="totalCount" in selected(info.selected_fields, "cases"),
            rows_ok=True,  # plain_case_node builds the nodes
        )
        view = view_of(ctx)
        if page.plain:  # no reports read, nothing to audit
            shared = Shared()
            nodes = [plain_case_node(r, view, shared) for r in page.cases]
        else:
            await audit_reads(ctx, page.cases, view)
            nodes = [case_node(r, view) for r in page.cases]
        edges = [CaseEdge(cursor=c, node=n) for n, c in zip(nodes, page.cursors, strict=True)]
        return CaseConnection(
            total_count=page.total_count,
            page_info=PageInfo(
                has_next_page=page.has_next_page,
                end_cursor=page.cursors[-1] if page.cursors else None,
            ),
            edges=edges,
        )

    @strawberry.field(description="One case; null when it does not exist for the caller.")
    async def case(self, info: Info, id: strawberry.ID) -> Case | None:
        ctx = info.context
        include = selected(info.selected_fields, "case")
        view = view_of(ctx)
        if view.sees_phones and "reports" in include:
            found = await read_audited(ctx, id, include, view)
        else:
            found = await ctx.read(loaders.get_case_fast, id, include)
        if found is None:
            return None
        if isinstance(found, loaders.PlainCase):
            return plain_case_node(found.row, view, Shared(), found)
        return case_node(found, view)


# --- mutations ----------------------------------------------------------------------------------


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Register one report; it opens a case or joins one.")
    async def register_case(self, info: Info, input: RegisterCaseInput) -> CaseMutationResult:
        ctx = info.context
        try:
            intake.throttle(ctx.db, ctx.scope, ctx.settings.register_rate_per_minute)
            data = register_input(input)
        except DomainError as exc:
            return UserError.of(exc)
        done = await ctx.write(
            intake.register,
            data,
            tz=tz_of(ctx),
            prefix=ctx.runtime.case_prefix,
            rules=ctx.runtime.rules,
        )
        dup = done.duplicate_of if isinstance(done, inputs.Registered) else None
        return await case_result(info, done, dup)

    @strawberry.mutation(description="转办: send a case to a town, grid cell and member.")
    async def dispatch_case(
        self, info: Info, case_id: strawberry.ID, input: DispatchInput
    ) -> CaseMutationResult:
        ctx = info.context
        try:
            data = inputs.DispatchInput(
                tenant_code=input.tenant_code,
                grid_cell_id=id_arg(input.grid_cell_id, "gridCellId"),
                assignee_id=id_arg(input.assignee_id, "assigneeId"),
                due_at=utc_arg(input.due_at, "dueAt"),
                note=input.note,
            )
        except DomainError as exc:
            return UserError.of(exc)
        return await case_result(
            info, await ctx.write(steps.dispatch, case_id, data, tz=tz_of(ctx))
        )

    @strawberry.mutation(description="签收: the office takes the case on.")
    async def accept_case(
        self, info: Info, case_id: strawberry.ID, note: str | None = None
    ) -> CaseMutationResult:
        return await case_result(
            info, await info.context.write(steps.accept, case_id, note, tz=tz_of(info.context))
        )

    @strawberry.mutation(description="A progress note while handling.")
    async def record_progress(
        self, info: Info, case_id: strawberry.ID, note: str
    ) -> CaseMutationResult:
        return await case_result(
            info, await info.context.write(steps.record_progress, case_id, note)
        )

    @strawberry.mutation(description="办结申请: submit the result for review.")
    async def submit_result(
        self, info: Info, case_id: strawberry.ID, input: SubmitResultInput
    ) -> CaseMutationResult:
        try:
            on_site_at = utc_arg(input.on_site_at, "onSiteAt")
        except DomainError as exc:
            return UserError.of(exc)
        return await case_result(
            info,
            await info.context.write(
                steps.submit_result, case_id, input.result, on_site_at, tz=tz_of(info.context)
            ),
        )

    @strawberry.mutation(description="督查/审核: APPROVE resolves, RETURN sends back to handling.")
    async def review_case(
        self, info: Info, case_id: strawberry.ID, input: ReviewInput
    ) -> CaseMutationResult:
        approve = input.decision == ReviewDecision.APPROVE
        return await case_result(
            info,
            await info.context.write(
                steps.review,
                case_id,
                approve,
                input.note,
                outside_office=info.context.settings.review_outside_office,
                tz=tz_of(info.context),
            ),
        )

    @strawberry.mutation(description="反馈: what the reporter said of the result.")
    async def record_feedback(
        self, info: Info, case_id: strawberry.ID, input: FeedbackInput
    ) -> CaseMutationResult:
        return await case_result(
            info,
            await info.context.write(
                steps.record_feedback,
                case_id,
                SatisfactionEnum(input.satisfaction.value),
                input.note,
                tz=tz_of(info.context),
            ),
        )

    @strawberry.mutation(description="结案.")
    async def close_case(
        self, info: Info, case_id: strawberry.ID, note: str | None = None
    ) -> CaseMutationResult:
        return await case_result(info, await info.context.write(steps.close, case_id, note))

    @strawberry.mutation(description="Reopen a closed case (command centre).")
    async def reopen_case(
        self, info: Info, case_id: strawberry.ID, reason: str
    ) -> CaseMutationResult:
        return await case_result(
            info, await info.context.write(steps.reopen, case_id, reason, tz=tz_of(info.context))
        )

    @strawberry.mutation(
        description="Merge a case into another; answers the case that now holds the reports."
    )
    async def merge_case(
        self,
        info: Info,
        case_id: strawberry.ID,
        into_case_id: strawberry.ID,
        note: str | None = None,
    ) -> CaseMutationResult:
        return await case_result(
            info, await info.context.write(steps.merge, case_id, into_case_id, note)
        )

    @strawberry.mutation(
        description="Split a report off its case into a case of its own (history kept on both); "
        "answers the new case."
    )
    async def split_report(
        self, info: Info, report_id: strawberry.ID, note: str | None = None
    ) -> CaseMutationResult:
        ctx = info.context
        return await case_result(
            info,
            await ctx.write(
                steps.split_report,
                report_id,
                note,
                tz=tz_of(ctx),
                prefix=ctx.runtime.case_prefix,
            ),
        )

    @strawberry.mutation(description="不予受理: reject a case that is not the bureau's.")
    async def reject_case(
        self, info: Info, case_id: strawberry.ID, reason: str
    ) -> CaseMutationResult:
        return await case_result(info, await info.context.write(steps.reject, case_id, reason))

    @strawberry.mutation(
        description="退回指挥中心: the town office holding a case that is not its own returns it, "
        "with the reason, to the command centre's dispatch queue (OPERATOR of that town, ADMIN)."
    )
    async def return_case(
        self, info: Info, case_id: strawberry.ID, reason: str
    ) -> CaseMutationResult:
        done = await info.context.write(steps.hand_back, case_id, reason, tz=tz_of(info.context))
        return await case_result(info, done)


# --- subscriptions -----------------------------------------------------------------------------


@strawberry.type
class Subscription:
    @strawberry.subscription(description="Changes to cases the caller sees, after they commit.")
    async def case_events(
        self, info: Info, tenant_codes: list[str] | None = None
    ) -> AsyncGenerator[CaseEvent, None]:
        ctx = info.context
        visible = subscribed_towns(ctx, tenant_codes)
        # Unmasked numbers pushed to a socket are read as much as over HTTP: audited, when the
        # subscription selects the reports (as a query's loaded rows follow its selection).
        shows_reports = "reports" in selected(info.selected_fields, info.field_name, "case")
        async for notice in ctx.runtime.events.stream(visible):
            view = View(ctx.scope.roles, ctx.scope.directory, ctx.now)
            if shows_reports:
                await audit_reads(ctx, [notice.case], view)
            yield CaseEvent(kind=notice.kind, at=notice.at, case=case_node(notice.case, view))


def subscribed_towns(ctx: Context, tenant_codes: list[str] | None) -> set[uuid.UUID]:
    """The towns a subscription listens to: those the caller sees, narrowed by tenantCodes; a
    code the caller does not see is FORBIDDEN (an empty stream read as "nothing happened")."""
    visible = set(ctx.scope.tenant_ids)
    if tenant_codes is None:
        return visible
    by_code = ctx.scope.directory.by_code
    unseen = [c for c in tenant_codes if c not in by_code or by_code[c].id not in visible]
    if unseen:
        raise public_error(
            DomainError(
                ErrorCode.FORBIDDEN,
                f"您无权订阅这些乡镇的案件: {', '.join(unseen)}",
                "tenantCodes",
            )
        )
    return {by_code[c].id for c in tenant_codes}
