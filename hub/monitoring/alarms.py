"""When readings become an over-limit alarm, and when the alarm ends (pure).

An episode starts after ``needed`` consecutive real-time values above a point's limit (or one
hourly average above it; a 24-hour mean above it opens one but ends none); only values flagged
normal count, so a value taken during calibration or maintenance neither starts nor breaks a
streak. While an episode is open every
further alarming value continues it; the first normal value back within the limit ends it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from hub.monitoring.model import Interval

DEFAULT_CONSECUTIVE = 3


class Verdict(enum.StrEnum):
    NONE = "NONE"
    START = "START"  # open an episode (and its case)
    CONTINUE = "CONTINUE"  # one more alarming value of the open episode
    END = "END"  # back within the limit: the episode is over


@dataclass(frozen=True, slots=True)
class Limit:
    max: float | None = None
    min: float | None = None
    unit: str | None = None

    def breached_by(self, value: float) -> bool:
        return (self.max is not None and value > self.max) or (
            self.min is not None and value < self.min
        )

    def bound_for(self, value: float) -> float | None:
        """The bound ``value`` crosses (max above, min below)."""
        if self.max is not None and value > self.max:
            return self.max
        return self.min


def limits_of(stored: list[dict[str, Any]] | None) -> dict[str, Limit]:
    """A point's stored limits, by pollutant code."""
    return {
        str(item["pollutant"]): Limit(item.get("max"), item.get("min"), item.get("unit"))
        for item in stored or []
    }


class Watch(NamedTuple):
    """What is remembered per (point, pollutant) between values (a tuple: one is made per
    value judged, tens of thousands a second)."""

    streak: int = 0  # consecutive alarming real-time values
    open: bool = False  # an episode is open
    last_realtime: datetime | None = None  # newest real-time value counted (repeats ignored)


def judge(
    watch: Watch,
    interval: Interval,
    at: datetime,
    value: float | None,
    normal: bool,
    limit: Limit | None,
    needed: int = DEFAULT_CONSECUTIVE,
) -> tuple[Watch, Verdict]:
    """The next state and what to do about one value."""
    if limit is None or value is None or not normal:
        return watch, Verdict.NONE
    if interval is Interval.REALTIME:
        if watch.last_realtime is not None and at <= watch.last_realtime:
            return watch, Verdict.NONE  # a repeat or a late value: already judged
        return _realtime(watch, at, limit.breached_by(value), needed)
    if interval is Interval.HOUR:
        return _hourly(watch, limit.breached_by(value))
    if interval is Interval.DAY:
        return _daily(watch, limit.breached_by(value))
    return watch, Verdict.NONE


def _realtime(watch: Watch, at: datetime, breach: bool, needed: int) -> tuple[Watch, Verdict]:
    if not breach:
        verdict = Verdict.END if watch.open else Verdict.NONE
        return Watch(0, False, at), verdict
    streak = watch.streak + 1
    if watch.open:
        return Watch(streak, True, at), Verdict.CONTINUE
    if streak >= needed:
        return Watch(streak, True, at), Verdict.START
    return Watch(streak, False, at), Verdict.NONE


def _hourly(watch: Watch, breach: bool) -> tuple[Watch, Verdict]:
    if breach:
        verdict = Verdict.CONTINUE if watch.open else Verdict.START
        return Watch(watch.streak, True, watch.last_realtime), verdict
    if watch.open:
        return Watch(0, False, watch.last_realtime), Verdict.END
    return watch, Verdict.NONE


def _daily(watch: Watch, breach: bool) -> tuple[Watch, Verdict]:
    """A 24-hour mean above the limit opens (or continues) an episode; one within it ends
    nothing: the day is over, the hours that follow say whether the episode is."""
    if not breach:
        return watch, Verdict.NONE
    verdict = Verdict.CONTINUE if watch.open else Verdict.START
    return Watch(watch.streak, True, watch.last_realtime), verdict
