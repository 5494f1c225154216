"""Case events for subscribers, published only after the change commits.

Services queue notices on the session (``announce``); the session's after_commit hook hands them
to the in-process broadcaster, and a rollback drops them.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

QUEUE_SIZE = 1000


@dataclass(frozen=True)
class CaseNotice:
    kind: str
    at: datetime
    tenant_id: uuid.UUID
    case: Any  # the committed Case row (expire_on_commit is off, so its columns stay loaded)


class Broadcaster:
    """Fans notices out to subscribers' queues. Changes are also committed on other threads
    (the embedded job worker, the reading writer), so a notice reaches each queue through the
    event loop that owns it."""

    def __init__(self) -> None:
        self._queues: dict[asyncio.Queue[CaseNotice], asyncio.AbstractEventLoop] = {}

    def publish(self, notice: CaseNotice) -> None:
        try:
            here = asyncio.get_running_loop()
        except RuntimeError:
            here = None
        for queue, loop in list(self._queues.items()):
            if loop is here:
                _offer(queue, notice)
            elif not loop.is_closed():
                loop.call_soon_threadsafe(_offer, queue, notice)

    @contextlib.asynccontextmanager
    async def subscribe(self) -> AsyncIterator[asyncio.Queue[CaseNotice]]:
        queue: asyncio.Queue[CaseNotice] = asyncio.Queue(QUEUE_SIZE)
        self._queues[queue] = asyncio.get_running_loop()
        try:
            yield queue
        finally:
            self._queues.pop(queue, None)

    async def stream(self, tenant_ids: Collection[uuid.UUID]) -> AsyncIterator[CaseNotice]:
        async with self.subscribe() as queue:
            while True:
                notice = await queue.get()
                if notice.tenant_id in tenant_ids:
                    yield notice


def _offer(queue: asyncio.Queue[CaseNotice], notice: CaseNotice) -> None:
    with contextlib.suppress(asyncio.QueueFull):  # a stalled subscriber loses events
        queue.put_nowait(notice)


broadcaster = Broadcaster()


def announce(session: Session, notice: CaseNotice) -> None:
    session.info.setdefault("notices", []).append(notice)


@event.listens_for(Session, "after_commit")
def _publish(session: Session) -> None:
    for notice in session.info.pop("notices", []):
        broadcaster.publish(notice)


@event.listens_for(Session, "after_rollback")
def _drop(session: Session) -> None:
    session.info.pop("notices", None)
