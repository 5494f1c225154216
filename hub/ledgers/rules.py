"""The ledger's rules (pure): numbers, when an item is overdue and which card it has earned.

An item's deadline is the last local day on which it is on time. The card scheme follows the
cases' handle phase (yellow when its limit is missed, red two working days later; see
hub/supervision/defaults.py, 5 and 7 working days):

- YELLOW from the start (00:00 local) of the day after the deadline: the item is overdue;
- RED ``RED_AFTER_WORKING_DAYS`` working days after that, on the town's working calendar (a
  yellow that starts on a rest day counts from the next working day's start).

The sweep issues each level once (yellow, then red; an item found past red at its first sweep
gets both, in order, as a case does); a closed item earns nothing more.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hub.cases.deadlines import IsWorkday, add_working_days
from hub.cases.enums import Card

PREFIX = "TZ"
RED_AFTER_WORKING_DAYS = 2
PERCENT_MIN, PERCENT_MAX = 0, 100
_RANK = {Card.NONE: 0, Card.YELLOW: 1, Card.RED: 2}


def counter_scope(tenant_code: str, year: int) -> str:
    """The LedgerCounter row of a town and year, e.g. "laiji:2026"."""
    return f"{tenant_code}:{year}"


def number(year: int, value: int) -> str:
    """TZ-2026-0001: unique within the town (the key is (tenant, number))."""
    return f"{PREFIX}-{year}-{value:04d}"


def local_day(at: datetime, tz: ZoneInfo) -> date:
    return at.astimezone(tz).date()


def is_overdue(open_: bool, deadline: date, today: date) -> bool:
    """Open and past its last day."""
    return open_ and deadline < today


def yellow_at(deadline: date, tz: ZoneInfo) -> datetime:
    """The moment the item becomes overdue: 00:00 local of the day after the deadline."""
    return datetime.combine(deadline + timedelta(days=1), time(0, 0), tzinfo=tz)


def red_at(deadline: date, tz: ZoneInfo, is_workday: IsWorkday) -> datetime:
    return add_working_days(yellow_at(deadline, tz), RED_AFTER_WORKING_DAYS, tz, is_workday)


def earned(deadline: date, now: datetime, tz: ZoneInfo, is_workday: IsWorkday) -> Card:
    """The card an open item has earned at ``now``."""
    if now < yellow_at(deadline, tz):
        return Card.NONE
    if now < red_at(deadline, tz, is_workday):
        return Card.YELLOW
    return Card.RED


def to_issue(current: str | None, deserved: Card) -> list[Card]:
    """The levels still to issue, in order: each level once, never a lower one."""
    have = _RANK[Card(current or Card.NONE)]
    return [c for c in (Card.YELLOW, Card.RED) if have < _RANK[c] <= _RANK[deserved]]


def check_percent(percent: int) -> str | None:
    """None when the percent is a whole number from 0 to 100, else the Chinese refusal."""
    if not PERCENT_MIN <= percent <= PERCENT_MAX:
        return f"完成进度（percent）须在 {PERCENT_MIN} 到 {PERCENT_MAX} 之间，收到 {percent}"
    return None
