"""When to try again after failures (pure): exponential backoff with jitter, and optionally
a long pause once it has failed too many times in a row. The one formula of the hub: the
outbox's retries of a message and the platform connector's pulls both use it."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Policy:
    base: float  # seconds after the first failure (at most)
    cap: float  # the longest backoff
    pause_after: int | None = None  # failures in a row that trigger the pause (None: never)
    pause: float = 0.0  # seconds of the pause


def delay(failures: int, policy: Policy, rand: Callable[[], float] = random.random) -> float:
    """Seconds to wait after ``failures`` consecutive failures (0 when there were none).

    Between half and all of base * 2^(failures-1), capped: the jitter spreads hubs that failed
    together, and the floor keeps the delays growing. From ``pause_after`` failures on, the
    pause (the platform is down; asking every few minutes only adds to its load)."""
    if failures <= 0:
        return 0.0
    if is_pause(failures, policy):
        return policy.pause
    ceiling = min(policy.cap, policy.base * 2 ** min(failures - 1, 60))
    return ceiling / 2 + rand() * ceiling / 2


def is_pause(failures: int, policy: Policy) -> bool:
    return policy.pause_after is not None and failures >= policy.pause_after
