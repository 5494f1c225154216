"""The bulletin's pure parts: quarters, local-day periods, the ranking, the summary paragraph."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from hub.errors import DomainError
from hub.reports.quarters import day_period, parse_day, parse_quarter
from hub.reports.ranking import rank, standing
from hub.reports.summary import Figures, summary

TZ = ZoneInfo("Asia/Shanghai")


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("2026Q1", datetime(2026, 1, 1, tzinfo=TZ), datetime(2026, 4, 1, tzinfo=TZ)),
        ("2026Q4", datetime(2026, 10, 1, tzinfo=TZ), datetime(2027, 1, 1, tzinfo=TZ)),
        (" 2030Q2 ", datetime(2030, 4, 1, tzinfo=TZ), datetime(2030, 7, 1, tzinfo=TZ)),
    ],
)
def test_quarters_are_local_days(text: str, start: datetime, end: datetime) -> None:
    assert parse_quarter(text).bounds(TZ) == (start, end)


def test_quarter_labels() -> None:
    assert parse_quarter("2026Q4").label == "2026年第四季度"
    assert parse_quarter("2026Q1").code == "2026Q1"


@pytest.mark.parametrize(
    "text", ["2026Q5", "2026Q0", "2026-4", "2026q4", "26Q4", "2026Q44", "", "1999Q4", "2101Q1"]
)
def test_bad_quarters(text: str) -> None:
    with pytest.raises(DomainError) as caught:
        parse_quarter(text)
    assert caught.value.field == "quarter" and "季度" in caught.value.message


def test_day_periods_include_both_days() -> None:
    start, end = day_period(date(2026, 12, 1), date(2026, 12, 1), TZ)
    assert (start, end) == (datetime(2026, 12, 1, tzinfo=TZ), datetime(2026, 12, 2, tzinfo=TZ))
    assert day_period(None, None, TZ) == (None, None)
    with pytest.raises(DomainError) as caught:
        day_period(date(2026, 12, 2), date(2026, 12, 1), TZ)
    assert caught.value.field == "from"
    for bad in ("2026-13-01", "2026/12/01", "1999-12-31"):
        with pytest.raises(DomainError):
            parse_day(bad, "to")


def test_ranking_shares_ties_and_puts_the_unjudged_last() -> None:
    towns = {
        "a": (0.5, 0, 0),
        "b": (0.9, 1, 0),
        "c": (0.5, 0, 0),
        "d": (None, 0, 0),
        "e": (0.5, 1, 2),
        "f": (None, 0, 0),
    }
    ranked = rank(list(towns), key=lambda t: standing(*towns[t]), name=lambda t: t)
    assert ranked == [(1, "b"), (2, "a"), (2, "c"), (4, "e"), (5, "d"), (5, "f")]
    assert rank([], key=lambda t: standing(None, 0, 0), name=str) == []


def figures(name: str, rank: int, **kw: int) -> Figures:
    base = dict(
        found=0,
        solved=0,
        solved_on_site=0,
        platform_assigned=0,
        joint_actions=0,
        yellow_cards=0,
        red_cards=0,
        on_time=0,
        judged=0,
    )
    return Figures(name, rank, **{**base, **kw})


def test_the_summary_is_written_from_the_figures() -> None:
    text = summary(
        "2026年第四季度",
        [
            figures("来集镇", 1, found=10, solved=8, solved_on_site=3, on_time=8, judged=8),
            figures("牛店镇", 2, found=5, solved=2, red_cards=1, on_time=1, judged=4,
                    platform_assigned=2, joint_actions=1),
            figures("超化镇", 3),
        ],
    )  # fmt: skip
    assert text.startswith("2026年第四季度，全县3个乡镇（街道）共发现环境问题15件，办结10件")
    assert "其中现场解决3件；社管平台交办2件，联合执法1次。" in text
    assert "本季度共亮黄牌0张、红牌1张，涉及牛店镇。" in text
    assert "全县按时办结率为75.0%。" in text  # 9 of 12
    assert "排名第一的是来集镇（100.0%），排名末位的是牛店镇（25.0%）" in text


def test_a_quiet_quarter_says_so() -> None:
    text = summary("2026年第一季度", [figures("来集镇", 1), figures("牛店镇", 1)])
    assert "本季度未出现红黄牌。" in text and "未计算按时办结率" in text
    assert summary("2026年第一季度", []) == "2026年第一季度，没有可通报的乡镇（街道）。"
