"""Working-day arithmetic on China's calendar (public holidays and make-up workdays)."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.cases.deadlines import add_working_days
from hub.supervision.calendar import official_day

TZ = ZoneInfo("Asia/Shanghai")


def weekdays(day: date) -> bool:
    return day.weekday() < 5


@pytest.mark.parametrize(
    ("start", "days", "due"),
    [
        # Monday 10:00 + 5 working days: next Monday 10:00.
        (datetime(2026, 11, 23, 10, tzinfo=TZ), 5, datetime(2026, 11, 30, 10, tzinfo=TZ)),
        # Friday 16:00 + 1: Monday 16:00.
        (datetime(2026, 11, 27, 16, tzinfo=TZ), 1, datetime(2026, 11, 30, 16, tzinfo=TZ)),
        # Saturday counts from Monday's start: + 1 is Tuesday 00:00.
        (datetime(2026, 11, 28, 10, tzinfo=TZ), 1, datetime(2026, 12, 1, 0, tzinfo=TZ)),
        (datetime(2026, 11, 23, 10, tzinfo=TZ), 0, datetime(2026, 11, 23, 10, tzinfo=TZ)),
    ],
)
def test_weekday_table(start: datetime, days: int, due: datetime) -> None:
    assert add_working_days(start, days, TZ, weekdays) == due


def china_workday(day: date) -> bool:
    return official_day(day)[0]


def test_national_day_golden_week_is_skipped_and_make_up_days_count() -> None:
    # 2025: 1-8 October are holidays; Sunday 28 September and Saturday 11 October are workdays.
    assert official_day(date(2025, 10, 3)) == (False, "国庆节")
    assert official_day(date(2025, 9, 28)) == (True, "调休上班")
    assert official_day(date(2025, 10, 11)) == (True, "调休上班")
    start = datetime(2025, 9, 30, 9, tzinfo=TZ)
    assert add_working_days(start, 1, TZ, china_workday) == datetime(2025, 10, 9, 9, tzinfo=TZ)
    assert add_working_days(start, 5, TZ, china_workday) == datetime(2025, 10, 14, 9, tzinfo=TZ)


def test_a_year_the_library_does_not_know_falls_back_to_weekends() -> None:
    assert official_day(date(2099, 6, 1)) == (True, "工作日")  # a Monday
    assert official_day(date(2099, 6, 6)) == (False, "周末")


@given(
    st.datetimes(
        min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(TZ)
    ),
    st.integers(0, 30),
)
def test_due_is_on_a_working_day_and_counts_exactly(start: datetime, days: int) -> None:
    due = add_working_days(start, days, TZ, weekdays)
    assert due >= start
    if not days:
        return
    # From a working day: the days after it up to the due date. From a rest day the clock
    # starts at the next working day's midnight, so the due date's own day is not counted.
    first, last = (1, 0) if weekdays(start.date()) else (0, -1)
    span = range(first, (due.date() - start.date()).days + 1 + last)
    between = sum(1 for n in span if weekdays(date.fromordinal(start.date().toordinal() + n)))
    assert between == days
