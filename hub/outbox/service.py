"""The outbox's use cases: write a message in the caller's transaction, name who sends a topic,
and let ADMIN see and retry what could not be delivered.

Anything that must leave the hub is written here in the same transaction as the change that
causes it; the relay (hub.outbox.relay) hands it to dramatiq after the commit, and a worker
(hub.outbox.actors) delivers it through the topic's sender.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.auth import Scope
from hub.db import utcnow
from hub.errors import DomainError, ErrorCode, not_found
from hub.outbox.model import OutboxMessage, SendState
from hub.roles import Permission, require
from hub.validation import parse_id

# async fn(payload, idempotency_key) -> None; raising means the attempt failed.
Sender = Callable[[dict[str, Any], str], Awaitable[None]]

_senders: dict[str, Sender] = {}


class PermanentFailure(Exception):
    """A sender raises this when the receiver refused the message for good (say an HTTP 4xx):
    retrying cannot help, so the message is dead-lettered at once instead of after the last
    attempt."""


_last_stamp = datetime.min.replace(tzinfo=utcnow().tzinfo)


def register_sender(topic: str, sender: Sender) -> None:
    """Say who delivers a topic; the last registration of a topic wins."""
    _senders[topic] = sender


def sender_for(topic: str) -> Sender | None:
    return _senders.get(topic)


def _created_stamp() -> datetime:
    """utcnow, strictly increasing within the process: two messages of one key written in the
    same microsecond still have an order (created_at is the delivery order per key)."""
    global _last_stamp
    _last_stamp = max(utcnow(), _last_stamp + timedelta(microseconds=1))
    return _last_stamp


async def enqueue(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    topic: str,
    ordering_key: str,
    idempotency_key: str,
    payload: dict[str, Any],
    *,
    fresh_key: bool = False,
) -> OutboxMessage:
    """Add a message to the caller's transaction (no commit: it leaves with the change or not
    at all). A key seen before is a no-op that returns the earlier message. Messages of one
    ordering_key are delivered in the order they were written here. ``fresh_key``: the caller
    knows the key is new (it embeds an id made in this transaction), so it is not looked up."""
    if not fresh_key:
        existing = await session.scalar(
            select(OutboxMessage).where(OutboxMessage.idempotency_key == idempotency_key)
        )
        if existing is not None:
            return existing
    row = _new_message(tenant_id, topic, ordering_key, idempotency_key, payload)
    session.add(row)
    return row


def _new_message(
    tenant_id: uuid.UUID,
    topic: str,
    ordering_key: str,
    idempotency_key: str,
    payload: dict[str, Any],
) -> OutboxMessage:
    now = _created_stamp()
    return OutboxMessage(
        id=uuid.uuid4(),
        tenant_id=tenant_id,
        topic=topic,
        ordering_key=ordering_key,
        idempotency_key=idempotency_key,
        payload=payload,
        state=SendState.PENDING,
        attempts=0,
        created_at=now,
        next_attempt_at=now,
    )


async def enqueue_many(
    session: AsyncSession, messages: list[tuple[uuid.UUID, str, str, str, dict[str, Any]]]
) -> None:
    """``enqueue`` for many (tenant_id, topic, ordering_key, idempotency_key, payload) at once:
    one look-up of the keys seen before instead of one per message."""
    keys = [m[3] for m in messages]
    if not keys:
        return
    seen = set(
        await session.scalars(
            select(OutboxMessage.idempotency_key).where(OutboxMessage.idempotency_key.in_(keys))
        )
    )
    for tenant_id, topic, ordering_key, idempotency_key, payload in messages:
        if idempotency_key in seen:
            continue
        seen.add(idempotency_key)
        session.add(_new_message(tenant_id, topic, ordering_key, idempotency_key, payload))


# --- ADMIN: look and retry --------------------------------------------------------------------


async def list_messages(
    session: AsyncSession, scope: Scope, state: SendState | None, first: int
) -> list[OutboxMessage]:
    """Newest first, optionally of one state."""
    require(scope, Permission.OUTBOX_ADMIN)
    stmt = select(OutboxMessage).order_by(OutboxMessage.created_at.desc()).limit(first)
    if state is not None:
        stmt = stmt.where(OutboxMessage.state == state)
    return list((await session.scalars(stmt)).all())


async def retry_message(session: AsyncSession, scope: Scope, message_id: str) -> OutboxMessage:
    """A dead letter gets a fresh set of attempts; the relay picks it up at its next run."""
    require(scope, Permission.OUTBOX_ADMIN)
    parsed = parse_id(message_id)
    row = await session.get(OutboxMessage, parsed, with_for_update=True) if parsed else None
    if row is None:
        raise not_found("外发消息", "id")
    if row.state != SendState.DEAD:
        raise DomainError(
            ErrorCode.CONFLICT, f"只有投递失败（DEAD）的消息可以重试，该消息为 {row.state}", "id"
        )
    row.state, row.attempts = SendState.PENDING, 0
    row.next_attempt_at, row.dead_at = utcnow(), None
    return row
