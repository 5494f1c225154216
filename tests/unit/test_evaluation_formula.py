"""The evaluation formula (hub/evaluation/formula.py) and months (months.py): tables of hand-
worked cases, then properties over many generated ones."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.errors import DomainError, ErrorCode
from hub.evaluation.defaults import DEFAULT_RULES, KEYS
from hub.evaluation.formula import (
    Measure,
    Points,
    Rule,
    Sense,
    breakdown,
    points,
    ranks,
    rate,
    score,
)
from hub.evaluation.months import Month, day_end, parse_month

SHANGHAI = ZoneInfo("Asia/Shanghai")
PATROLS = Rule("patrols", "巡查次数", 25, 20)
PER_UNIT = Rule("findings", "发现问题", 1.5, None)
ON_TIME = Rule("onTimeRate", "按时办结率", 15, 0.9, measure=Measure.RATE)
YELLOW = Rule("yellowCards", "黄牌", 2, None, Sense.DEDUCT)
CAPPED = Rule("yellowCards", "黄牌", 6, 3, Sense.DEDUCT)


@pytest.mark.parametrize(
    ("rule", "value", "expected"),
    [
        (PATROLS, 0, 0.0),
        (PATROLS, 15, 18.75),  # 25 x 15/20
        (PATROLS, 20, 25.0),
        (PATROLS, 31, 25.0),  # capped at the target
        (PATROLS, 1, 1.25),
        (PATROLS, 3, 3.75),
        (Rule("x", "x", 10, 3), 1, 3.33),  # 3.333 -> 3.33
        (Rule("x", "x", 10, 3), 2, 6.67),  # 6.666 -> 6.67 (half up)
        (Rule("x", "x", 0.05, None), 1, 0.05),
        (Rule("x", "x", 1, 8), 1, 0.13),  # 0.125 -> 0.13: half up, not to even
        (PER_UNIT, 0, 0.0),
        (PER_UNIT, 3, 4.5),
        (ON_TIME, 0.75, 12.5),  # 15 x 0.75/0.9
        (ON_TIME, 0.6667, 11.11),  # 15 x 0.6667/0.9 = 11.1117
        (ON_TIME, 0.9, 15.0),
        (ON_TIME, 1.0, 15.0),
        (ON_TIME, 0.0, 0.0),
        (ON_TIME, None, 15.0),  # nothing to be late with: full weight
        (YELLOW, 0, 0.0),
        (YELLOW, 3, -6.0),
        (YELLOW, None, 0.0),
        (CAPPED, 1, -2.0),
        (CAPPED, 5, -6.0),
        (Rule("x", "x", 0, 10), 7, 0.0),  # weight 0 switches a rule off
        (PATROLS, -4, 0.0),  # never below zero for a negative input
    ],
)
def test_points(rule: Rule, value: float | None, expected: float) -> None:
    assert points(rule, value) == expected


@pytest.mark.parametrize(
    ("numerator", "denominator", "expected"),
    [(0, 0, None), (0, 3, 0.0), (2, 3, 0.6667), (1, 3, 0.3333), (3, 4, 0.75), (5, 5, 1.0),
     (1, 8, 0.125), (1, 7, 0.1429)],
)  # fmt: skip
def test_rate(numerator: int, denominator: int, expected: float | None) -> None:
    assert rate(numerator, denominator) == expected


def test_breakdown_and_score_of_a_member() -> None:
    rules = [PATROLS, PER_UNIT, ON_TIME, YELLOW]
    lines = breakdown(rules, {"patrols": 15, "findings": 3, "onTimeRate": 0.6667, "yellowCards": 2})
    assert lines == [
        Points("patrols", "巡查次数", 15, 18.75),
        Points("findings", "发现问题", 3, 4.5),
        Points("onTimeRate", "按时办结率", 0.6667, 11.11),
        Points("yellowCards", "黄牌", 2, -4.0),
    ]
    assert score(lines) == 30.36  # 18.75 + 4.5 + 11.11 - 4
    assert breakdown([PATROLS], {})[0] == Points("patrols", "巡查次数", 0, 0.0)


@pytest.mark.parametrize(
    ("scores", "expected"),
    [
        ([], []),
        ([5.0], [1]),
        ([10.0, 20.0, 30.0], [3, 2, 1]),
        ([50.0, 50.0, 40.0], [1, 1, 3]),
        ([40.0, 50.0, 50.0, 40.0, 10.0], [3, 1, 1, 3, 5]),
        ([0.0, -0.0, 0.0], [1, 1, 1]),
        ([-4.0, 0.0, -4.0], [2, 1, 2]),
    ],
)
def test_ranks(scores: list[float], expected: list[int]) -> None:
    assert ranks(scores) == expected


def test_the_defaults_add_up_to_100() -> None:
    adding = [s.rule for s in DEFAULT_RULES if s.rule.sense == Sense.ADD]
    assert sum(r.weight for r in adding) == 100
    assert all(r.target for r in adding)
    assert tuple(s.rule.key for s in DEFAULT_RULES) == KEYS
    assert len(set(KEYS)) == len(KEYS)
    full = {r.key: r.target for r in adding}
    assert score(breakdown([s.rule for s in DEFAULT_RULES], full)) == 100


# --- months -------------------------------------------------------------------------------------


BAD_MONTHS = ["2026-13", "2026-1", "2026/11", "2026-00", "26-11", "2026-11 ", " 2026-11",
              "２０２６-11", "1999-12", "3000-01", "", "2026-11-01"]  # fmt: skip


@pytest.mark.parametrize("text", BAD_MONTHS)
def test_bad_months_are_refused_naming_the_field(text: str) -> None:
    with pytest.raises(DomainError) as refused:
        parse_month(text)
    assert refused.value.code == ErrorCode.VALIDATION and refused.value.field == "month"
    assert "月" in refused.value.message or "年份" in refused.value.message


def test_a_month_in_local_time() -> None:
    month = parse_month("2026-11")
    assert month == Month(2026, 11) and month.text == "2026-11"
    start, end = month.bounds(SHANGHAI)
    assert start == datetime(2026, 10, 31, 16, tzinfo=UTC)
    assert end == datetime(2026, 11, 30, 16, tzinfo=UTC)
    assert parse_month("2026-12").next_first_day == date(2027, 1, 1)
    assert parse_month("2026-12").bounds(SHANGHAI)[1] == datetime(2026, 12, 31, 16, tzinfo=UTC)
    assert day_end(date(2026, 11, 20), SHANGHAI) == datetime(2026, 11, 20, 16, tzinfo=UTC)


# --- properties ---------------------------------------------------------------------------------

weights = st.floats(min_value=0, max_value=1000, allow_nan=False)
targets = st.none() | st.floats(min_value=0.01, max_value=1000, allow_nan=False)
rules = st.builds(
    Rule,
    key=st.just("k"),
    label=st.just("k"),
    weight=weights,
    target=targets,
    sense=st.sampled_from(Sense),
)
values = st.integers(min_value=0, max_value=10_000).map(float)


@given(rules, values, values)
def test_points_are_bounded_signed_and_monotone(rule: Rule, a: float, b: float) -> None:
    low, high = points(rule, min(a, b)), points(rule, max(a, b))
    if rule.sense == Sense.ADD:
        assert 0 <= low <= high
        if rule.target is not None:
            assert high <= round(rule.weight, 2) + 0.005
    else:
        assert 0 >= low >= high
        if rule.target is not None:
            assert high >= -round(rule.weight, 2) - 0.005
    assert points(rule, 0) == 0


@given(st.lists(st.integers(min_value=-50, max_value=150).map(float), max_size=40))
def test_ranks_share_ties_and_count_the_higher(scores: list[float]) -> None:
    found = ranks(scores)
    assert len(found) == len(scores)
    for score_i, rank_i in zip(scores, found, strict=True):
        assert rank_i == 1 + sum(other > score_i for other in scores)
        assert 1 <= rank_i <= len(scores)
    for i, j in ((i, j) for i in range(len(scores)) for j in range(len(scores))):
        if scores[i] == scores[j]:
            assert found[i] == found[j]
        elif scores[i] > scores[j]:
            assert found[i] < found[j]
    if scores:
        assert min(found) == 1


@given(st.lists(st.tuples(rules, values), min_size=1, max_size=12))
def test_the_score_is_the_sum_of_the_points(pairs: list[tuple[Rule, float]]) -> None:
    lines = [
        Points(f"k{i}", "k", value, points(rule, value)) for i, (rule, value) in enumerate(pairs)
    ]
    assert score(lines) == pytest.approx(sum(line.points for line in lines), abs=1e-6)
    assert all(round(line.points, 2) == line.points for line in lines)
