"""The default evaluation method (管理评价办法), as the hub ships it.

Each rule is a figure the hub counts from the record for one member and one local month, with
how it is scored (hub/evaluation/formula.py). ADMIN changes a rule's weight and target
(setEvaluationRule); its key, label, sense and what it counts are fixed here, because the
counting is code. The adding rules give at most 100 points together; deductions come off it.

| key | 考核项 | weight | target | sense | counted from |
| --- | --- | --- | --- | --- | --- |
| patrols | 巡查次数 | 25 | 20 | ADD | patrols the member started in the month |
| findings | 发现问题 | 15 | 4 | ADD | findings on those patrols |
| solvedOnSite | 现场解决 | 10 | 2 | ADD | of them, solved on site |
| casesHandled | 办结案件 | 10 | 4 | ADD | the member's cases of the month that are resolved |
| onTimeRate | 按时办结率 | 15 | 0.9 | ADD | resolved on time / (resolved + open and overdue) |
| diaryDays | 工作日记天数 | 10 | 20 | ADD | days of the month with a diary text written |
| spotChecksPassed | 抽查合格 | 5 | 1 | ADD | spot checks of the month's days passed |
| ledgerOnTime | 台账按期销号 | 10 | 1 | ADD | ledger items closed in the month by their deadline |
| yellowCards | 黄牌 | 2 | - | DEDUCT | yellow cards of the month (cases and ledger items) |
| redCards | 红牌 | 5 | - | DEDUCT | red cards of the month (cases and ledger items) |
| spotChecksFailed | 抽查不合格 | 5 | - | DEDUCT | spot checks of the month's days failed |
"""

from __future__ import annotations

from dataclasses import dataclass

from hub.evaluation.formula import Measure, Rule, Sense


@dataclass(frozen=True)
class RuleSpec:
    """A rule as shipped, with the sentence that tells a member how it is counted."""

    rule: Rule
    description: str


def _spec(
    key: str,
    label: str,
    weight: float,
    target: float | None,
    description: str,
    sense: Sense = Sense.ADD,
    measure: Measure = Measure.COUNT,
) -> RuleSpec:
    return RuleSpec(Rule(key, label, weight, target, sense, measure), description)


DEFAULT_RULES: tuple[RuleSpec, ...] = (
    _spec("patrols", "巡查次数", 25, 20, "本月开始的巡查次数；达到目标值得满分，不足按比例得分"),
    _spec("findings", "发现问题", 15, 4, "本月巡查中上报的问题数（随所属巡查计入开始的月份）"),
    _spec("solvedOnSite", "现场解决", 10, 2, "本月巡查发现的问题中现场解决的数量"),
    _spec(
        "casesHandled",
        "办结案件",
        10,
        4,
        "本月登记、指派给本人的案件中已办结的件数",
    ),
    _spec(
        "onTimeRate",
        "按时办结率",
        15,
        0.9,
        "本月登记、指派给本人的案件：按时办结数 ÷（已办结数 + 未办结且已超期数）；"
        "没有这样的案件时视为按时，得满分",
        measure=Measure.RATE,
    ),
    _spec("diaryDays", "工作日记天数", 10, 20, "本月填写了工作日记内容的天数"),
    _spec("spotChecksPassed", "抽查合格", 5, 1, "本月各天的工作被抽查且合格的次数"),
    _spec(
        "ledgerOnTime",
        "台账按期销号",
        10,
        1,
        "本人负责、本月销号且不晚于整改期限当天（北京时间）的台账数",
    ),
    _spec(
        "yellowCards",
        "黄牌",
        2,
        None,
        "本月对本人的黄牌数（案件与台账），每张扣分",
        sense=Sense.DEDUCT,
    ),
    _spec(
        "redCards",
        "红牌",
        5,
        None,
        "本月对本人的红牌数（案件与台账），每张扣分",
        sense=Sense.DEDUCT,
    ),
    _spec(
        "spotChecksFailed",
        "抽查不合格",
        5,
        None,
        "本月各天的工作被抽查不合格的次数，每次扣分",
        sense=Sense.DEDUCT,
    ),
)

BY_KEY: dict[str, RuleSpec] = {spec.rule.key: spec for spec in DEFAULT_RULES}
KEYS: tuple[str, ...] = tuple(BY_KEY)
