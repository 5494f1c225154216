"""The default time limits (pure data; the migration seeds them, ADMIN can change them).

accept within 2 hours (the city platform is patrolled every two hours), red at 4; handle in
5 working days at a town (3 at a grid member), 1 when URGENT; review in 2; feedback in 3.
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
