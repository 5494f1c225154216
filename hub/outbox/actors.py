"""dramatiq actors. Import only through hub.jobs.configure: an actor binds to the broker that is
current when its module is imported, and dramatiq would otherwise invent one (RabbitMQ)."""

from __future__ import annotations

import uuid

import dramatiq

from hub import jobs
from hub.outbox.delivery import deliver
from hub.outbox.relay import DELIVER_ACTOR, OUTBOX_QUEUE

TIME_LIMIT_MS = 5 * 60 * 1000  # far above a send's own bound (half the visibility timeout)


# max_retries=0: retries are the outbox's, durable in the database with their own backoff;
# dramatiq retrying too would multiply attempts and hide them from the row's count.
@dramatiq.actor(
    actor_name=DELIVER_ACTOR, queue_name=OUTBOX_QUEUE, max_retries=0, time_limit=TIME_LIMIT_MS
)
async def deliver_outbox(message_id: str) -> None:
    settings = jobs.current_settings()
    await deliver(jobs.actor_database(settings), uuid.UUID(message_id), settings)
