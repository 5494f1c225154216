"""The job system: the dramatiq broker, the worker, and periodic jobs on APScheduler.

Three broker modes from SANWANG_BROKER_URL: ``embedded`` (an in-process StubBroker; the worker
and the scheduler run inside ``sanwang serve``), ``redis://...`` and ``amqp://...`` (``sanwang
worker`` and ``sanwang scheduler`` run as their own processes). The outbox table, not the
broker, is the source of truth: an in-memory broker that loses its messages on restart, or a
Redis that is down for a while, delays delivery but loses nothing.

Traps handled here (notes/stack.md §2.5, §4):
- an actor binds to the broker current when its module is imported, and dramatiq invents a
  RabbitMQ broker if none is set: ``configure`` sets the broker, then imports the actors;
- ``process_boot`` is emitted only by dramatiq's own CLI, and without it time limits are
  silently off: ``boot`` emits it for our in-process workers;
- async actors run on the AsyncIO middleware's own event loop, and an engine is bound to its
  loop: actors get their own Database per loop (``actor_database``), never the web app's.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import logging
import signal
import threading
import time
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import dramatiq
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger
from dramatiq.asyncio import get_event_loop_thread
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import AsyncIO, Middleware
from sqlalchemy import text

from hub.config import Settings
from hub.db import Database
from hub.notify.notifier import install as install_notifier
from hub.outbox.relay import prune_delivered, relay_all, requeue_stale
from hub.plugins import connector_job_modules, install_connectors
from hub.runtime import Runtime, open_database
from hub.tenancy.service import TenantInfo, directory

log = logging.getLogger("hub.jobs")

EMBEDDED = "embedded"
# The hub's modules that register periodic jobs with @periodic, imported when a scheduler
# starts (the card sweep adds itself here); connectors name theirs (hub.plugins.Connector.jobs).
PERIODIC_MODULES: list[str] = ["hub.supervision.jobs", "hub.monitoring.jobs"]


# --- the broker ---------------------------------------------------------------------------------


def make_broker(settings: Settings) -> dramatiq.Broker:
    """A new broker for SANWANG_BROKER_URL, with the AsyncIO middleware (async actors)."""
    url = settings.broker_url
    if url == EMBEDDED:
        broker: dramatiq.Broker = StubBroker()
    elif url.startswith(("redis://", "rediss://", "unix://")):
        from dramatiq.brokers.redis import RedisBroker

        broker = RedisBroker(url=url, namespace=settings.broker_namespace)
    elif url.startswith(("amqp://", "amqps://")):
        from dramatiq.brokers.rabbitmq import RabbitmqBroker

        broker = RabbitmqBroker(url=url)
    else:
        raise ValueError(
            f"SANWANG_BROKER_URL must be embedded, redis://... or amqp://..., not {url!r}"
        )
    broker.add_middleware(AsyncIO())
    # Added after AsyncIO, so its after_worker_shutdown runs first, while the loop still runs.
    broker.add_middleware(_ActorDatabases())
    return broker


@dataclass
class _State:
    broker: dramatiq.Broker | None = None
    key: tuple[str, str] | None = None
    runtime: Runtime | None = None
    booted: set[int] = field(default_factory=set)


_state = _State()


def configure(runtime: Runtime) -> dramatiq.Broker:
    """The process's broker, set once, then the actors imported onto it. Called again with the
    same broker it only takes the new runtime (tests run many databases on one broker)."""
    settings = runtime.settings
    key = (settings.broker_url, settings.broker_namespace)
    if _state.broker is None:
        _state.broker, _state.key = make_broker(settings), key
        dramatiq.set_broker(_state.broker)
    elif _state.key != key:
        assert _state.key is not None  # set together with the broker
        raise RuntimeError(f"the broker is already {_state.key[0]!r}: one broker per process")
    _state.runtime = runtime
    install_notifier(settings)
    install_connectors(runtime)
    importlib.import_module("hub.outbox.actors")
    return _state.broker


def current_broker() -> dramatiq.Broker:
    if _state.broker is None:
        raise RuntimeError("the job system is not configured: call hub.jobs.configure first")
    return _state.broker


def current_runtime() -> Runtime:
    """The runtime the job system was configured with (actors and periodic jobs read it)."""
    if _state.runtime is None:
        raise RuntimeError("the job system is not configured: call hub.jobs.configure first")
    return _state.runtime


def current_settings() -> Settings:
    return current_runtime().settings


def boot(broker: dramatiq.Broker) -> None:
    """What dramatiq's CLI does at process start (time limits, shutdown notifications), once."""
    if id(broker) not in _state.booted:
        broker.emit_after("process_boot")
        _state.booted.add(id(broker))


# --- actors' databases --------------------------------------------------------------------------

_actor_dbs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, Database]] = (
    weakref.WeakKeyDictionary()
)


def actor_database(settings: Settings) -> Database:
    """A Database of the running loop (the worker's), made on first use and kept per loop."""
    per_loop = _actor_dbs.setdefault(asyncio.get_running_loop(), {})
    db = per_loop.get(settings.database_url)
    if db is None:
        db = per_loop[settings.database_url] = open_database(settings, settings.worker_threads)
    return db


async def dispose_actor_databases() -> None:
    for db in _actor_dbs.pop(asyncio.get_running_loop(), {}).values():
        await db.dispose()


class _ActorDatabases(Middleware):
    """Closes the actors' engines on their own loop when the worker stops."""

    def after_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        thread = get_event_loop_thread()
        if thread is not None and thread.loop.is_running():
            thread.run_coroutine(dispose_actor_databases())


# --- the worker -----------------------------------------------------------------------------


def start_worker(
    broker: dramatiq.Broker, settings: Settings, *, worker_timeout: int = 1000
) -> dramatiq.Worker:
    boot(broker)
    worker = dramatiq.Worker(
        broker, worker_threads=settings.worker_threads, worker_timeout=worker_timeout
    )
    worker.start()
    return worker


def stop_worker(worker: dramatiq.Worker, settings: Settings) -> None:
    """Let in-flight messages finish (a send is bounded by half the visibility timeout);
    prefetched ones go back to the broker."""
    worker.stop(timeout=int((settings.outbox_visibility_seconds / 2 + 5) * 1000))
    # Worker.start added a middleware that opens consumers for queues declared later; a stopped
    # worker's must not linger on a broker that lives on (embedded mode, tests).
    broker = worker.broker
    broker.middleware[:] = [
        m for m in broker.middleware if getattr(m, "worker", None) is not worker
    ]


def run_worker(runtime: Runtime) -> None:
    """``sanwang worker``: consume until SIGTERM or SIGINT, then stop cleanly."""
    settings = runtime.settings
    worker = start_worker(configure(runtime), settings)
    stopping = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.set())
    log.info("worker running on %s", settings.broker_url.split("@")[-1])
    while not stopping.wait(1.0):
        pass
    log.info("worker stopping: finishing in-flight messages")
    stop_worker(worker, settings)


# --- periodic jobs --------------------------------------------------------------------------

JobFn = Callable[[Database], Awaitable[None]]
# Ticks are aligned to this instant on every replica, so replicas fire together and one wins.
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
MAX_HOLD_SECONDS = 5.0


@dataclass(frozen=True)
class Periodic:
    name: str
    seconds: float | Callable[[Settings], float]
    fn: JobFn

    def interval(self, settings: Settings) -> float:
        return self.seconds(settings) if callable(self.seconds) else self.seconds


_periodic: dict[str, Periodic] = {}
_local_locks: dict[str, threading.Lock] = {}


def periodic(name: str, seconds: float | Callable[[Settings], float]) -> Callable[[JobFn], JobFn]:
    """Register ``async fn(db)`` to run every ``seconds`` (or ``seconds(settings)``), once per
    cluster. Jobs must be idempotent, and loop over tenants themselves (``for_each_tenant``)."""

    def register(fn: JobFn) -> JobFn:
        _periodic[name] = Periodic(name, seconds, fn)
        return fn

    return register


def _lock_key(name: str) -> int:
    digest = hashlib.blake2b(f"sanwang.periodic:{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


async def _with_advisory_lock(db: Database, job: Periodic, hold: float) -> bool:
    """Run under a PostgreSQL session-level advisory lock on a dedicated connection. After the
    run the lock is kept until ``hold`` has passed, so a replica whose tick came a little later
    finds it taken: the job fires once per cluster, not once per replica."""
    key = {"k": _lock_key(job.name)}
    async with db.engine.connect() as conn:
        got = await conn.scalar(text("select pg_try_advisory_lock(:k)"), key)
        await conn.commit()  # end the implicit transaction; a session-level lock outlives it
        if not got:
            return False
        started = time.monotonic()
        try:
            await job.fn(db)
            await asyncio.sleep(max(0.0, started + hold - time.monotonic()))
        finally:
            try:
                await conn.execute(text("select pg_advisory_unlock(:k)"), key)
                await conn.commit()
            except BaseException:
                await conn.invalidate()  # never hand a pooled connection back with the lock
                raise
    return True


async def run_periodic(db: Database, job: Periodic, settings: Settings) -> bool:
    """Run a job unless it is running already, here or (PostgreSQL) on another replica."""
    local = _local_locks.setdefault(job.name, threading.Lock())
    if not local.acquire(blocking=False):
        return False
    try:
        if db.is_sqlite:  # one process owns an embedded SQLite hub: the local lock suffices
            await job.fn(db)
            return True
        hold = min(job.interval(settings) / 2, MAX_HOLD_SECONDS)
        return await _with_advisory_lock(db, job, hold)
    finally:
        local.release()


async def for_each_tenant(db: Database, fn: Callable[[TenantInfo], Awaitable[None]]) -> list[str]:
    """Run ``fn`` per tenant: one town's failure is logged and does not stop the others.
    Returns the codes of the tenants that failed."""
    failed = []
    for tenant in (await directory(db)).tenants:
        try:
            await fn(tenant)
        except Exception:
            log.exception("periodic work failed for tenant %s", tenant.code)
            failed.append(tenant.code)
    return failed


@periodic("outbox.relay", seconds=lambda s: s.relay_interval_seconds)
async def relay_outbox(db: Database) -> None:
    """Hand stale ENQUEUED rows out again, then move every due row into the broker."""
    settings = current_settings()
    await requeue_stale(db, settings.outbox_visibility_seconds)
    await relay_all(db, current_broker())


@periodic("outbox.prune", seconds=3600)
async def prune_outbox(db: Database) -> None:
    """Keep the outbox table to what is still useful: delivered rows go after a while."""
    pruned = await prune_delivered(db, current_settings().outbox_retention_days)
    if pruned:
        log.info("pruned %d delivered outbox message(s)", pruned)


@dataclass
class Scheduler:
    aps: AsyncIOScheduler
    running: set[asyncio.Task[Any]] = field(default_factory=set)


def start_scheduler(settings: Settings, db: Database) -> Scheduler:
    """Start every registered periodic job on the running loop."""
    for name in [*PERIODIC_MODULES, *connector_job_modules()]:
        importlib.import_module(name)
    sched = Scheduler(AsyncIOScheduler(timezone=UTC))
    # APScheduler logs two INFO lines per run: a 1 s relay would fill the log with them.
    logging.getLogger("apscheduler.executors.default").setLevel(logging.WARNING)

    async def run(job: Periodic) -> None:
        task = asyncio.current_task()
        assert task is not None
        sched.running.add(task)
        try:
            await run_periodic(db, job, settings)
        except Exception:
            log.exception("periodic job %s failed", job.name)
        finally:
            sched.running.discard(task)

    for job in _periodic.values():
        trigger = IntervalTrigger(seconds=job.interval(settings), start_date=EPOCH)
        # max_instances > 1: an overlapping tick returns at once on the local lock, quietly.
        sched.aps.add_job(
            run, trigger, args=[job], id=job.name, name=job.name, max_instances=3, coalesce=True
        )
    sched.aps.start()
    return sched


async def stop_scheduler(sched: Scheduler, timeout: float = 10.0) -> None:
    """No new runs; let running ones finish (cancelled after ``timeout``)."""
    sched.aps.pause()
    if sched.running:
        _, late = await asyncio.wait(set(sched.running), timeout=timeout)
        for task in late:
            task.cancel()
    sched.aps.shutdown(wait=False)
    await asyncio.sleep(0)  # AsyncIOScheduler shuts down in a callback on the loop


def run_scheduler(runtime: Runtime) -> None:
    """``sanwang scheduler``: run periodic jobs until SIGTERM or SIGINT (``runtime.db`` is
    built for this process: its engine binds to the loop started here)."""
    settings, db = runtime.settings, runtime.db

    async def main() -> None:
        configure(runtime)
        sched = start_scheduler(settings, db)
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stopping.set)
        log.info("scheduler running: %s", ", ".join(sorted(_periodic)))
        await stopping.wait()
        log.info("scheduler stopping")
        await stop_scheduler(sched)
        await db.dispose()

    asyncio.run(main())


# --- embedded mode: the worker and the scheduler inside `sanwang serve` ----------------------


@dataclass
class EmbeddedRuntime:
    worker: dramatiq.Worker | None = None
    scheduler: Scheduler | None = None
    settings: Settings | None = None


async def start_embedded(runtime: Runtime) -> EmbeddedRuntime:
    """Start the in-process worker and scheduler when the broker is embedded; with a real
    broker nothing runs here (deployments run `sanwang worker` and `sanwang scheduler`).
    ``runtime.db`` is the app's (the scheduler runs on the app's loop); actors get their own."""
    settings, db = runtime.settings, runtime.db
    if settings.broker_url != EMBEDDED:
        return EmbeddedRuntime()
    broker = configure(runtime)
    # The in-memory broker starts empty: rows ENQUEUED by an earlier run were lost with it.
    await requeue_stale(db, 0)
    worker = await asyncio.to_thread(start_worker, broker, settings, worker_timeout=100)
    return EmbeddedRuntime(worker, start_scheduler(settings, db), settings)


async def stop(runtime: EmbeddedRuntime) -> None:
    if runtime.scheduler is not None:
        await stop_scheduler(runtime.scheduler)
    if runtime.worker is not None and runtime.settings is not None:
        await asyncio.to_thread(stop_worker, runtime.worker, runtime.settings)


async def broker_problem(settings: Settings) -> str | None:
    """Why the broker cannot be reached, or None (for /readyz). The embedded one always can."""
    url = settings.broker_url
    if url == EMBEDDED:
        return None
    try:
        if url.startswith("redis"):
            import redis

            client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
            await asyncio.to_thread(client.ping)
            return None
        from urllib.parse import urlsplit

        parts = urlsplit(url)
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(parts.hostname or "127.0.0.1", parts.port or 5672), 2
        )
        writer.close()
        return None
    except Exception as exc:  # any failure means not ready; say which
        return f"broker: {type(exc).__name__}"
