"""One problem, one case: when a new report joins an open case by itself, and when a person
must decide (pure, no I/O).

A merge changes what an office is held to, so the hub merges by itself only where it is sure:
- the same matched source and category as an open case opened within the window;
- a repeat report from the same (normalised) phone number about an open case of the category,
  in the town the report was routed to (anywhere, when nothing routed it: the command centre).
Where it is not sure - an open case of the same category within ``distance_m`` of the point,
opened within the window - the report opens its own case and the candidates are shown to the
dispatcher, nearest first, who merges with one mutation. When several different callers report
one case, its priority goes up.
"""

from __future__ import annotations

import enum
import math
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

EARTH_RADIUS_M = 6_371_008.8  # mean radius (IUGG)
DEFAULT_WINDOW = timedelta(hours=72)
DEFAULT_DISTANCE_M = 300.0
DEFAULT_URGENT_CALLERS = 3


class Reason(enum.StrEnum):
    SAME_SOURCE = "SAME_SOURCE"  # sure: same source and category
    SAME_CALLER = "SAME_CALLER"  # sure: the same phone number called about it before
    NEARBY = "NEARBY"  # not sure: same category, close by, recent


REASON_TEXT = {
    Reason.SAME_SOURCE: "同一污染源、同类问题（{hours} 小时内登记）",
    Reason.SAME_CALLER: "同一来电号码再次反映",
    Reason.NEARBY: "{meters:.0f} 米内同类未结案件（{hours} 小时内登记）",
}


@dataclass(frozen=True)
class Rules:
    window: timedelta = DEFAULT_WINDOW
    distance_m: float = DEFAULT_DISTANCE_M
    urgent_callers: int = DEFAULT_URGENT_CALLERS  # distinct callers that make a case URGENT

    @classmethod
    def of(cls, settings: Any) -> Rules:
        """From Settings (duplicate_window_hours, duplicate_distance_meters,
        urgent_after_callers); defaults for what it does not carry."""
        return cls(
            timedelta(hours=getattr(settings, "duplicate_window_hours", 72.0)),
            getattr(settings, "duplicate_distance_meters", DEFAULT_DISTANCE_M),
            getattr(settings, "urgent_after_callers", DEFAULT_URGENT_CALLERS),
        )


@dataclass(frozen=True)
class Arrival:
    """What the new report says."""

    category: str
    received_at: datetime
    tenant_id: uuid.UUID | None = None  # the town it was routed to
    source_id: uuid.UUID | None = None
    phone: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    unrouted: bool = False  # nothing said where: the command centre's queue


@dataclass(frozen=True)
class OpenCase:
    """An open case the new report might be about (the caller only passes open ones)."""

    case_id: uuid.UUID
    category: str
    created_at: datetime
    tenant_id: uuid.UUID | None = None
    source_id: uuid.UUID | None = None
    phones: frozenset[str] = frozenset()  # callers' numbers of its reports (as far as known)
    latitude: float | None = None
    longitude: float | None = None


@dataclass(frozen=True)
class Candidate:
    case_id: uuid.UUID
    distance_m: float
    reason: Reason


@dataclass(frozen=True)
class Verdict:
    attach_to: uuid.UUID | None  # sure: attach to this case
    reason: Reason | None  # why attached
    candidates: tuple[Candidate, ...] = field(default=())  # not sure: show these


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine), metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def box(lat: float, lon: float, meters: float) -> tuple[float, float, float, float]:
    """(lat_min, lat_max, lon_min, lon_max) around a point: every point within ``meters``
    lies inside (an indexable pre-filter for the distance)."""
    dlat = math.degrees(meters / EARTH_RADIUS_M)
    dlon = dlat / max(math.cos(math.radians(lat)), 1e-6)
    return lat - dlat, lat + dlat, lon - dlon, lon + dlon


def judge(arrival: Arrival, cases: Iterable[OpenCase], rules: Rules) -> Verdict:
    """Attach (sure), or the candidates to show (not sure), or neither."""
    same = [c for c in cases if c.category == arrival.category]
    recent = [c for c in same if c.created_at >= arrival.received_at - rules.window]
    newest_first = sorted(recent, key=lambda c: c.created_at, reverse=True)
    if arrival.source_id is not None:
        for case in newest_first:
            if case.source_id == arrival.source_id and case.tenant_id == arrival.tenant_id:
                return Verdict(case.case_id, Reason.SAME_SOURCE)
    if arrival.phone:
        for case in sorted(same, key=lambda c: c.created_at, reverse=True):
            here = arrival.unrouted or case.tenant_id == arrival.tenant_id
            if here and arrival.phone in case.phones:
                return Verdict(case.case_id, Reason.SAME_CALLER)
    return Verdict(None, None, nearby(arrival, recent, rules))


def nearby(arrival: Arrival, cases: Iterable[OpenCase], rules: Rules) -> tuple[Candidate, ...]:
    if arrival.latitude is None or arrival.longitude is None:
        return ()
    found = []
    for case in cases:
        if case.latitude is None or case.longitude is None:
            continue
        meters = distance_m(arrival.latitude, arrival.longitude, case.latitude, case.longitude)
        if meters <= rules.distance_m:
            found.append(Candidate(case.case_id, round(meters, 1), Reason.NEARBY))
    return tuple(sorted(found, key=lambda c: (c.distance_m, str(c.case_id))))


def reason_text(reason: Reason, rules: Rules, meters: float = 0.0) -> str:
    hours = round(rules.window.total_seconds() / 3600)
    return REASON_TEXT[reason].format(hours=hours, meters=meters)


def candidate_reason(reason: Reason, meters: float) -> str:
    """How a stored candidate is explained to the dispatcher."""
    if reason == Reason.NEARBY:
        return f"{meters:.0f} 米内同类未结案件"
    return REASON_TEXT[reason].format(hours=72, meters=meters)


def raises_priority(priority: str, distinct_callers: int, rules: Rules) -> bool:
    """Several different people calling about one problem make it URGENT (once)."""
    return priority != "URGENT" and distinct_callers >= rules.urgent_callers
