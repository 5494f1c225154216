"""Small per-database caches of data that changes rarely (the tenant directory, the gazetteer,
time-limit rules, calendars, the grid index, hotline sources).

One cachetools ``TLRUCache`` (a maintained library, instead of six hand-rolled
``(time.monotonic(), value)`` tuples): every entry carries its own lifetime, given when it is
put, so each cache keeps its own (a test may lengthen one at run time). Entries are dropped
explicitly where the data changes (``pop``), and least recently used ones go first if the
cache ever fills.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

from cachetools import TLRUCache

MAX_ENTRIES = 4096  # one per cache name, calendars one per tenant: far more than a county has


@dataclass(frozen=True)
class _Entry:
    value: Any
    seconds: float


def _expires(_key: Hashable, entry: _Entry, now: float) -> float:
    return now + entry.seconds


class Caches:
    """Named values that expire ``seconds`` after they were put."""

    def __init__(
        self, maxsize: int = MAX_ENTRIES, timer: Callable[[], float] = time.monotonic
    ) -> None:
        self._entries: TLRUCache[Hashable, _Entry] = TLRUCache(maxsize, _expires, timer)

    def get(self, key: Hashable) -> Any | None:
        """The value put under ``key`` if it has not expired, else None."""
        entry = self._entries.get(key)
        return None if entry is None else entry.value

    def put(self, key: Hashable, value: Any, seconds: float) -> None:
        self._entries[key] = _Entry(value, seconds)

    def pop(self, key: Hashable, default: Any = None) -> Any:
        """Forget ``key`` (the data changed); its value, or ``default``."""
        entry = self._entries.pop(key, None)
        return default if entry is None else entry.value
