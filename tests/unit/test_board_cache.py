"""The board's shared figures (hub/console/board.py FiguresCache): screens asking at once share
one computation; a committed case change (the generation) or the TTL makes the next one anew;
a failure is not kept; another set of towns never gets someone else's figures."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from hub.console import board
from hub.console.board import FiguresCache
from hub.events import changes


class Counting:
    def __init__(self) -> None:
        self.calls = 0
        self.fail = False

    async def __call__(self) -> dict[str, Any]:
        self.calls += 1
        n = self.calls
        await asyncio.sleep(0.01)
        if self.fail:
            raise RuntimeError("database gone")
        return {"n": n}


async def test_screens_at_once_share_one_computation() -> None:
    cache, compute = FiguresCache(), Counting()
    found = await asyncio.gather(*(cache.get(("a",), compute) for _ in range(50)))
    assert compute.calls == 1 and all(f == {"n": 1} for f in found)
    assert await cache.get(("a",), compute) == {"n": 1}  # still fresh, no change since
    assert await cache.get(("b",), compute) == {"n": 2}  # other towns: their own figures


async def test_a_case_change_or_the_ttl_makes_it_anew(monkeypatch: pytest.MonkeyPatch) -> None:
    cache, compute = FiguresCache(), Counting()
    await cache.get(("a",), compute)
    changes.bump()
    assert await cache.get(("a",), compute) == {"n": 2}
    monkeypatch.setattr(board, "FIGURES_TTL", 0.0)
    assert await cache.get(("a",), compute) == {"n": 3}


async def test_a_failure_is_not_kept() -> None:
    cache, compute = FiguresCache(), Counting()
    compute.fail = True
    with pytest.raises(RuntimeError):
        await cache.get(("a",), compute)
    compute.fail = False
    assert await cache.get(("a",), compute) == {"n": 2}


async def test_a_change_during_a_computation_is_not_missed() -> None:
    cache, compute = FiguresCache(), Counting()
    first = asyncio.ensure_future(cache.get(("a",), compute))
    while compute.calls == 0:  # the computation is under way
        await asyncio.sleep(0)
    changes.bump()  # a case change commits meanwhile
    second = await cache.get(("a",), compute)  # does not join the older computation
    assert await first == {"n": 1} and second == {"n": 2}
