"""Quarters and local-day periods as people write them (pure)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hub.errors import invalid

_QUARTER = re.compile(r"(\d{4})Q([1-4])")
NUMERALS = "一二三四"


@dataclass(frozen=True)
class Quarter:
    year: int
    number: int  # 1..4

    @property
    def code(self) -> str:
        return f"{self.year}Q{self.number}"

    @property
    def label(self) -> str:
        return f"{self.year}年第{NUMERALS[self.number - 1]}季度"

    def bounds(self, tz: ZoneInfo) -> tuple[datetime, datetime]:
        """[first instant, first instant of the next quarter) in local time."""
        first = date(self.year, 3 * (self.number - 1) + 1, 1)
        after = (
            date(self.year + 1, 1, 1) if self.number == 4 else date(self.year, first.month + 3, 1)
        )
        return local_midnight(first, tz), local_midnight(after, tz)


def parse_quarter(text: str, field: str = "quarter") -> Quarter:
    """ "2026Q4" (Q1 to Q4 of a year from 2000 to 2100); anything else is refused."""
    found = _QUARTER.fullmatch((text or "").strip())
    if found is None or not 2000 <= int(found.group(1)) <= 2100:
        raise invalid(field, f"季度（{field}）须写作“年份Q季度”，如 2026Q4（季度为 Q1 至 Q4）")
    return Quarter(int(found.group(1)), int(found.group(2)))


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(), tzinfo=tz)


def day_period(
    start: date | None, end: date | None, tz: ZoneInfo, fields: tuple[str, str] = ("from", "to")
) -> tuple[datetime | None, datetime | None]:
    """Local days [start, end] (both inclusive) as instants [from, to); from after to refused."""
    if start is not None and end is not None and start > end:
        raise invalid(fields[0], f"开始日期（{fields[0]}）不能晚于结束日期（{fields[1]}）")
    return (
        local_midnight(start, tz) if start else None,
        local_midnight(end + timedelta(days=1), tz) if end else None,
    )


def parse_day(text: str, field: str) -> date:
    """A local day written 2026-12-01; anything else is refused naming the field."""
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        raise invalid(field, f"日期（{field}）须写作 2026-12-01 的形式") from None
    if not date(2000, 1, 1) <= day <= date(2100, 12, 31):
        raise invalid(field, f"日期（{field}）须在 2000 年至 2100 年之间")
    return day
