"""GraphQL: the evaluation method's rules, a month's evaluation, publishing it."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from hub.evaluation import service
from hub.evaluation.formula import Measure as MeasureEnum
from hub.evaluation.formula import Sense as SenseEnum
from hub.gql import Context, UserError
from hub.grid.schema import Member

Info = strawberry.Info[Context, None]

# strawberry.enum registers on the enum class itself; mypy accepts the plain alias as a type
strawberry.enum(SenseEnum, name="EvaluationSense")
EvaluationSense = SenseEnum
strawberry.enum(MeasureEnum, name="EvaluationMeasure")
EvaluationMeasure = MeasureEnum

PUBLISHED_NOTE = "本月考核已于 {at} 由{by}发布并冻结：此后考核办法或记录的变更不影响本页数据。"
LIVE_NOTE = "本月考核尚未发布：按当前考核办法和记录实时计算，发布后冻结。"


@strawberry.type(description="A rule of the evaluation method (考核办法): see docs/evaluation.md.")
class EvaluationRule:
    key: str
    label: str
    weight: float = strawberry.field(
        description="Full points at or above the target; per unit without a target."
    )
    target: float | None = strawberry.field(
        description="The value that earns the full weight (a rate between 0 and 1 for RATE "
        "rules); null: weight points per unit."
    )
    sense: EvaluationSense = strawberry.field(description="ADD adds points, DEDUCT takes them.")
    measure: EvaluationMeasure
    description: str = strawberry.field(description="How the figure is counted, in Chinese.")
    updated_at: datetime | None = strawberry.field(
        description="When ADMIN last changed it (null: the default)."
    )
    updated_by: str | None

    @classmethod
    def of(cls, view: service.RuleView) -> EvaluationRule:
        r = view.rule
        return cls(
            key=r.key,
            label=r.label,
            weight=r.weight,
            target=r.target,
            sense=r.sense,
            measure=r.measure,
            description=view.description,
            updated_at=view.updated_at,
            updated_by=view.updated_by,
        )


@strawberry.type(description="One rule's line of a member's evaluation.")
class EvaluationPoints:
    key: str
    label: str
    value: float | None = strawberry.field(
        description="The figure counted (null: a rate with nothing to measure)."
    )
    points: float


@strawberry.type(description="One member's month: figures from the record, points, score, rank.")
class EvaluationRow:
    member: Member
    tenant_code: str
    score: float
    rank: int = strawberry.field(
        description="Among the rows answered (the towns asked for): ties share a rank (1, 1, 3)."
    )
    patrols: int
    findings: int
    solved_on_site: int
    cases_handled: int
    on_time_rate: float | None
    yellow_cards: int
    red_cards: int
    diary_days: int
    spot_checks_passed: int
    spot_checks_failed: int
    ledger_on_time: int = strawberry.field(description="Ledger items closed by their deadline.")
    left: bool = strawberry.field(description="No longer active (离岗): shown for their records.")
    joined: bool = strawberry.field(description="Added during the month (targets not prorated).")
    breakdown: list[EvaluationPoints]

    @classmethod
    def of(cls, row: service.MemberRow, tenant_code: str) -> EvaluationRow:
        return cls(
            member=Member.of(row.member),
            tenant_code=tenant_code,
            score=row.score,
            rank=row.rank,
            patrols=row.figure("patrols"),
            findings=row.figure("findings"),
            solved_on_site=row.figure("solvedOnSite"),
            cases_handled=row.figure("casesHandled"),
            on_time_rate=row.figures.get("onTimeRate"),
            yellow_cards=row.figure("yellowCards"),
            red_cards=row.figure("redCards"),
            diary_days=row.figure("diaryDays"),
            spot_checks_passed=row.figure("spotChecksPassed"),
            spot_checks_failed=row.figure("spotChecksFailed"),
            ledger_on_time=row.figure("ledgerOnTime"),
            left=row.left,
            joined=row.joined,
            breakdown=[
                EvaluationPoints(key=p.key, label=p.label, value=p.value, points=p.points)
                for p in row.lines
            ],
        )


@strawberry.type(description="A local month's evaluation (Asia/Shanghai months).")
class MonthlyEvaluation:
    month: str
    published: bool
    published_at: datetime | None
    published_by: str | None
    note: str = strawberry.field(description="Whether the figures are frozen or live, in Chinese.")
    rules: list[EvaluationRule] = strawberry.field(
        description="The rules the figures are scored with (a published month's, as they were)."
    )
    rows: list[EvaluationRow]

    @classmethod
    def of(cls, info: Info, found: service.Evaluation) -> MonthlyEvaluation:
        ctx = info.context
        codes = {t.id: t.code for t in ctx.scope.directory.tenants}
        note = LIVE_NOTE
        if found.published_at is not None:
            at = found.published_at.astimezone(ctx.runtime.tz).strftime("%Y-%m-%d %H:%M")
            note = PUBLISHED_NOTE.format(at=at, by=found.published_by or "")
        return cls(
            month=found.month,
            published=found.published,
            published_at=found.published_at,
            published_by=found.published_by,
            note=note,
            rules=[EvaluationRule.of(r) for r in found.rules],
            rows=[EvaluationRow.of(r, codes.get(r.tenant_id, "")) for r in found.rows],
        )


@strawberry.type
class EvaluationRuleResult:
    rule: EvaluationRule


@strawberry.type
class EvaluationResult:
    evaluation: MonthlyEvaluation


EvaluationRuleMutationResult = Annotated[
    EvaluationRuleResult | UserError, strawberry.union("EvaluationRuleMutationResult")
]
EvaluationMutationResult = Annotated[
    EvaluationResult | UserError, strawberry.union("EvaluationMutationResult")
]


@strawberry.type
class Query:
    @strawberry.field(description="The evaluation method's rules, in order (everyone reads them).")
    async def evaluation_rules(self, info: Info) -> list[EvaluationRule]:
        return [EvaluationRule.of(r) for r in await info.context.read(service.evaluation_rules)]

    @strawberry.field(
        description="A local month (YYYY-MM) for the towns the caller sees (one with "
        "tenantCode), ranked by score; a MEMBER reads their own row."
    )
    async def monthly_evaluation(
        self, info: Info, month: str, tenant_code: str | None = None
    ) -> MonthlyEvaluation:
        ctx = info.context
        found = await ctx.read(service.monthly_evaluation, month, tenant_code, tz=ctx.runtime.tz)
        return MonthlyEvaluation.of(info, found)


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="ADMIN changes a rule's weight and target (audited); months not yet "
        "published score with it."
    )
    async def set_evaluation_rule(
        self, info: Info, key: str, weight: float, target: float | None = None
    ) -> EvaluationRuleMutationResult:
        done = await info.context.write(service.set_rule, key, weight, target)
        return (
            done
            if isinstance(done, UserError)
            else EvaluationRuleResult(rule=EvaluationRule.of(done))
        )

    @strawberry.mutation(
        description="Freeze an ended month (ADMIN or SUPERVISOR seeing every town; audited; "
        "once only: again is CONFLICT)."
    )
    async def publish_evaluation(self, info: Info, month: str) -> EvaluationMutationResult:
        ctx = info.context
        done = await ctx.write(service.publish, month, tz=ctx.runtime.tz)
        if isinstance(done, UserError):
            return done
        return EvaluationResult(evaluation=MonthlyEvaluation.of(info, done))
