"""The relay: moves due outbox rows into the broker, one dramatiq message per row.

A row is marked ENQUEUED and committed first, then sent to the broker; if the broker is down the
rows it did not take go back to PENDING (nothing is lost, no attempt is spent). A crash between
the commit and the broker leaves ENQUEUED rows behind: ``requeue_stale`` returns them to
PENDING after the visibility timeout, as it does for messages a killed worker took with it.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import datetime, timedelta

import dramatiq
from sqlalchemy import and_, exists, or_, select, update
from sqlalchemy.orm import aliased

from hub.auth import system_scope
from hub.db import Database, utcnow
from hub.outbox.model import OutboxMessage, SendState

log = logging.getLogger("hub.outbox.relay")

OUTBOX_QUEUE = "outbox"
DELIVER_ACTOR = "deliver_outbox"  # hub.outbox.actors.deliver_outbox

Outbox = OutboxMessage


def broker_message(row_id: uuid.UUID) -> dramatiq.Message:
    """The message for one row; its id is the row's, so a redelivery is recognisable. Built
    without the actor so that the relay can feed any broker without importing actors."""
    return dramatiq.Message(
        queue_name=OUTBOX_QUEUE,
        actor_name=DELIVER_ACTOR,
        args=(str(row_id),),
        kwargs={},
        options={},
        message_id=str(row_id),
    )


def _due(now: datetime, limit: int, *, skip_locked: bool):
    """PENDING rows that are due and first in line of their ordering key: a row waits while an
    older row of its key is not DELIVERED (a DEAD one included), so a later status of a case
    never overtakes an earlier one."""
    older = aliased(Outbox)
    ahead = exists().where(
        older.ordering_key == Outbox.ordering_key,
        older.state != SendState.DELIVERED,
        or_(
            older.created_at < Outbox.created_at,
            and_(older.created_at == Outbox.created_at, older.id < Outbox.id),
        ),
    )
    stmt = (
        select(Outbox.id)
        .where(Outbox.state == SendState.PENDING, Outbox.next_attempt_at <= now, ~ahead)
        .order_by(Outbox.next_attempt_at)
        .limit(limit)
    )
    # Several relays may run on PostgreSQL: each takes rows the others have not locked.
    return stmt.with_for_update(skip_locked=True, of=Outbox) if skip_locked else stmt


async def _claim(db: Database, limit: int) -> list[uuid.UUID]:
    scope = await system_scope(db)
    now = utcnow()
    async with db.session(scope.tenant_ids, write=True) as session, session.begin():
        ids = list((await session.scalars(_due(now, limit, skip_locked=not db.is_sqlite))).all())
        if ids:
            await session.execute(
                update(Outbox)
                .where(Outbox.id.in_(ids))
                .values(state=SendState.ENQUEUED, enqueued_at=now)
                .execution_options(synchronize_session=False)
            )
    return ids


async def _unclaim(db: Database, ids: list[uuid.UUID]) -> None:
    """Rows the broker did not take are PENDING again, due now, with no attempt spent."""
    scope = await system_scope(db)
    async with db.session(scope.tenant_ids, write=True) as session, session.begin():
        await session.execute(
            update(Outbox)
            .where(Outbox.id.in_(ids), Outbox.state == SendState.ENQUEUED)
            .values(state=SendState.PENDING, enqueued_at=None)
            .execution_options(synchronize_session=False)
        )


def _send_all(broker: dramatiq.Broker, ids: list[uuid.UUID]) -> int:
    """Enqueue in order; stop at the first failure (the broker is down: the rest would fail too,
    each after its own connection timeout). Returns how many the broker took."""
    broker.declare_queue(OUTBOX_QUEUE)
    sent = 0
    try:
        for row_id in ids:
            broker.enqueue(broker_message(row_id))
            sent += 1
    except Exception as exc:
        log.warning(
            "broker unavailable, %d outbox message(s) stay pending: %s", len(ids) - sent, exc
        )
    return sent


async def relay_once(db: Database, broker: dramatiq.Broker, limit: int = 500) -> int:
    """Move up to ``limit`` due rows into the broker; returns how many it moved."""
    ids = await _claim(db, limit)
    if not ids:
        return 0
    # The broker clients block: keep the event loop (the web app's, in embedded mode) free.
    sent = await asyncio.to_thread(_send_all, broker, ids)
    if sent < len(ids):
        await _unclaim(db, ids[sent:])
    return sent


async def relay_all(db: Database, broker: dramatiq.Broker, limit: int = 500) -> int:
    """Relay until no due row is left (or the broker stops taking them)."""
    total = 0
    while True:
        moved = await relay_once(db, broker, limit)
        total += moved
        if moved < limit:
            return total


async def requeue_stale(db: Database, older_than_seconds: float) -> int:
    """ENQUEUED rows not delivered within the visibility timeout (their worker was killed, or
    the broker lost them) become PENDING again, due now; returns how many. A delivery in
    progress is never taken: the worker renews ``enqueued_at`` when it starts and gives a
    send at most half the timeout (hub.outbox.actors)."""
    scope = await system_scope(db)
    now = utcnow()
    cutoff = now - timedelta(seconds=older_than_seconds)
    stale = select(Outbox.id).where(
        Outbox.state == SendState.ENQUEUED, Outbox.enqueued_at <= cutoff
    )
    if not db.is_sqlite:
        stale = stale.with_for_update(skip_locked=True)  # rows a worker is recording right now
    async with db.session(scope.tenant_ids, write=True) as session, session.begin():
        ids = list((await session.scalars(stale)).all())
        if ids:
            await session.execute(
                update(Outbox)
                .where(Outbox.id.in_(ids))
                .values(state=SendState.PENDING, next_attempt_at=now, enqueued_at=None)
                .execution_options(synchronize_session=False)
            )
    if ids:
        log.warning(
            "%d outbox message(s) were not delivered in time: handing them out again", len(ids)
        )
    return len(ids)
