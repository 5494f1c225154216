"""Evaluation months (pure): "2026-11" parsed strictly, and its bounds in local time."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo

from hub.errors import invalid

_MONTH = re.compile(r"([0-9]{4})-([0-9]{2})")
FIRST_YEAR, LAST_YEAR = 2000, 2999


@dataclass(frozen=True)
class Month:
    year: int
    month: int

    @property
    def text(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    @property
    def next_first_day(self) -> date:
        return date(self.year + self.month // 12, self.month % 12 + 1, 1)

    def bounds(self, tz: tzinfo) -> tuple[datetime, datetime]:
        """[start, end) in UTC: local midnight of the first day to that of the next month."""
        return local_midnight(self.first_day, tz), local_midnight(self.next_first_day, tz)


def local_midnight(day: date, tz: tzinfo) -> datetime:
    """The UTC instant a local day starts."""
    return datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(UTC)


def day_end(day: date, tz: tzinfo) -> datetime:
    """The UTC instant a local day ends (the next day's midnight)."""
    return local_midnight(day + timedelta(days=1), tz)


def parse_month(text: str, field: str = "month") -> Month:
    """Exactly YYYY-MM (2026-11); 2026-1, 2026/11 and 2026-13 are refused, naming the field."""
    found = _MONTH.fullmatch(text) if isinstance(text, str) else None
    if found is None:
        raise invalid(field, f"月份格式应为 YYYY-MM（如 2026-11），收到 {text!r}")
    year, month = int(found.group(1)), int(found.group(2))
    if not 1 <= month <= 12:
        raise invalid(field, f"月份须在 01 到 12 之间，收到 {text!r}")
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise invalid(field, f"年份须在 {FIRST_YEAR} 到 {LAST_YEAR} 之间，收到 {text!r}")
    return Month(year, month)
