"""The transactional outbox: written with the change, relayed in order per key, delivered at
least once with backoff, dead-lettered once with one alert, retried by ADMIN over GraphQL."""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import uuid
from collections.abc import Iterator
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update

from hub import backoff, jobs
from hub.auth import system_scope
from hub.config import Settings
from hub.db import Database, utcnow
from hub.notify import LogNotifier, Notification, WebhookNotifier, notifier_for, notify
from hub.outbox.delivery import backoff_policy, deliver
from hub.outbox.model import OutboxMessage, SendState
from hub.outbox.relay import prune_delivered, relay_all, relay_once, requeue_stale
from hub.outbox.service import enqueue, register_sender
from hub.runtime import Runtime
from tests.sinks import webhook_sink

# --- helpers ------------------------------------------------------------------------------------


async def town(db: Database, code: str = "laiji") -> uuid.UUID:
    return (await system_scope(db)).directory.by_code[code].id


async def write(db: Database, topic: str, key: str, idem: str, **payload: Any) -> OutboxMessage:
    scope = await system_scope(db)
    async with db.session(scope.tenant_ids, write=True) as session, session.begin():
        return await enqueue(session, await town(db), topic, key, idem, payload)


async def all_rows(db: Database) -> list[OutboxMessage]:
    scope = await system_scope(db)
    async with db.session(scope.tenant_ids) as session:
        return list((await session.scalars(select(OutboxMessage))).all())


async def row(db: Database, row_id: uuid.UUID) -> OutboxMessage:
    scope = await system_scope(db)
    async with db.session(scope.tenant_ids) as session:
        found = await session.get(OutboxMessage, row_id)
        assert found is not None
        return found


async def make_due(db: Database) -> None:
    scope = await system_scope(db)
    async with db.session(scope.tenant_ids, write=True) as session, session.begin():
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.state == SendState.PENDING)
            .values(next_attempt_at=utcnow())
        )


class Recorder:
    """A sender that records what it was given, failing while ``failures`` lasts."""

    def __init__(self, topic: str, failures: int = 0) -> None:
        self.topic, self.failures, self.calls = topic, failures, []
        register_sender(topic, self)

    async def __call__(self, payload: dict[str, Any], key: str) -> None:
        self.calls.append((payload, key))
        if self.failures > 0:
            self.failures -= 1
            raise RuntimeError("the other side said no")


def unique(prefix: str) -> str:
    return f"{prefix}.{uuid.uuid4().hex[:8]}"


@pytest.fixture
def fast(settings: Settings) -> Settings:
    """Tiny backoffs and a quick relay, so retries happen within a test."""
    return settings.model_copy(
        update={
            "outbox_backoff_seconds": 0.001,
            "outbox_backoff_max_seconds": 0.01,
            "outbox_max_attempts": 3,
            "relay_interval_seconds": 0.05,
            "outbox_visibility_seconds": 10.0,
        }
    )


@pytest.fixture
def broker(fast: Settings, db: Database) -> Iterator[Any]:
    stub = jobs.configure(Runtime.start(fast, db))
    stub.flush_all()
    yield stub
    stub.flush_all()


async def relay_and_deliver(db: Database, broker: Any, settings: Settings) -> list[str | None]:
    """One relay pass, then deliver what it moved, here (no worker)."""
    moved = await relay_once(db, broker)
    ids = [uuid.UUID(m.message_id) for m in _drain(broker)]
    assert len(ids) == moved
    return [await deliver(db, i, settings) for i in ids]


def _drain(broker: Any) -> list[Any]:
    from dramatiq import Message

    queue = broker.queues["outbox"]
    found = []
    while not queue.empty():
        found.append(Message.decode(queue.get_nowait()))
    return found


# --- writing ------------------------------------------------------------------------------------


async def test_a_rolled_back_transaction_leaves_no_message(db: Database) -> None:
    scope = await system_scope(db)
    async with db.session(scope.tenant_ids, write=True) as session:
        await session.begin()
        await enqueue(session, await town(db), "notify", "case-1", "k-rollback", {"n": 1})
        await session.flush()
        await session.rollback()
    assert await all_rows(db) == []


async def test_a_repeated_idempotency_key_is_a_no_op(db: Database) -> None:
    first = await write(db, "notify", "case-1", "k-once", n=1)
    again = await write(db, "notify", "case-1", "k-once", n=2)
    rows = await all_rows(db)
    assert [r.id for r in rows] == [first.id] == [again.id]
    assert rows[0].payload == {"n": 1}


async def test_notify_writes_a_notify_message_in_the_callers_transaction(db: Database) -> None:
    scope = await system_scope(db)
    async with db.session(scope.tenant_ids, write=True) as session, session.begin():
        await notify(
            session,
            await town(db),
            "card.issued",
            "来集镇 收到黄牌",
            {"card": "YELLOW"},
            "n1",
            "c1",
        )
    (found,) = await all_rows(db)
    assert (found.topic, found.idempotency_key, found.ordering_key) == ("notify", "n1", "c1")
    assert found.payload == {
        "kind": "card.issued",
        "text": "来集镇 收到黄牌",
        "data": {"card": "YELLOW"},
    }


async def test_the_webhook_notifier_posts_json_with_the_idempotency_key(
    settings: Settings,
) -> None:
    note = Notification("card.issued", "来集镇 收到黄牌", {"card": "YELLOW"}, "card-1")
    assert isinstance(notifier_for(settings), LogNotifier)
    async with webhook_sink() as sink:
        notifier = notifier_for(settings.model_copy(update={"notify_url": sink.url}))
        assert isinstance(notifier, WebhookNotifier)
        await notifier.send(note)
        await notifier.send(note)  # at least once: the receiver applies it once
        sink.fail(1, status=503)
        with pytest.raises(httpx.HTTPStatusError):
            await notifier.send(Notification("x", "失败", {}, "card-2"))
    assert [r.answer for r in sink.received] == ["ok", "duplicate", "503"]
    assert sink.effects == {
        "card-1": {
            "kind": "card.issued",
            "text": "来集镇 收到黄牌",
            "data": {"card": "YELLOW"},
            "idempotencyKey": "card-1",
        }
    }


# --- order per key ------------------------------------------------------------------------------


async def test_a_key_waits_until_its_older_message_is_delivered(
    db: Database, fast: Settings, broker: Any
) -> None:
    rec = Recorder(unique("test.order"))
    a1 = await write(db, rec.topic, "case-a", "a1", seq=1)
    a2 = await write(db, rec.topic, "case-a", "a2", seq=2)
    b1 = await write(db, rec.topic, "case-b", "b1", seq=1)

    assert await relay_once(db, broker) == 2  # a1 and b1; a2 waits behind a1
    assert {m.message_id for m in _drain(broker)} == {str(a1.id), str(b1.id)}
    assert (await row(db, a2.id)).state == SendState.PENDING
    assert await relay_once(db, broker) == 0  # a1 is ENQUEUED, not DELIVERED: a2 still waits

    assert await deliver(db, a1.id, fast) == SendState.DELIVERED
    assert await relay_once(db, broker) == 1
    assert [m.message_id for m in _drain(broker)] == [str(a2.id)]


async def test_a_dead_message_holds_back_the_rest_of_its_key(
    db: Database, fast: Settings, broker: Any
) -> None:
    rec = Recorder(unique("test.dead-order"), failures=99)
    first = await write(db, rec.topic, "case-a", "d1", seq=1)
    second = await write(db, rec.topic, "case-a", "d2", seq=2)
    for _ in range(fast.outbox_max_attempts):
        await asyncio.sleep(0.02)
        await relay_and_deliver(db, broker, fast)
    assert (await row(db, first.id)).state == SendState.DEAD
    assert await relay_once(db, broker) == 0
    assert (await row(db, second.id)).state == SendState.PENDING


async def test_two_relays_at_once_never_move_a_row_twice(
    db: Database, db_url: str, broker: Any
) -> None:
    scope = await system_scope(db)
    async with db.session(scope.tenant_ids, write=True) as session, session.begin():
        for n in range(300):
            await enqueue(session, await town(db), "notify", f"case-{n % 150}", f"two-{n}", {})
    other = Database(db_url)  # a second replica
    try:
        moved = await asyncio.gather(relay_all(db, broker, 40), relay_all(other, broker, 40))
    finally:
        await other.dispose()
    ids = [m.message_id for m in _drain(broker)]
    assert sum(moved) == len(ids) == len(set(ids)) == 150  # the first of each key, once


async def test_the_embedded_worker_delivers_each_key_in_order(db: Database, fast: Settings) -> None:
    topic = unique("test.embedded")
    seen: list[tuple[str, int]] = []

    async def slow_sender(payload: dict[str, Any], key: str) -> None:
        await asyncio.sleep(random.random() / 100)
        seen.append((payload["case"], payload["seq"]))

    register_sender(topic, slow_sender)
    for seq in range(6):
        for key in ("case-a", "case-b", "case-c"):
            await write(db, topic, key, f"{key}-{seq}", case=key, seq=seq)
    runtime = await jobs.start_embedded(Runtime.start(fast, db))
    try:
        async with asyncio.timeout(30):
            while any(r.state != SendState.DELIVERED for r in await all_rows(db)):
                await asyncio.sleep(0.05)
    finally:
        await jobs.stop(runtime)
    assert len(seen) == 18
    for key in ("case-a", "case-b", "case-c"):
        assert [s for k, s in seen if k == key] == list(range(6))


async def test_the_embedded_worker_boots_like_the_cli_and_has_its_own_engine(
    db: Database, fast: Settings
) -> None:
    from dramatiq.middleware import TimeLimit

    topic, seen = unique("test.boot"), {}

    async def sender(payload: dict[str, Any], key: str) -> None:
        seen["loop"] = asyncio.get_running_loop()
        seen["db"] = jobs.actor_database(jobs.current_settings())

    register_sender(topic, sender)
    await write(db, topic, "case-1", "boot-1")
    runtime = await jobs.start_embedded(Runtime.start(fast, db))
    try:
        (limit,) = [m for m in jobs.current_broker().middleware if isinstance(m, TimeLimit)]
        assert limit.manager.is_alive()  # process_boot ran: time limits are enforced
        async with asyncio.timeout(20):
            while (await all_rows(db))[0].state != SendState.DELIVERED:
                await asyncio.sleep(0.05)
    finally:
        await jobs.stop(runtime)
    assert seen["loop"] is not asyncio.get_running_loop()
    assert seen["db"] is not db and seen["db"].url == db.url


# --- retries, backoff, dead letters ---------------------------------------------------------


def test_backoff_doubles_with_jitter_and_is_capped() -> None:
    # The outbox's policy of the one backoff formula (hub.backoff): no pause, ever.
    settings = SimpleNamespace(outbox_backoff_seconds=2.0, outbox_backoff_max_seconds=600)
    policy, delay = backoff_policy(settings), backoff.delay
    assert [delay(n, policy, rand=lambda: 1.0) for n in range(1, 5)] == [2, 4, 8, 16]
    assert [delay(n, policy, rand=lambda: 0.0) for n in range(1, 5)] == [1, 2, 4, 8]
    assert delay(30, policy, rand=lambda: 1.0) == 600
    assert delay(1000, policy, rand=lambda: 0.0) == 300
    delays = {delay(3, policy) for _ in range(50)}
    assert len(delays) > 1 and all(4 <= d <= 8 for d in delays)


async def test_each_failed_attempt_waits_longer(
    db: Database, settings: Settings, broker: Any
) -> None:
    slow = settings.model_copy(
        update={"outbox_backoff_seconds": 1.0, "outbox_backoff_max_seconds": 1000.0}
    )
    rec = Recorder(unique("test.backoff"), failures=4)
    msg = await write(db, rec.topic, "case-1", "backoff-1")
    delays = []
    for attempt in range(1, 5):
        await make_due(db)
        assert await relay_and_deliver(db, broker, slow) == [SendState.PENDING]
        found = await row(db, msg.id)
        assert found.attempts == attempt
        assert "the other side said no" in (found.last_error or "")
        delays.append((found.next_attempt_at - utcnow()).total_seconds())
    for n, delay in enumerate(delays, start=1):
        ceiling = 2 ** (n - 1)
        assert ceiling / 2 - 0.5 <= delay <= ceiling
    assert all(later >= earlier - 0.1 for earlier, later in itertools.pairwise(delays))
    assert delays[-1] > delays[0] * 3


async def test_a_message_dies_after_its_last_attempt_with_one_alert(
    db: Database, fast: Settings, broker: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    rec = Recorder(unique("test.dies"), failures=99)
    msg = await write(db, rec.topic, "case-1", "dies-1")
    states = []
    for _ in range(fast.outbox_max_attempts + 2):
        await asyncio.sleep(0.02)
        states += await relay_and_deliver(db, broker, fast)
    assert states == [SendState.PENDING, SendState.PENDING, SendState.DEAD]
    dead = await row(db, msg.id)
    assert (dead.state, dead.attempts, len(rec.calls)) == (SendState.DEAD, 3, 3)
    assert dead.dead_at is not None

    # A stale broker message for the dead row does nothing, and alerts nothing.
    assert await deliver(db, msg.id, fast) is None
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    alerts = [r for r in caplog.records if "outbox.dead" in r.getMessage()]
    assert len(errors) == 1 and str(msg.id) in errors[0].getMessage()
    assert len(alerts) == 1 and "死信" in alerts[0].getMessage()


async def test_an_unknown_topic_fails_like_any_other_attempt(
    db: Database, fast: Settings, broker: Any
) -> None:
    msg = await write(db, unique("test.nobody"), "case-1", "nobody-1")
    assert await relay_and_deliver(db, broker, fast) == [SendState.PENDING]
    assert "no sender is registered" in ((await row(db, msg.id)).last_error or "")


async def test_a_stale_enqueued_message_is_handed_out_again(
    db: Database, fast: Settings, broker: Any
) -> None:
    rec = Recorder(unique("test.stale"))
    msg = await write(db, rec.topic, "case-1", "stale-1")
    assert await relay_once(db, broker) == 1
    _drain(broker)  # the worker that took it died: the broker message is gone
    assert await requeue_stale(db, 60) == 0  # not stale yet
    assert await requeue_stale(db, 0) == 1
    assert (await row(db, msg.id)).state == SendState.PENDING
    assert await relay_and_deliver(db, broker, fast) == [SendState.DELIVERED]
    assert await deliver(db, msg.id, fast) is None  # the lost copy, should it come back
    assert len(rec.calls) == 1


# --- GraphQL, ADMIN only --------------------------------------------------------------------

DEAD_LETTERS = "{ deadLetters { id topic orderingKey state attempts lastError } }"
LIST = """query($state: SendState) { outboxMessages(state: $state, first: 10) {
  id state attempts createdAt nextAttemptAt deliveredAt } }"""
RETRY = """mutation($id: ID!) { retryOutboxMessage(id: $id) {
  __typename
  ... on OutboxMessageResult { outboxMessage { id state attempts } }
  ... on UserError { code message field } } }"""


async def kill(db: Database, row_id: uuid.UUID) -> None:
    scope = await system_scope(db)
    async with db.session(scope.tenant_ids, write=True) as session, session.begin():
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == row_id)
            .values(state=SendState.DEAD, attempts=8, last_error="boom", dead_at=utcnow())
        )


async def test_admin_sees_dead_letters_and_retries_one(
    hub: Any, fast: Settings, broker: Any
) -> None:
    rec = Recorder(unique("test.retry"))
    msg = await write(hub.db, rec.topic, "case-9", "retry-1")
    await kill(hub.db, msg.id)

    (dead,) = (await hub.gql(DEAD_LETTERS))["deadLetters"]
    assert dead == {
        "id": str(msg.id),
        "topic": rec.topic,
        "orderingKey": "case-9",
        "state": "DEAD",
        "attempts": 8,
        "lastError": "boom",
    }
    done = (await hub.gql(RETRY, {"id": str(msg.id)}))["retryOutboxMessage"]
    assert done["outboxMessage"] == {"id": str(msg.id), "state": "PENDING", "attempts": 0}
    assert (await hub.gql(DEAD_LETTERS))["deadLetters"] == []

    assert await relay_and_deliver(hub.db, broker, fast) == [SendState.DELIVERED]
    (listed,) = (await hub.gql(LIST, {"state": "DELIVERED"}))["outboxMessages"]
    assert listed["state"] == "DELIVERED" and listed["deliveredAt"] is not None
    assert len(rec.calls) == 1


async def test_retry_refuses_unknown_and_live_messages(hub: Any) -> None:
    msg = await write(hub.db, "notify", "case-1", "live-1")
    for bad in (str(uuid.uuid4()), "not-an-id"):
        done = (await hub.gql(RETRY, {"id": bad}))["retryOutboxMessage"]
        assert done["code"] == "NOT_FOUND"
    done = (await hub.gql(RETRY, {"id": str(msg.id)}))["retryOutboxMessage"]
    assert done["code"] == "CONFLICT"
    assert (await row(hub.db, msg.id)).state == SendState.PENDING


@pytest.mark.parametrize("role", ["DISPATCHER", "SUPERVISOR", "OPERATOR", "VIEWER"])
async def test_only_admin_sees_or_retries_the_outbox(hub: Any, role: str) -> None:
    msg = await write(hub.db, "notify", "case-1", f"forbidden-{role}")
    await kill(hub.db, msg.id)
    tenants = ["laiji"] if role == "OPERATOR" else []
    token = hub.token(role, tenants)
    for query in (DEAD_LETTERS, LIST):
        payload = (await hub.post(query, token=token)).json()
        assert payload["data"] is None
        assert payload["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    done = (await hub.gql(RETRY, {"id": str(msg.id)}, token=token))["retryOutboxMessage"]
    assert done["code"] == "FORBIDDEN"
    assert (await row(hub.db, msg.id)).state == SendState.DEAD


# --- periodic jobs ------------------------------------------------------------------------------


async def test_a_periodic_job_runs_once_when_two_replicas_fire_together(db_url: str) -> None:
    runs = []

    async def job_fn(db: Database) -> None:
        runs.append(1)
        await asyncio.sleep(0.3)

    job = jobs.Periodic(unique("test.once"), 1.0, job_fn)
    replicas = [Database(db_url), Database(db_url)]
    try:
        if replicas[0].is_sqlite:  # one process: the local lock
            got = await asyncio.gather(*(jobs.run_periodic(d, job, Settings()) for d in replicas))
        else:  # two replicas: the advisory lock (held on for a while after the run)
            got = await asyncio.gather(*(jobs._with_advisory_lock(d, job, 0) for d in replicas))
            # The winner holds on after its run, so a replica whose tick comes late is skipped.
            winner = asyncio.create_task(jobs._with_advisory_lock(replicas[0], job, 1.0))
            await asyncio.sleep(0.5)  # its run (0.3 s) is over, its hold is not
            assert await jobs._with_advisory_lock(replicas[1], job, 0) is False
            assert await winner is True
            assert await jobs._with_advisory_lock(replicas[1], job, 0) is True
            del runs[1:]
    finally:
        for d in replicas:
            await d.dispose()
    assert sorted(got) == [False, True]
    assert len(runs) == 1


async def test_for_each_tenant_keeps_going_after_one_town_fails(db: Database) -> None:
    seen = []

    async def work(tenant: Any) -> None:
        seen.append(tenant.code)
        if tenant.code == "laiji":
            raise RuntimeError("来集镇 failed")

    failed = await jobs.for_each_tenant(db, work)
    assert failed == ["laiji"]
    assert len(seen) == len((await system_scope(db)).directory.tenants) > 2


async def test_relay_moves_nothing_that_is_not_due(db: Database, broker: Any) -> None:
    msg = await write(db, "notify", "case-1", "later-1")
    scope = await system_scope(db)
    async with db.session(scope.tenant_ids, write=True) as session, session.begin():
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == msg.id)
            .values(next_attempt_at=utcnow() + timedelta(minutes=5))
        )
    assert await relay_once(db, broker) == 0
    async with db.session(scope.tenant_ids) as session:
        count = await session.scalar(
            select(func.count(OutboxMessage.id)).where(OutboxMessage.state == SendState.PENDING)
        )
    assert count == 1


async def test_delivered_messages_are_pruned_after_the_retention(
    db: Database, fast: Settings, broker: Any
) -> None:
    rec = Recorder(unique("test.prune"))
    old = await write(db, rec.topic, "case-1", "prune-old")
    await write(db, rec.topic, "case-2", "prune-recent")
    await relay_and_deliver(db, broker, fast)
    await relay_and_deliver(db, broker, fast)
    assert await prune_delivered(db, 1) == 0  # delivered just now: kept
    scope = await system_scope(db)
    async with db.session(scope.tenant_ids, write=True) as session, session.begin():
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == old.id)
            .values(delivered_at=utcnow() - timedelta(days=2))
        )
    assert await prune_delivered(db, 1) == 1
    assert {r.idempotency_key for r in await all_rows(db)} == {"prune-recent"}


async def test_a_drain_ends_when_a_full_batch_only_waits_behind_older_rows(
    db: Database, broker: Any
) -> None:
    scope = await system_scope(db)
    async with db.session(scope.tenant_ids, write=True) as session, session.begin():
        for n in range(12):
            await enqueue(session, await town(db), "notify", "one-case", f"tie-{n}", {})
        await session.flush()
        await session.execute(update(OutboxMessage).values(next_attempt_at=utcnow()))
    assert await relay_all(db, broker, 4) == 1  # the first; the rest wait for it
    assert await relay_all(db, broker, 4) == 0  # and a drain of waiting rows ends
