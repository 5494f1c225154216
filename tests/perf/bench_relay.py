"""Outbox relay throughput: messages per second moved from the outbox table into Redis.

    python -m tests.perf.bench_relay \
        --url postgresql+asyncpg://postgres@127.0.0.1:5432/sanwang_perf \
        [--redis redis://127.0.0.1:6379/0] [--messages 20000] [--keys N] [--batch 500] \
        [--relays 1] [--no-fail]

The database is migrated and given the demo tenants if it needs them (it is created if
missing). ``--messages`` PENDING rows are written (``--keys`` ordering keys, default one per
message: a key only moves its oldest undelivered message, so fewer keys move fewer rows per
pass), then ``relay_all`` runs (``--relays`` of them at once, on PostgreSQL each takes rows the
others have not locked) until every row is ENQUEUED. The figure is rows / wall-clock seconds of
that phase: claim (SELECT ... FOR UPDATE SKIP LOCKED, UPDATE, COMMIT) plus one Redis enqueue per
row. The Redis queue is then checked to hold each message exactly once. The bench's rows and
its Redis namespace are removed afterwards. Exit 1 below the budget (1,000 msg/s) unless
``--no-fail``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from datetime import timedelta

import redis
from sqlalchemy import delete, func, insert, select

from hub.auth import system_scope
from hub.config import Settings
from hub.db import Database, utcnow
from hub.demo.seed import seed_demo
from hub.jobs import make_broker
from hub.migrations import upgrade
from hub.outbox.model import OutboxMessage, SendState
from hub.outbox.relay import OUTBOX_QUEUE, relay_all
from tests.perf.generate import prepare_database

BUDGET_MSG_S = 1000.0
TOPIC = "bench.relay"
CHUNK = 2000


async def write_rows(db: Database, count: int, keys: int) -> None:
    scope = await system_scope(db)
    town = scope.directory.by_code["laiji"].id
    start = utcnow() - timedelta(minutes=1)
    # As enqueue writes them: due at once, next_attempt_at = created_at, one microsecond apart.
    rows = [
        {
            "id": uuid.uuid4(),
            "tenant_id": town,
            "topic": TOPIC,
            "ordering_key": f"bench-{i % keys}",
            "idempotency_key": f"bench-{uuid.uuid4().hex}",
            "payload": {"n": i},
            "state": SendState.PENDING,
            "attempts": 0,
            "created_at": start + timedelta(microseconds=i),
            "next_attempt_at": start + timedelta(microseconds=i),
        }
        for i in range(count)
    ]
    for at in range(0, count, CHUNK):
        async with db.session(scope.tenant_ids, write=True) as session, session.begin():
            await session.execute(insert(OutboxMessage), rows[at : at + CHUNK])


async def clear_rows(db: Database) -> None:
    scope = await system_scope(db)
    async with db.session(scope.tenant_ids, write=True) as session, session.begin():
        await session.execute(delete(OutboxMessage).where(OutboxMessage.topic == TOPIC))


async def count_enqueued(db: Database) -> int:
    scope = await system_scope(db)
    async with db.session(scope.tenant_ids) as session:
        return await session.scalar(
            select(func.count(OutboxMessage.id)).where(
                OutboxMessage.topic == TOPIC, OutboxMessage.state == SendState.ENQUEUED
            )
        )


async def run(args: argparse.Namespace) -> int:
    await prepare_database(args.url, fresh=False)
    await asyncio.to_thread(upgrade, args.url)
    namespace = f"sanwang-bench-{uuid.uuid4().hex[:8]}"
    settings = Settings(
        database_url=args.url, broker_url=args.redis, broker_namespace=namespace, _env_file=None
    )
    db = Database(args.url, app_role=settings.app_role, pool_size=max(4, args.relays * 2))
    client = redis.Redis.from_url(args.redis)
    try:
        await seed_demo(db)
        await clear_rows(db)
        await write_rows(db, args.messages, args.keys or args.messages)
        brokers = [make_broker(settings) for _ in range(args.relays)]
        started = time.perf_counter()
        moved = await asyncio.gather(*(relay_all(db, b, args.batch) for b in brokers))
        seconds = time.perf_counter() - started
        in_redis = client.hlen(f"{namespace}:{OUTBOX_QUEUE}.msgs")
        listed = client.lrange(f"{namespace}:{OUTBOX_QUEUE}", 0, -1)
        enqueued = await count_enqueued(db)
    finally:
        keys = list(client.scan_iter(f"{namespace}*"))
        if keys:
            client.delete(*keys)
        await clear_rows(db)
        await db.dispose()

    total = sum(moved)
    rate = total / seconds
    expected = args.keys or args.messages
    print(f"relay: {total} messages moved into Redis in {seconds:.2f} s = {rate:,.0f} msg/s")
    print(f"  relays: {args.relays} (moved {moved}), batch {args.batch}, keys {expected}")
    print(f"  rows ENQUEUED: {enqueued}; in Redis: {in_redis}, distinct ids {len(set(listed))}")
    ok = total == enqueued == in_redis == len(set(listed)) == len(listed) == expected
    if not ok:
        print("FAIL: the rows moved, the rows ENQUEUED and the messages in Redis differ")
    if rate < BUDGET_MSG_S:
        print(f"FAIL: below the budget of {BUDGET_MSG_S:,.0f} msg/s")
        ok = ok and args.no_fail
    return 0 if ok else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="postgresql+asyncpg://postgres@host/db")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--keys", type=int, default=0, help="ordering keys (default: one each)")
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--relays", type=int, default=1, help="relays running at once")
    parser.add_argument("--no-fail", action="store_true", help="exit 0 even below the budget")
    sys.exit(asyncio.run(run(parser.parse_args())))


if __name__ == "__main__":
    main()
