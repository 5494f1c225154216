"""Delivering one outbox row: what the deliver_outbox actor does (kept apart from the actor so
that importing it never binds an actor to a broker).

At least once, effect once: the sender gets the row's idempotency key, and a row already
DELIVERED is not sent again. Retries are the outbox's, durable in the database: a failed
attempt puts the row back to PENDING with an exponential, jittered delay; the last allowed
failure makes it DEAD, with one alert.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from hub.auth import system_scope
from hub.backoff import Policy, delay
from hub.db import Database, utcnow
from hub.notify.notifier import LogNotifier, Notification
from hub.outbox.model import OutboxMessage, SendState
from hub.outbox.service import PermanentFailure, sender_for
from hub.uow import unit_of_work

log = logging.getLogger("hub.outbox")

MAX_ERROR_CHARS = 2000


@dataclass(frozen=True)
class Claimed:
    id: uuid.UUID
    topic: str
    payload: dict[str, Any]
    idempotency_key: str


def backoff_policy(settings: Any) -> Policy:
    """Retries of a message back off without a pause: the last attempt dead-letters it."""
    return Policy(settings.outbox_backoff_seconds, settings.outbox_backoff_max_seconds)


async def _claim(db: Database, message_id: uuid.UUID) -> Claimed | None:
    """The row if it is waiting for a worker; renews its lease (enqueued_at) so the stale sweep
    leaves it alone while it is being sent."""
    scope = await system_scope(db)

    async def work(session: AsyncSession) -> Claimed | None:
        row = await session.get(OutboxMessage, message_id, with_for_update=True)
        if row is None or row.state != SendState.ENQUEUED:
            return None  # delivered already, or a stale duplicate of a rescheduled row
        row.enqueued_at = utcnow()
        return Claimed(row.id, row.topic, dict(row.payload), row.idempotency_key)

    return await unit_of_work(db, scope.tenant_ids, work)


def _describe(exc: BaseException) -> str:
    text = str(exc) or repr(exc)
    return f"{type(exc).__name__}: {text}"[:MAX_ERROR_CHARS]


@dataclass(frozen=True)
class Failure:
    error: str
    permanent: bool = False  # the receiver refused for good: dead at once


async def _attempt(claimed: Claimed, settings: Any) -> Failure | None:
    """Send once; the failure, or None on success."""
    sender = sender_for(claimed.topic)
    if sender is None:
        return Failure(f"no sender is registered for topic {claimed.topic!r}")
    try:
        # At most half the visibility timeout, so the lease taken in _claim never runs out.
        async with asyncio.timeout(settings.outbox_visibility_seconds / 2):
            await sender(claimed.payload, claimed.idempotency_key)
    except PermanentFailure as exc:
        return Failure(_describe(exc), permanent=True)
    except Exception as exc:  # any failure of the outside world is one failed attempt
        return Failure(_describe(exc))
    return None


async def _record(db: Database, claimed: Claimed, failure: Failure | None, settings: Any) -> str:
    """Write the outcome; returns the row's state after it."""
    error = failure.error if failure else None
    scope = await system_scope(db)
    now = utcnow()

    async def work(session: AsyncSession) -> tuple[str, int | None]:
        """The state, and the attempts if this failure made the row DEAD (to alert once)."""
        row = await session.get(OutboxMessage, claimed.id, with_for_update=True)
        if row is None or row.state == SendState.DELIVERED:
            return SendState.DELIVERED, None
        if error is None:
            row.state, row.delivered_at = SendState.DELIVERED, now
            return row.state, None
        if row.state != SendState.ENQUEUED:
            return row.state, None  # a concurrent delivery recorded its outcome first
        row.attempts += 1
        row.last_error = error
        if row.attempts >= settings.outbox_max_attempts or (failure and failure.permanent):
            row.state, row.dead_at = SendState.DEAD, now
        else:
            wait = delay(row.attempts, backoff_policy(settings))
            row.state, row.next_attempt_at = SendState.PENDING, now + timedelta(seconds=wait)
            log.info(
                "outbox %s attempt %d failed, next in %.1fs: %s", row.id, row.attempts, wait, error
            )
        return row.state, row.attempts if row.state == SendState.DEAD else None

    state, dead_after = await unit_of_work(db, scope.tenant_ids, work)
    if dead_after is not None and error is not None:
        await _alert_dead(claimed, claimed.topic, dead_after, error)
    return state


async def _alert_dead(claimed: Claimed, topic: str, attempts: int, error: str) -> None:
    """One alert per dead letter (only the transition to DEAD gets here). Through the log, not
    the webhook: the webhook may be what is failing."""
    log.error(
        "outbox message %s (topic %s) is dead after %d attempts: %s",
        claimed.id,
        topic,
        attempts,
        error,
    )
    note = Notification(
        kind="outbox.dead",
        text=f"外发消息投递失败，已转为死信：主题 {topic}，已尝试 {attempts} 次，"
        f"最后错误：{error}。请管理员检查后重试。",
        data={"messageId": str(claimed.id), "topic": topic, "attempts": attempts, "error": error},
        key=f"outbox.dead:{claimed.id}",
    )
    await LogNotifier().send(note)


async def deliver(db: Database, message_id: uuid.UUID, settings: Any) -> str | None:
    """Deliver one row; its state afterwards, or None when there was nothing to do."""
    claimed = await _claim(db, message_id)
    if claimed is None:
        return None
    failure = await _attempt(claimed, settings)
    return await _record(db, claimed, failure, settings)
