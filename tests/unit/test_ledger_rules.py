"""The ledger's pure rules: numbers, overdue, which card an item has earned and what to issue."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.cases.enums import Card
from hub.ledgers import rules

TZ = ZoneInfo("Asia/Shanghai")


def weekdays(day: date) -> bool:
    return day.weekday() < 5


def test_numbers_per_town_and_year() -> None:
    assert rules.number(2026, 1) == "TZ-2026-0001"
    assert rules.number(2026, 12345) == "TZ-2026-12345"
    assert rules.counter_scope("laiji", 2026) == "laiji:2026"


@pytest.mark.parametrize(
    ("open_", "deadline", "today", "overdue"),
    [
        (True, date(2026, 12, 10), date(2026, 12, 10), False),  # the deadline is still on time
        (True, date(2026, 12, 10), date(2026, 12, 11), True),
        (False, date(2026, 12, 10), date(2026, 12, 11), False),  # closed: never overdue
        (True, date(2026, 12, 10), date(2026, 12, 9), False),
    ],
)
def test_overdue(open_: bool, deadline: date, today: date, overdue: bool) -> None:
    assert rules.is_overdue(open_, deadline, today) is overdue


def test_local_day_is_the_zones() -> None:
    # 2026-12-10 17:00 UTC is already the 11th in Shanghai.
    assert rules.local_day(datetime.fromisoformat("2026-12-10T17:00:00+00:00"), TZ) == date(
        2026, 12, 11
    )


@pytest.mark.parametrize(
    ("deadline", "at", "card"),
    [
        # Thursday 10 December 2026: yellow at Friday 00:00, red two working days on (Tuesday).
        (date(2026, 12, 10), "2026-12-10T23:59:00+08:00", Card.NONE),
        (date(2026, 12, 10), "2026-12-11T00:00:00+08:00", Card.YELLOW),
        (date(2026, 12, 10), "2026-12-14T23:59:00+08:00", Card.YELLOW),
        (date(2026, 12, 10), "2026-12-15T00:00:00+08:00", Card.RED),
        # Friday: yellow on Saturday 00:00 counts from Monday's start: red on Wednesday 00:00.
        (date(2026, 12, 11), "2026-12-12T00:00:00+08:00", Card.YELLOW),
        (date(2026, 12, 11), "2026-12-15T23:59:00+08:00", Card.YELLOW),
        (date(2026, 12, 11), "2026-12-16T00:00:00+08:00", Card.RED),
    ],
)
def test_the_card_earned(deadline: date, at: str, card: Card) -> None:
    assert rules.earned(deadline, datetime.fromisoformat(at), TZ, weekdays) == card


def test_holidays_push_red_back() -> None:
    holidays = {date(2026, 12, 14), date(2026, 12, 15)}

    def calendar(day: date) -> bool:
        return weekdays(day) and day not in holidays

    red = rules.red_at(date(2026, 12, 10), TZ, calendar)
    assert red == datetime.fromisoformat("2026-12-17T00:00:00+08:00")


@pytest.mark.parametrize(
    ("current", "deserved", "issued"),
    [
        (None, Card.NONE, []),
        (None, Card.YELLOW, [Card.YELLOW]),
        (None, Card.RED, [Card.YELLOW, Card.RED]),
        ("YELLOW", Card.YELLOW, []),
        ("YELLOW", Card.RED, [Card.RED]),
        ("RED", Card.RED, []),
        ("RED", Card.YELLOW, []),  # never lower, never again
        ("NONE", Card.YELLOW, [Card.YELLOW]),
    ],
)
def test_each_level_is_issued_once(current: str | None, deserved: Card, issued: list[Card]) -> None:
    assert rules.to_issue(current, deserved) == issued


@given(
    st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 1, 1)),
    st.integers(min_value=-3 * 24 * 60, max_value=30 * 24 * 60),
)
def test_cards_never_go_back_in_time(deadline: date, minutes: int) -> None:
    start = rules.yellow_at(deadline, TZ)
    earlier = rules.earned(deadline, start + timedelta(minutes=minutes), TZ, weekdays)
    later = rules.earned(deadline, start + timedelta(minutes=minutes + 60), TZ, weekdays)
    order = [Card.NONE, Card.YELLOW, Card.RED]
    assert order.index(earlier) <= order.index(later)
    assert rules.red_at(deadline, TZ, weekdays) > start


@pytest.mark.parametrize(("percent", "ok"), [(0, True), (100, True), (55, True), (101, False),
                                              (120, False), (-1, False)])  # fmt: skip
def test_percent(percent: int, ok: bool) -> None:
    problem = rules.check_percent(percent)
    assert (problem is None) is ok
    if not ok:
        assert problem is not None and "percent" in problem and str(percent) in problem
