"""The reading writer answers its submitters once per batch: one wake-up per submitter loop, one
future per submit_many call (not one of each per upload)."""

from __future__ import annotations

import asyncio
from typing import Any

from hub.monitoring.writer import Upload, _Item, _resolve, _Ticket


class CountingLoop:
    """Stands for a submitter's loop: records call_soon_threadsafe and runs it at once."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.calls = 0

    def create_future(self) -> asyncio.Future[None]:
        return self.loop.create_future()

    def call_soon_threadsafe(self, fn: Any, *args: Any) -> None:
        self.calls += 1
        fn(*args)


def items(ticket: _Ticket, n: int) -> list[_Item]:
    return [_Item(None, Upload("MN", None, ()), None, ticket) for _ in range(n)]


def test_a_batch_wakes_each_submitter_loop_once() -> None:
    async def main() -> None:
        a, b = CountingLoop(asyncio.get_running_loop()), CountingLoop(asyncio.get_running_loop())
        first, second, third = _Ticket(a, 3), _Ticket(a, 2), _Ticket(b, 4)  # type: ignore[arg-type]
        batch = items(first, 3) + items(second, 1) + items(third, 4)
        _resolve(batch)
        assert (a.calls, b.calls) == (1, 1)
        assert first.done.done() and third.done.done()
        assert not second.done.done()  # one of its uploads waits for the next batch
        _resolve(items(second, 1))
        assert second.done.done() and a.calls == 2

    asyncio.run(main())


def test_a_failure_fails_the_submit_at_once_and_later_items_change_nothing() -> None:
    async def main() -> None:
        loop = CountingLoop(asyncio.get_running_loop())
        ticket = _Ticket(loop, 3)  # type: ignore[arg-type]
        _resolve(items(ticket, 1))
        assert not ticket.done.done()
        error = RuntimeError("disk full")
        _resolve(items(ticket, 1), error)
        assert ticket.done.exception() is error
        _resolve(items(ticket, 1))  # the last one written after all: still the failure
        assert ticket.done.exception() is error

    asyncio.run(main())


def test_a_submitter_that_gave_up_is_skipped() -> None:
    async def main() -> None:
        loop = CountingLoop(asyncio.get_running_loop())
        ticket = _Ticket(loop, 2)  # type: ignore[arg-type]
        ticket.done.cancel()  # its connection closed
        _resolve(items(ticket, 2))
        assert ticket.done.cancelled()

    asyncio.run(main())
