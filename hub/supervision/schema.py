"""GraphQL: urges, cards, pauses, extensions, the case clocks, stats and the board."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated

import strawberry

from hub.cases.enums import Card as CardEnum
from hub.cases.nodes import Card, LinkedCase, linked_case
from hub.cases.schema import CaseMutationResult, case_result, tz_of, view_of
from hub.gql import Context, UserError
from hub.supervision import service, stats
from hub.supervision.model import ExtensionStatus, Level, LimitUnit, Phase
from hub.supervision.model import TimeLimitRule as RuleRow
from hub.tenancy.schema import Tenant

Info = strawberry.Info[Context, None]
# strawberry.enum registers on the enum class itself; mypy accepts the plain alias as a type
strawberry.enum(stats.StatsGroup, name="StatsGroup")
StatsGroup = stats.StatsGroup
strawberry.enum(stats.CardGroup, name="CardGroup")
CardGroup = stats.CardGroup


@strawberry.type(description="Cards earned by one town or one grid member.")
class CardCount:
    key: str
    label: str
    yellow_cards: int
    red_cards: int


@strawberry.type(description="One group of the command-centre counts.")
class CaseStat:
    key: str
    label: str
    total: int = strawberry.field(
        description="cases registered in the period: open + resolved + withdrawn"
    )
    open: int = strawberry.field(description="登记 转办 办理 督查")
    resolved: int = strawberry.field(description="办结 反馈 结案")
    overdue: int
    yellow_cards: int
    red_cards: int
    withdrawn: int = strawberry.field(default=0, description="合并 不予受理")
    network_found: int = strawberry.field(
        default=0,
        description="came by one of the three networks (12369 hotline, city platform, online "
        "monitoring)",
    )
    platform_assigned: int = strawberry.field(
        default=0, description="assigned down by the city platform (交办): its channel or ref"
    )
    solved_on_site: int = strawberry.field(
        default=0, description="closed on site by a patrol's finding (现场解决)"
    )
    joint_actions: int = strawberry.field(
        default=0, description="joint actions (联合执法) on these cases in the period, distinct"
    )
    on_time_rate: float | None = strawberry.field(
        description="resolved on time / (resolved + open overdue); null when both are zero"
    )
    satisfaction_rate: float | None = strawberry.field(
        default=None,
        description="(SATISFIED + BASICALLY_SATISFIED) / callers who answered (UNREACHABLE "
        "not counted); null when no one answered",
    )
    on_site_hours_mean: float | None = strawberry.field(
        default=None, description="mean hours from registration to onSiteAt (到场时长)"
    )
    on_site_hours_median: float | None = strawberry.field(
        default=None, description="median hours from registration to onSiteAt"
    )


@strawberry.type(description="A town's open work on the command-centre board.")
class BoardEntry:
    tenant: Tenant
    open: int
    overdue: int
    due_soon: int
    yellow_cards: int
    red_cards: int


@strawberry.type(description="One office's turn with a case and its current clock.")
class CaseHop:
    seq: int
    level: str
    tenant_code: str
    member_id: strawberry.ID | None
    phase: str
    phase_started_at: datetime
    yellow_at: datetime | None
    red_at: datetime | None
    suspended: bool
    card: Card
    opened_at: datetime
    accepted_at: datetime | None
    ended_at: datetime | None
    end_reason: str | None


@strawberry.type(description="A yellow or red card (红黄牌).")
class CaseCard:
    id: strawberry.ID
    level: Card
    phase: str | None
    reason: str
    automatic: bool
    issued_at: datetime
    issued_by: str
    tenant_code: str


@strawberry.type
class ExtensionResult:
    request_id: strawberry.ID
    status: str


strawberry.enum(ExtensionStatus, name="ExtensionStatus")
ExtensionStatusEnum = ExtensionStatus


@strawberry.type(description="延期申请 in the supervisor's queue.")
class ExtensionRequest:
    id: strawberry.ID
    case: LinkedCase
    tenant_code: str
    status: ExtensionStatusEnum
    requested_by: str = strawberry.field(description="the requester's name")
    requested_due_at: datetime
    reason: str
    requested_at: datetime
    age_hours: float = strawberry.field(description="hours since the request was made")
    decided_at: datetime | None
    decided_by: str | None
    decision_note: str | None


@strawberry.type
class WorkDay:
    day: date
    workday: bool
    reason: str


@strawberry.type
class TimeLimitRule:
    id: strawberry.ID
    level: str
    phase: str
    category: str | None
    priority: str | None
    channel: str | None
    unit: str
    yellow_after: float
    red_after: float


@strawberry.type
class Query:
    @strawberry.field(description="Counts per group; onTimeRate counts open overdue cases.")
    async def case_stats(
        self,
        info: Info,
        group_by: StatsGroup,
        from_: Annotated[datetime | None, strawberry.argument(name="from")] = None,
        to: datetime | None = None,
    ) -> list[CaseStat]:
        rows = await info.context.read(stats.case_stats, from_, to, group_by)
        return [
            CaseStat(
                key=r.key,
                label=r.label,
                total=r.total,
                open=r.open,
                resolved=r.resolved,
                overdue=r.overdue,
                yellow_cards=r.yellow_cards,
                red_cards=r.red_cards,
                withdrawn=r.withdrawn,
                network_found=r.network_found,
                platform_assigned=r.platform_assigned,
                solved_on_site=r.solved_on_site,
                joint_actions=r.joint_actions,
                on_time_rate=r.on_time_rate,
                satisfaction_rate=r.satisfaction_rate,
                on_site_hours_mean=r.on_site_hours_mean,
                on_site_hours_median=r.on_site_hours_median,
            )
            for r in rows
        ]

    @strawberry.field(description="Cards issued in a period, per town or per grid member.")
    async def card_counts(
        self,
        info: Info,
        group_by: CardGroup,
        from_: Annotated[datetime | None, strawberry.argument(name="from")] = None,
        to: datetime | None = None,
    ) -> list[CardCount]:
        rows = await info.context.read(stats.card_counts, from_, to, group_by)
        return [
            CardCount(key=r.key, label=r.label, yellow_cards=r.yellow, red_cards=r.red)
            for r in rows
        ]

    @strawberry.field(description="Per town: open, overdue, due within a day, carded.")
    async def supervision_board(self, info: Info) -> list[BoardEntry]:
        ctx = info.context
        rows = await ctx.read(stats.board)
        by_id = ctx.scope.directory.by_id
        return [
            BoardEntry(
                tenant=Tenant.of(by_id[r.tenant_id]),
                open=r.open,
                overdue=r.overdue,
                due_soon=r.due_soon,
                yellow_cards=r.yellow,
                red_cards=r.red,
            )
            for r in rows
        ]

    @strawberry.field(description="A case's hops with their clocks, and its cards.")
    async def case_clocks(self, info: Info, case_id: strawberry.ID) -> list[CaseHop]:
        ctx = info.context
        hops, _ = await ctx.read(service.case_clocks, case_id)
        code = ctx.scope.directory.by_id
        return [
            CaseHop(
                seq=h.seq,
                level=h.level,
                tenant_code=code[h.tenant_id].code,
                member_id=strawberry.ID(str(h.member_id)) if h.member_id else None,
                phase=h.phase,
                phase_started_at=h.phase_started_at,
                yellow_at=h.yellow_at,
                red_at=h.red_at,
                suspended=h.suspended,
                card=CardEnum(h.card),
                opened_at=h.opened_at,
                accepted_at=h.accepted_at,
                ended_at=h.ended_at,
                end_reason=h.end_reason,
            )
            for h in hops
        ]

    @strawberry.field(description="The cards a case has earned, kept after it is resolved.")
    async def case_cards(self, info: Info, case_id: strawberry.ID) -> list[CaseCard]:
        ctx = info.context
        _, cards = await ctx.read(service.case_clocks, case_id)
        code = ctx.scope.directory.by_id
        return [
            CaseCard(
                id=strawberry.ID(str(c.id)),
                level=CardEnum(c.level),
                phase=c.phase,
                reason=c.reason,
                automatic=c.automatic,
                issued_at=c.issued_at,
                issued_by=c.issued_by_name,
                tenant_code=code[c.tenant_id].code,
            )
            for c in cards
        ]

    @strawberry.field(
        description="The supervisor's queue of extension requests (延期申请), oldest first, in "
        "the caller's towns; for those who may decide them. No status: every request."
    )
    async def extension_requests(
        self, info: Info, status: ExtensionStatusEnum | None = None
    ) -> list[ExtensionRequest]:
        ctx = info.context
        rows = await ctx.read(service.extension_requests, status)
        now = datetime.now(UTC)
        code = ctx.scope.directory.by_id
        view = view_of(ctx)
        return [
            ExtensionRequest(
                id=strawberry.ID(str(r.id)),
                case=linked_case(c, view),
                tenant_code=code[r.tenant_id].code,
                status=ExtensionStatusEnum(r.status),
                requested_by=r.requested_by_name,
                requested_due_at=r.requested_due_at,
                reason=view.text(r.reason),
                requested_at=r.requested_at,
                age_hours=round((now - r.requested_at).total_seconds() / 3600, 2),
                decided_at=r.decided_at,
                decided_by=r.decided_by_name,
                decision_note=r.decision_note,
            )
            for r, c in rows
        ]

    @strawberry.field(description="A tenant's working calendar between two dates.")
    async def work_calendar(
        self,
        info: Info,
        tenant_code: str,
        from_: Annotated[date, strawberry.argument(name="from")],
        to: date,
    ) -> list[WorkDay]:
        rows = await info.context.read(service.work_calendar, tenant_code, from_, to)
        return [WorkDay(day=r.day, workday=r.workday, reason=r.reason) for r in rows]

    @strawberry.field(description="The time-limit rules (thresholds per level and phase).")
    async def time_limit_rules(self, info: Info) -> list[TimeLimitRule]:
        return [rule_node(r) for r in await info.context.read(service.time_limit_rules)]


strawberry.enum(Level, name="OfficeLevel")
LevelEnum = Level
strawberry.enum(Phase, name="Phase")
PhaseEnum = Phase
strawberry.enum(LimitUnit, name="LimitUnit")
UnitEnum = LimitUnit


@strawberry.input(description="A phase's thresholds; blank category/priority/channel match any.")
class TimeLimitRuleInput:
    level: LevelEnum
    phase: PhaseEnum
    unit: UnitEnum
    yellow_after: float
    red_after: float
    category: str | None = None
    priority: str | None = None
    channel: str | None = None

    def spec(self) -> service.RuleSpec:
        return service.RuleSpec(
            level=Level(self.level),
            phase=Phase(self.phase),
            unit=LimitUnit(self.unit),
            yellow_after=self.yellow_after,
            red_after=self.red_after,
            category=self.category,
            priority=self.priority,
            channel=self.channel,
        )


def rule_node(r: RuleRow) -> TimeLimitRule:
    return TimeLimitRule(
        id=strawberry.ID(str(r.id)),
        level=r.level,
        phase=r.phase,
        category=r.category,
        priority=r.priority,
        channel=r.channel,
        unit=r.unit,
        yellow_after=r.yellow_after,
        red_after=r.red_after,
    )


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Add or change a time-limit rule (ADMIN).")
    async def set_time_limit_rule(
        self, info: Info, input: TimeLimitRuleInput
    ) -> Annotated[TimeLimitRule | UserError, strawberry.union("TimeLimitRuleMutationResult")]:
        done = await info.context.write(service.set_time_limit_rule, input.spec())
        return done if isinstance(done, UserError) else rule_node(done)

    @strawberry.mutation(description="督办: press the responsible office.")
    async def urge_case(self, info: Info, case_id: strawberry.ID, note: str) -> CaseMutationResult:
        ctx = info.context
        return await case_result(info, await ctx.write(service.urge, case_id, note, tz=tz_of(ctx)))

    @strawberry.mutation(description="A card by hand; the sweep issues cards by itself as well.")
    async def issue_card(
        self, info: Info, case_id: strawberry.ID, level: Card, reason: str
    ) -> CaseMutationResult:
        return await case_result(
            info,
            await info.context.write(
                service.issue_card,
                case_id,
                CardEnum(level.value),
                reason,
                tz=tz_of(info.context),
            ),
        )

    @strawberry.mutation(description="挂起: stop the case's clock.")
    async def suspend_case(
        self, info: Info, case_id: strawberry.ID, reason: str
    ) -> CaseMutationResult:
        return await case_result(info, await info.context.write(service.suspend, case_id, reason))

    @strawberry.mutation(description="解挂: restart the clock where it stopped.")
    async def resume_case(
        self, info: Info, case_id: strawberry.ID, note: str | None = None
    ) -> CaseMutationResult:
        return await case_result(
            info,
            await info.context.write(service.resume, case_id, note, tz=info.context.runtime.tz),
        )

    @strawberry.mutation(description="延期申请: ask a supervisor for a later deadline.")
    async def request_extension(
        self, info: Info, case_id: strawberry.ID, due_at: datetime, reason: str
    ) -> Annotated[ExtensionResult | UserError, strawberry.union("ExtensionMutationResult")]:
        done = await info.context.write(service.request_extension, case_id, due_at, reason)
        if isinstance(done, UserError):
            return done
        return ExtensionResult(request_id=strawberry.ID(str(done.id)), status=done.status)

    @strawberry.mutation(description="Approve or refuse an extension request.")
    async def decide_extension(
        self, info: Info, request_id: strawberry.ID, approve: bool, note: str | None = None
    ) -> CaseMutationResult:
        return await case_result(
            info,
            await info.context.write(
                service.decide_extension, request_id, approve, note, tz=info.context.runtime.tz
            ),
        )

    @strawberry.mutation(description="Edit a day of a tenant's working calendar (ADMIN).")
    async def set_work_day(
        self, info: Info, tenant_code: str, day: date, workday: bool, reason: str
    ) -> Annotated[WorkDay | UserError, strawberry.union("WorkDayMutationResult")]:
        done = await info.context.write(service.set_work_day, tenant_code, day, workday, reason)
        if isinstance(done, UserError):
            return done
        return WorkDay(day=done.day, workday=done.workday, reason=done.reason)
