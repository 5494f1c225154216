"""Working-day arithmetic (pure): how the time limits count days on a calendar.

The limits themselves are data (hub/supervision/model.py); which days are working days is data too
(hub/supervision/calendar.py, seeded from China's official calendar). This module only counts.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

IsWorkday = Callable[[date], bool]


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
