"""The relay: moves due outbox rows into the broker, one dramatiq message per row.

A row is marked ENQUEUED and committed first, then sent to the broker; if the broker is down the
rows it did not take go back to PENDING (nothing is lost, no attempt is spent). A crash between
the commit and the broker leaves ENQUEUED rows behind: ``requeue_stale`` returns them to
PENDING after the visibility timeout, as it does for messages a killed worker took with it.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

import dramatiq
from sqlalchemy import CursorResult, Select, delete, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from hub.auth import system_scope
from hub.db import Database, utcnow
from hub.outbox.model import OutboxMessage, SendState
from hub.uow import unit_of_work

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


def _candidates(now: datetime, limit: int, after: datetime | None, *, skip_locked: bool) -> Select:
    """Due PENDING rows in due order. ``after`` resumes a drain where its last batch ended:
    the rows just claimed leave dead index entries behind until vacuum removes them (later
    still if a long transaction holds the xmin horizon back), and starting the index scan past
    them keeps a drain linear instead of quadratic."""
    stmt = (
        select(Outbox.id, Outbox.ordering_key, Outbox.next_attempt_at)
        .where(Outbox.state == SendState.PENDING, Outbox.next_attempt_at <= now)
        .order_by(Outbox.next_attempt_at)
        .limit(limit)
    )
    if after is not None:
        stmt = stmt.where(Outbox.next_attempt_at >= after)
    # Several relays may run on PostgreSQL: each takes rows the others have not locked.
    return stmt.with_for_update(skip_locked=True) if skip_locked else stmt


def _first_in_line(keys: set[str]) -> Select:
    """The oldest not-yet-DELIVERED row of each key (a DEAD one included): only it may go, so a
    later status of a case never overtakes an earlier one. One set-based statement over the
    batch's keys rather than a per-row anti-join: that one's plan turns quadratic when the
    statistics are stale (a burst of rows into an emptied table), this one stays linear."""
    place = func.row_number().over(
        partition_by=Outbox.ordering_key, order_by=(Outbox.created_at, Outbox.id)
    )
    ranked = (
        select(Outbox.id, place.label("place"))
        .where(Outbox.ordering_key.in_(keys), Outbox.state != SendState.DELIVERED)
        .subquery()
    )
    return select(ranked.c.id).where(ranked.c.place == 1)


@dataclass(frozen=True)
class Batch:
    ids: list[uuid.UUID]  # claimed: now ENQUEUED
    seen: int  # due rows looked at (those behind an older row of their key wait)
    end: datetime | None  # where the next batch of a drain starts


async def _claim(db: Database, limit: int, after: datetime | None = None) -> Batch:
    """Mark the first-in-line rows among the next ``limit`` due ones ENQUEUED."""
    scope = await system_scope(db)
    now = utcnow()
    due = _candidates(now, limit, after, skip_locked=not db.is_sqlite)

    async def work(session: AsyncSession) -> Batch:
        rows = (await session.execute(due)).all()
        if not rows:
            return Batch([], 0, after)
        first = set((await session.scalars(_first_in_line({r.ordering_key for r in rows}))).all())
        ids = [r.id for r in rows if r.id in first]
        if ids:
            await session.execute(
                update(Outbox)
                .where(Outbox.id.in_(ids))
                .values(state=SendState.ENQUEUED, enqueued_at=now)
                .execution_options(synchronize_session=False)
            )
        return Batch(ids, len(rows), rows[-1].next_attempt_at)

    return await unit_of_work(db, scope.tenant_ids, work)


async def _unclaim(db: Database, ids: list[uuid.UUID]) -> None:
    """Rows the broker did not take are PENDING again, due now, with no attempt spent."""
    scope = await system_scope(db)

    async def work(session: AsyncSession) -> None:
        await session.execute(
            update(Outbox)
            .where(Outbox.id.in_(ids), Outbox.state == SendState.ENQUEUED)
            .values(state=SendState.PENDING, enqueued_at=None)
            .execution_options(synchronize_session=False)
        )

    await unit_of_work(db, scope.tenant_ids, work)


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


async def _relay_batch(
    db: Database, broker: dramatiq.Broker, limit: int, after: datetime | None
) -> tuple[Batch, int]:
    """A batch claimed, and how many of its rows the broker took."""
    batch = await _claim(db, limit, after)
    if not batch.ids:
        return batch, 0
    # The broker clients block: keep the event loop (the web app's, in embedded mode) free.
    sent = await asyncio.to_thread(_send_all, broker, batch.ids)
    if sent < len(batch.ids):
        await _unclaim(db, batch.ids[sent:])
    return batch, sent


async def relay_once(db: Database, broker: dramatiq.Broker, limit: int = 500) -> int:
    """Move up to ``limit`` due rows into the broker; returns how many it moved."""
    return (await _relay_batch(db, broker, limit, None))[1]


ANALYZE_EVERY_SECONDS = 60.0
_analyzed: dict[str, float] = {}


async def _fresh_statistics(db: Database) -> None:
    """ANALYZE the outbox before draining a backlog (PostgreSQL, at most once a minute).
    The table swings from nearly empty to thousands of rows (a broker outage, a burst of
    changes) faster than autovacuum's analyze follows, and on stale statistics the planner
    takes the tenant index for selective and scans every row of it per statement."""
    now = time.monotonic()
    if db.is_sqlite or now - _analyzed.get(db.url, -ANALYZE_EVERY_SECONDS) < ANALYZE_EVERY_SECONDS:
        return
    _analyzed[db.url] = now
    try:
        async with db.engine.connect() as conn:
            await conn.execute(text(f"analyze {Outbox.__tablename__}"))
            await conn.commit()
    except Exception as exc:  # an optimisation: the drain goes on without it
        log.warning("could not analyze the outbox table: %s", exc)


async def relay_all(db: Database, broker: dramatiq.Broker, limit: int = 500) -> int:
    """Relay batch after batch until no due row is left, or the broker stops taking them."""
    total, after = 0, None
    while True:
        batch, sent = await _relay_batch(db, broker, limit, after)
        total += sent
        if batch.seen < limit or sent < len(batch.ids):
            return total
        if not batch.ids and batch.end == after:
            return total  # a full batch of rows waiting behind older ones, all due at one instant
        if after is None:  # a full first batch: a backlog
            await _fresh_statistics(db)
        after = batch.end


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

    async def work(session: AsyncSession) -> list[uuid.UUID]:
        ids = list((await session.scalars(stale)).all())
        if ids:
            await session.execute(
                update(Outbox)
                .where(Outbox.id.in_(ids))
                .values(state=SendState.PENDING, next_attempt_at=now, enqueued_at=None)
                .execution_options(synchronize_session=False)
            )
        return ids

    ids = await unit_of_work(db, scope.tenant_ids, work)
    if ids:
        log.warning(
            "%d outbox message(s) were not delivered in time: handing them out again", len(ids)
        )
    return len(ids)


async def prune_delivered(db: Database, older_than_days: float) -> int:
    """Forget DELIVERED rows delivered more than ``older_than_days`` ago; returns how many.
    Dead letters and undelivered rows stay (and so does the order they impose)."""
    scope = await system_scope(db)
    cutoff = utcnow() - timedelta(days=older_than_days)

    async def work(session: AsyncSession) -> int:
        # A DELETE's result is a CursorResult (it has rowcount); Session.execute is typed with
        # the general Result, so say which one it is.
        done = cast(
            CursorResult[Any],
            await session.execute(
                delete(Outbox)
                .where(Outbox.state == SendState.DELIVERED, Outbox.delivered_at < cutoff)
                .execution_options(synchronize_session=False)
            ),
        )
        return done.rowcount or 0

    return await unit_of_work(db, scope.tenant_ids, work)
