"""The default time limits (pure data; the migration seeds them, ADMIN can change them).

accept within 2 hours (the city platform is patrolled every two hours), red at 4; handle in
5 working days at a town (3 at a grid member), 1 when URGENT; review in 2; feedback in 3.

Dispatch (登记 -> 转办, the command centre's or a town's queue) per channel, from registration:
a monitoring alarm within 1 hour (red at 2), a hotline call or a platform assignment within 2
(red at 4), a grid report within 4 (red at 8), anything else within 1 working day (red at 2).
A platform case is carded by the platform's deadline at the latest. The dispatch rules came
with migration 0008 (DISPATCH_RULES); 0002 seeded the others (DEFAULT_RULES).
"""

from __future__ import annotations

from hub.supervision.model import Level, LimitUnit, Phase

H, WD = LimitUnit.HOURS, LimitUnit.WORKING_DAYS

# (level or None for every level, phase, priority or None, unit, yellow, red)
DEFAULT_RULES: list[tuple[Level, Phase, str | None, LimitUnit, float, float]] = [
    *[(level, Phase.ACCEPT, None, H, 2, 4) for level in Level],
    (Level.CITY, Phase.HANDLE, None, WD, 5, 7),
    (Level.TOWN, Phase.HANDLE, None, WD, 5, 7),
    (Level.GRID, Phase.HANDLE, None, WD, 3, 5),
    *[(level, Phase.HANDLE, "URGENT", WD, 1, 2) for level in Level],
    *[(level, Phase.REVIEW, None, WD, 2, 3) for level in Level],
    *[(level, Phase.FEEDBACK, None, WD, 3, 5) for level in Level],
]


# (channel or None for any, unit, yellow, red) for the dispatch phase, at the city and a town.
DISPATCH_RULES: list[tuple[str | None, LimitUnit, float, float]] = [
    ("MONITORING", H, 1, 2),
    ("HOTLINE", H, 2, 4),
    ("PLATFORM", H, 2, 4),
    ("GRID", H, 4, 8),
    (None, WD, 1, 2),
]


def dispatch_rule_rows() -> list[dict[str, object]]:
    return [
        {
            "level": level.value,
            "phase": Phase.DISPATCH.value,
            "category": None,
            "priority": None,
            "channel": channel,
            "unit": unit.value,
            "yellow_after": yellow,
            "red_after": red,
        }
        for level in (Level.CITY, Level.TOWN)
        for channel, unit, yellow, red in DISPATCH_RULES
    ]


def default_rule_rows() -> list[dict[str, object]]:
    return [
        {
            "level": level.value,
            "phase": phase.value,
            "category": None,
            "priority": priority,
            "channel": None,
            "unit": unit.value,
            "yellow_after": yellow,
            "red_after": red,
        }
        for level, phase, priority, unit, yellow, red in DEFAULT_RULES
    ]
