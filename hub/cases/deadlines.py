"""Time limits (限时办结), counted on a working-day calendar (pure).

Defaults until the per-tenant rules arrive: accept within 2 hours (the platform is patrolled
every two hours); resolve within 5 working days, or 1 for URGENT; platform cases keep the
platform's own deadline.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hub.cases.enums import Priority

ACCEPT_WITHIN = timedelta(hours=2)
RESOLVE_WORKING_DAYS = {Priority.NORMAL: 5, Priority.URGENT: 1}

IsWorkday = Callable[[date], bool]


def china_workday(day: date) -> bool:
    """China's calendar with public holidays and make-up workdays (调休), weekends outside it."""
    import chinese_calendar

    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:  # a year the library does not know yet
        return day.weekday() < 5


def add_working_days(start: datetime, days: int, tz: ZoneInfo, is_workday: IsWorkday) -> datetime:
    """The same local time-of-day ``days`` working days after ``start``; a start on a rest day
    counts from the next working day's start."""
    local = start.astimezone(tz)
    day, clock = local.date(), local.timetz()
    if not is_workday(day):
        clock = time(0, 0, tzinfo=tz)
        while not is_workday(day):
            day += timedelta(days=1)
    while days > 0:
        day += timedelta(days=1)
        if is_workday(day):
            days -= 1
    return datetime.combine(day, clock.replace(tzinfo=None), tzinfo=tz)


def resolve_due(
    start: datetime, priority: Priority, tz: ZoneInfo, is_workday: IsWorkday = china_workday
) -> datetime:
    return add_working_days(start, RESOLVE_WORKING_DAYS[priority], tz, is_workday)


def accept_due(start: datetime) -> datetime:
    return start + ACCEPT_WITHIN
