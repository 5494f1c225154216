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
    def __init__(self) -> None:
        self._queues: set[asyncio.Queue[CaseNotice]] = set()

    def publish(self, notice: CaseNotice) -> None:
        for queue in list(self._queues):
            with contextlib.suppress(asyncio.QueueFull):  # a stalled subscriber loses events
                queue.put_nowait(notice)

    @contextlib.asynccontextmanager
    async def subscribe(self) -> AsyncIterator[asyncio.Queue[CaseNotice]]:
        queue: asyncio.Queue[CaseNotice] = asyncio.Queue(QUEUE_SIZE)
        self._queues.add(queue)
        try:
            yield queue
        finally:
            self._queues.discard(queue)

    async def stream(self, tenant_ids: Collection[uuid.UUID]) -> AsyncIterator[CaseNotice]:
        async with self.subscribe() as queue:
            while True:
                notice = await queue.get()
                if notice.tenant_id in tenant_ids:
                    yield notice


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
