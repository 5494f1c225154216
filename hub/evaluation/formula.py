"""The evaluation formula (pure): points per rule from a member's figures, the score, the rank.

For a rule with weight ``w`` and target ``t`` and a member's value ``v`` (a count, or a rate
between 0 and 1):

    ratio  = min(v / t, 1)   when the rule has a target (full weight at or above it)
           = v               when it has none (w points per unit)
    points = +w x ratio      for a rule that adds (ADD)
           = -w x ratio      for a deduction (DEDUCT: cards, failed spot checks)

A rate with nothing to measure (no case of the member's to be on time or late with) has the
value null: an adding rule then gives its full weight (nobody waited on this member), a
deduction nothing. Points are rounded half up to two decimals from the value as shown (a rate to
four decimals); the score is the sum of the rounded points. Ranks are competition ranks over
the rows compared: 1 + the number of rows with a higher score, so ties share a rank and the
next rank skips (1, 1, 3).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
RATE_PLACES = 4


class Sense(enum.StrEnum):
    ADD = "ADD"  # 加分项
    DEDUCT = "DEDUCT"  # 扣分项


class Measure(enum.StrEnum):
    COUNT = "COUNT"  # 次数、天数、件数
    RATE = "RATE"  # 0 到 1 之间的比率


@dataclass(frozen=True)
class Rule:
    key: str
    label: str
    weight: float
    target: float | None
    sense: Sense = Sense.ADD
    measure: Measure = Measure.COUNT


@dataclass(frozen=True)
class Points:
    """One line of a member's breakdown: the rule, the value counted, the points it gave."""

    key: str
    label: str
    value: float | None
    points: float


def _dec(value: float) -> Decimal:
    return Decimal(repr(float(value)))


def rate(numerator: int, denominator: int) -> float | None:
    """A rate as shown (four decimals, half up), null when there is nothing to divide."""
    if denominator <= 0:
        return None
    exact = Decimal(numerator) / Decimal(denominator)
    return float(exact.quantize(Decimal(1).scaleb(-RATE_PLACES), rounding=ROUND_HALF_UP))


def points(rule: Rule, value: float | None) -> float:
    """The points one rule gives for one value."""
    if value is None:
        full = _dec(rule.weight) if rule.sense == Sense.ADD else Decimal(0)
        return float(full.quantize(CENT, rounding=ROUND_HALF_UP))
    amount = _dec(max(value, 0.0))
    if rule.target is not None and rule.target > 0:
        amount = min(amount / _dec(rule.target), Decimal(1))
    earned = (_dec(rule.weight) * amount).quantize(CENT, rounding=ROUND_HALF_UP)
    return float(earned if rule.sense == Sense.ADD else -earned)


def breakdown(rules: Sequence[Rule], values: Mapping[str, float | None]) -> list[Points]:
    """Every rule's line, in the rules' order (a key without a value counts as 0)."""
    return [
        Points(r.key, r.label, values.get(r.key, 0), points(r, values.get(r.key, 0))) for r in rules
    ]


def score(lines: Sequence[Points]) -> float:
    """The sum of the rounded points, itself to two decimals."""
    total = sum((_dec(line.points) for line in lines), Decimal(0))
    return float(total.quantize(CENT, rounding=ROUND_HALF_UP))


def ranks(scores: Sequence[float]) -> list[int]:
    """Competition ranks, in the order given: 1 + how many scores are higher (ties share)."""
    ordered = sorted(scores, reverse=True)
    first: dict[float, int] = {}
    for position, value in enumerate(ordered, start=1):
        first.setdefault(value, position)
    return [first[value] for value in scores]
