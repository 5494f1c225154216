"""The reading writer: what devices upload, stored in batches (group commit).

Every transport (the HJ 212 TCP listener, POST /ingest/hj212, the demo devices) hands the
writer an :class:`Upload` and awaits its :class:`Outcome`. Uploads that arrive while a batch
is being written wait for the next one, so one transaction carries the readings of many
packets and many devices: throughput does not depend on one commit per packet, and a device
is only answered (9014) once its readings are committed.

In the same transaction the writer keeps each point's ``last_seen_at`` and newest values, holds
packets from unknown devices in quarantine, and hands every value to the alarm episodes
(``hub.monitoring.episodes``, which holds their rules): an episode that starts becomes a case,
one that ends is written on its case. The alarm state is only taken over after the commit, so
a failed batch leaves it as it was (the devices, unanswered, send again).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import functools
import logging
import threading
import time
import uuid
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

from asyncpg.pgproto.pgproto import UUID as PgUUID  # type: ignore[import-untyped, unused-ignore]
from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from hub.auth import Scope, scope_for
from hub.config import Settings
from hub.db import Database, utcnow
from hub.metrics import READING_BATCH_SECONDS, READINGS_STORED
from hub.monitoring import episodes
from hub.monitoring.alarms import Limit, Watch, limits_of
from hub.monitoring.model import (
    AlarmEpisode,
    AlarmKind,
    Interval,
    MonitoringPoint,
    PointKind,
    QuarantinedPacket,
    QuarantineReason,
)
from hub.monitoring.service import insert_ignoring_repeats
from hub.tenancy.service import directory

log = logging.getLogger("hub.monitoring.writer")

# How often the cached registry is read again (limits and PWs changed by re-registration).
REGISTRY_TTL = 30.0
# With several listener processes (each a writer of its own), a point heard from after this
# long is taken over afresh: its open episodes and newest values are read from the database,
# for another process may have written them meanwhile (its device reconnected there).
HANDOFF_SECONDS = 60.0
# An unknown MN is looked up again at most this often (a device sending every second while
# nobody has registered it must not cost a query per packet).
UNKNOWN_RECHECK = 5.0


_TEXT = {interval: interval.value for interval in Interval}  # enum .value is a slow property


class Outcome(enum.StrEnum):
    STORED = "STORED"
    UNKNOWN_MN = "UNKNOWN_MN"
    BAD_PASSWORD = "BAD_PASSWORD"


class Sample(NamedTuple):
    """One value as a device sent it, in the hub's words (the connector translates packets).
    A tuple: tens of thousands are made a second."""

    pollutant: str
    interval: Interval
    at: datetime  # aware
    value: float | None
    min: float | None = None
    max: float | None = None
    flag: str | None = None
    normal: bool = True  # the flag means "normal" in the device's edition

    def as_json(self) -> dict[str, Any]:
        return {
            "pollutant": self.pollutant,
            "interval": self.interval.value,
            "at": self.at.isoformat(),
            "value": self.value,
            "min": self.min,
            "max": self.max,
            "flag": self.flag,
            "normal": self.normal,
        }


@dataclass(frozen=True, slots=True)
class Upload:
    """One device message: who sent it and the values it carried."""

    mn: str
    password: str | None
    samples: Sequence[Sample]
    cn: str | None = None
    raw: str = ""  # the packet(s) as received, kept only in quarantine
    peer: str | None = None


@dataclass(slots=True)
class Point:
    """The writer's copy of a registered point."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    mn: str
    name: str
    password: str | None
    limits: dict[str, Limit]
    row: MonitoringPoint  # detached copy, for opening episodes
    last_seen_at: datetime | None
    latest: dict[str, Any]


class _Ticket:
    """What one ``submit_many`` call waits for: all its items written (or the first failure).
    One future per call, not per upload, and settled from the submitter's own loop."""

    __slots__ = ("done", "loop", "remaining")

    def __init__(self, loop: asyncio.AbstractEventLoop, count: int) -> None:
        self.done: asyncio.Future[None] = loop.create_future()
        self.loop = loop  # the submitter's: the future is resolved there
        self.remaining = count

    def settle(self, error: BaseException | None) -> None:
        """One of its items is written (``error`` None) or failed; on the submitter's loop."""
        done = self.done
        if done.done():  # failed already, or the submitter gave up (its connection closed)
            return
        if error is not None:
            done.set_exception(error)
            return
        self.remaining -= 1
        if not self.remaining:
            done.set_result(None)


@dataclass(slots=True)
class _Item:
    point: Point | None
    upload: Upload
    reason: QuarantineReason | None
    ticket: _Ticket
    received_at: datetime = field(default_factory=utcnow)


def _resolve(items: Iterable[_Item], error: BaseException | None = None) -> None:
    """Tell the submitters: one wake-up per submitter loop for the whole batch (a
    ``call_soon_threadsafe`` writes to that loop's self-pipe: per item it cost a system call and
    a wake-up of the listener per packet)."""
    by_loop: dict[asyncio.AbstractEventLoop, list[_Ticket]] = {}
    for item in items:
        ticket = item.ticket
        tickets = by_loop.get(ticket.loop)
        if tickets is None:
            tickets = by_loop[ticket.loop] = []
        tickets.append(ticket)
    for loop, tickets in by_loop.items():
        with contextlib.suppress(RuntimeError):  # the submitter's loop is gone: nobody waits
            loop.call_soon_threadsafe(_settle, tickets, error)


def _settle(tickets: list[_Ticket], error: BaseException | None) -> None:
    for ticket in tickets:
        ticket.settle(error)


class ReadingWriter:
    """Admits uploads on the caller's event loop (registry lookups, quarantine decisions) and
    writes them on a thread of its own, with its own event loop and connections: the batch's
    round trips to the database never wait behind the parsing of the next packets."""

    def __init__(self, db: Database, settings: Settings, *, handoff: bool = False) -> None:
        self.db = db
        self.settings = settings
        self.handoff = handoff  # other processes write readings too (HANDOFF_SECONDS)
        self._heard: dict[uuid.UUID, float] = {}  # point -> when this writer last wrote for it
        self._points: dict[str, Point] = {}
        self._loaded_at = 0.0
        self._unknown_checked: dict[str, float] = {}
        self._scope: Scope | None = None
        self._alarms = episodes.OverLimit()
        self._queue: list[_Item] = []
        self._queue_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None  # the writer thread's
        self._wake: asyncio.Event | None = None
        self._wdb: Database | None = None
        self._closing = False
        self._load_lock = asyncio.Lock()
        self._start_lock = asyncio.Lock()

    # -- life

    async def start(self) -> None:
        async with self._start_lock:
            if self._thread is not None:
                return
            await self._load(force=True)
            ready = threading.Event()
            failed: list[BaseException] = []
            self._closing = False
            self._thread = threading.Thread(
                target=self._thread_main, args=(ready, failed), name="reading-writer", daemon=True
            )
            self._thread.start()
            await asyncio.to_thread(ready.wait)
            if failed:
                self._thread = None
                raise failed[0]

    async def stop(self) -> None:
        """Write what is queued, then stop."""
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        self._closing = True
        loop.call_soon_threadsafe(self._signal)
        await asyncio.to_thread(thread.join)
        self._thread = self._loop = None

    def _thread_main(self, ready: threading.Event, failed: list[BaseException]) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._wake = asyncio.Event()
            self._wdb = self.db.sibling(pool_size=2)
            try:
                await self._load_open_episodes()
            except BaseException as exc:
                failed.append(exc)
                ready.set()
                await self._wdb.dispose()
                return
            ready.set()
            try:
                await self._run()
            finally:
                await self._wdb.dispose()

        asyncio.run(main())

    def _signal(self) -> None:
        assert self._wake is not None
        self._wake.set()

    # -- the front door

    async def submit(self, upload: Upload) -> Outcome:
        """Store an upload; returns once it is committed (or quarantined)."""
        return (await self.submit_many([upload]))[0]

    async def submit_many(self, uploads: Sequence[Upload], towns: Towns = None) -> list[Outcome]:
        """Several uploads (one read of a connection), committed in one batch if they fit.
        ``towns``: those a town-scoped token may send for; a device of another town is refused
        as an unknown one, and not quarantined (its packets are not the sender's to keep)."""
        if self._thread is None:
            await self.start()
        admitted = []
        outcomes = []
        if time.monotonic() - self._loaded_at >= REGISTRY_TTL:
            await self._load()
        for upload in uploads:
            point, reason = self._known(upload)
            if point is None or reason is not None:
                point, reason = await self._admit(upload)
            if _foreign(point, towns):
                outcomes.append(Outcome.UNKNOWN_MN)
                continue
            admitted.append((point, upload, reason))
            outcomes.append(Outcome(reason.value) if reason is not None else Outcome.STORED)
        if not admitted:
            return outcomes
        ticket = _Ticket(asyncio.get_running_loop(), len(admitted))
        now = utcnow()
        items = [_Item(point, upload, reason, ticket, now) for point, upload, reason in admitted]
        with self._queue_lock:
            self._queue.extend(items)
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._signal)
        await ticket.done
        return outcomes

    async def check(
        self, mn: str, password: str | None, towns: Towns = None
    ) -> tuple[uuid.UUID | None, Outcome]:
        """Would an upload from ``mn`` with ``password`` be stored, and in which town? (The
        parts of a split message are checked before they are kept.)"""
        point, reason = await self._admit(Upload(mn, password, ()))
        if _foreign(point, towns):
            return None, Outcome.UNKNOWN_MN
        if point is None or reason is not None:
            return None, Outcome(reason.value if reason is not None else Outcome.UNKNOWN_MN)
        return point.tenant_id, Outcome.STORED

    def _known(self, upload: Upload) -> tuple[Point | None, QuarantineReason | None]:
        """The common case without awaiting anything: a cached point, its PW right."""
        point = self._points.get(upload.mn)
        if point is None:
            return None, QuarantineReason.UNKNOWN_MN
        if point.password is not None and upload.password != point.password:
            return point, QuarantineReason.BAD_PASSWORD
        return point, None

    async def _admit(self, upload: Upload) -> tuple[Point | None, QuarantineReason | None]:
        await self._load()
        point = self._points.get(upload.mn)
        if point is None and self._may_recheck(upload.mn):
            point = await self._reload_one(upload.mn)
        if point is None:
            return None, QuarantineReason.UNKNOWN_MN
        if point.password is not None and upload.password != point.password:
            if self._may_recheck(upload.mn):
                point = await self._reload_one(upload.mn) or point
            if point.password is not None and upload.password != point.password:
                return point, QuarantineReason.BAD_PASSWORD
        return point, None

    def _may_recheck(self, mn: str) -> bool:
        now = time.monotonic()
        if now - self._unknown_checked.get(mn, -UNKNOWN_RECHECK) < UNKNOWN_RECHECK:
            return False
        self._unknown_checked[mn] = now
        return True

    # -- the registry cache

    async def _load(self, *, force: bool = False) -> None:
        if not force and time.monotonic() - self._loaded_at < REGISTRY_TTL:
            return
        async with self._load_lock:
            if not force and time.monotonic() - self._loaded_at < REGISTRY_TTL:
                return
            found = await directory(self.db)
            self._scope = scope_for(episodes.MONITORING, found)
            async with self.db.session(self._scope.tenant_ids) as session:
                rows = list(await session.scalars(select(MonitoringPoint)))
            fresh = {row.mn: self._point_of(row) for row in rows}
            for mn, point in fresh.items():
                cached = self._points.get(mn)
                if cached is not None:  # what this process wrote is newer than what it read
                    seen = [t for t in (cached.last_seen_at, point.last_seen_at) if t]
                    point.last_seen_at = max(seen, default=None)
                    point.latest = cached.latest
            self._points = fresh
            self._loaded_at = time.monotonic()

    async def _reload_one(self, mn: str) -> Point | None:
        assert self._scope is not None
        async with self.db.session(self._scope.tenant_ids) as session:
            row = await session.scalar(select(MonitoringPoint).where(MonitoringPoint.mn == mn))
        if row is None:
            return None
        if row.tenant_id not in self._scope.tenant_ids:  # a town created since: read again
            await self._load(force=True)
            return self._points.get(mn)
        point = self._point_of(row)
        self._points[mn] = point
        return point

    @staticmethod
    def _point_of(row: MonitoringPoint) -> Point:
        return Point(
            id=row.id,
            tenant_id=row.tenant_id,
            mn=row.mn,
            name=row.name,
            password=row.password,
            limits=limits_of(row.limits),
            row=row,
            last_seen_at=row.last_seen_at,
            latest=dict(row.latest or {}),
        )

    async def _load_open_episodes(self) -> None:
        assert self._scope is not None and self._wdb is not None
        async with self._wdb.session(self._scope.tenant_ids) as session:
            await self._alarms.load(session)

    # -- the batch loop

    async def _run(self) -> None:
        """The writer thread's loop: a batch as soon as the previous one is committed; from
        idle, wait a little for company first."""
        assert self._wake is not None
        delay = self.settings.reading_batch_delay_ms / 1000
        while True:
            await self._wake.wait()
            self._wake.clear()
            if not self._queue:
                if self._closing:
                    return
                continue
            if delay and not self._closing and len(self._queue) < self.settings.reading_batch_rows:
                await asyncio.sleep(delay)  # let more uploads join this batch
            while batch := self._take_batch():
                await self._write(batch)
            if self._closing:
                return

    def _take_batch(self) -> list[_Item]:
        limit = self.settings.reading_batch_rows
        rows = 0
        with self._queue_lock:
            for n, item in enumerate(self._queue):
                rows += len(item.upload.samples)
                if rows >= limit:
                    batch, self._queue = self._queue[: n + 1], self._queue[n + 1 :]
                    return batch
            batch, self._queue = self._queue, []
        return batch

    async def _write(self, batch: list[_Item]) -> None:
        started = time.perf_counter()
        try:
            assert self._scope is not None and self._wdb is not None
            async with self._wdb.session(self._scope.tenant_ids, write=True) as session:
                staged = episodes.Staged(session, self._scope, self.settings)
                if self.handoff:
                    await self._take_over_points(session, batch)
                count = await self._store(session, batch)
                quiet_before = await self._touch_points(session, batch)
                await self._quarantine(session, batch)
                await self._judge(staged, batch, quiet_before)
                await session.commit()
        except Exception as exc:
            self._loaded_at = 0.0  # read the registry again before the next upload
            if len(batch) > 1:  # one device's bad upload must not cost the others theirs
                log.warning("a batch of %d uploads failed; writing them one by one", len(batch))
                for item in batch:
                    await self._write([item])
                return
            # the device is not answered and will send again
            log.exception("an upload from %s could not be written", batch[0].upload.mn)
            _resolve(batch, exc)
            return
        self._alarms.take_over(staged)
        READINGS_STORED.inc(count)
        READING_BATCH_SECONDS.observe(time.perf_counter() - started)
        _resolve(batch)

    # -- inside the transaction

    async def _take_over_points(self, session: AsyncSession, batch: list[_Item]) -> None:
        """Points this process has not written for lately: their open over-limit episodes and
        newest values as the database has them (another process may have changed them)."""
        now = time.monotonic()
        stale: dict[uuid.UUID, Point] = {}
        for item in batch:
            point = item.point
            if point is None or item.reason is not None:
                continue
            if now - self._heard.get(point.id, -HANDOFF_SECONDS) >= HANDOFF_SECONDS:
                stale[point.id] = point
            self._heard[point.id] = now
        if not stale:
            return
        table = MonitoringPoint.__table__
        rows = await session.execute(
            select(table.c.id, table.c.last_seen_at, table.c.latest).where(
                table.c.id.in_(list(stale))
            )
        )
        for pid, seen, latest in rows:
            point = stale[pid]
            point.last_seen_at = max((t for t in (seen, point.last_seen_at) if t), default=None)
            point.latest = dict(latest or {})
        open_now = await session.scalars(
            select(AlarmEpisode).where(
                AlarmEpisode.point_id.in_(list(stale)),
                AlarmEpisode.ended_at.is_(None),
                AlarmEpisode.kind == AlarmKind.OVER_LIMIT.value,
            )
        )  # as OverLimit.load reads them, for these points only
        alarms = self._alarms
        for key in [k for k in alarms.episodes if k[0] in stale]:
            del alarms.episodes[key]
        for key in [k for k in alarms.watches if k[0] in stale]:
            del alarms.watches[key]
        for episode in open_now:
            key = (episode.point_id, episode.pollutant or "")
            alarms.episodes[key] = episode
            alarms.watches[key] = Watch(open=True)

    async def _store(self, session: AsyncSession, batch: list[_Item]) -> int:
        rows: list[tuple[Any, ...]] = []
        sqlite = session.info["db"].is_sqlite
        for item in batch:
            point = item.point
            if point is None or item.reason is not None:
                continue
            pid, tid, text = point.id, point.tenant_id, _TEXT
            if not sqlite:  # asyncpg's own UUIDs: COPY takes their 16 bytes as they are
                pid, tid = _pg_uuid(pid), _pg_uuid(tid)
            rows += [
                (pid, pollutant, text[interval], at, tid, value, low, high, flag)
                for pollutant, interval, at, value, low, high, flag, _ in item.upload.samples
            ]
        if not rows:
            return 0
        if sqlite:
            await insert_ignoring_repeats(
                session, [dict(zip(READING_COLUMNS, row, strict=True)) for row in rows]
            )
        else:
            await _insert_postgres(session, rows)
        return len(rows)

    async def _touch_points(
        self, session: AsyncSession, batch: list[_Item]
    ) -> dict[uuid.UUID, datetime | None]:
        """last_seen_at and the newest values of every point heard from; returns when each was
        heard from before this batch (to end offline episodes)."""
        before: dict[uuid.UUID, datetime | None] = {}
        newest: dict[uuid.UUID, dict[str, Sample]] = {}
        points: dict[uuid.UUID, Point] = {}
        for item in batch:
            point = item.point
            if point is None or item.reason is not None:
                continue
            if point.id not in before:
                before[point.id] = point.last_seen_at
                points[point.id] = point
                newest[point.id] = {}
            point.last_seen_at = max(item.received_at, point.last_seen_at or item.received_at)
            mine = newest[point.id]
            for s in item.upload.samples:
                known = mine.get(s.pollutant)
                if s.value is not None and (known is None or s.at >= known.at):
                    mine[s.pollutant] = s
        for point_id, samples in newest.items():
            _keep_latest(points[point_id], samples.values())
        if points:
            table = MonitoringPoint.__table__
            await session.execute(
                update(table)
                .where(table.c.id == bindparam("pid"))
                .values(last_seen_at=bindparam("seen"), latest=bindparam("latest")),
                [
                    {"pid": p.id, "seen": p.last_seen_at, "latest": p.latest}
                    for p in points.values()
                ],
            )
        return before

    async def _quarantine(self, session: AsyncSession, batch: list[_Item]) -> None:
        for item in batch:
            if item.reason is None:
                continue
            upload = item.upload
            session.add(
                QuarantinedPacket(
                    received_at=item.received_at,
                    mn=upload.mn[:32],
                    reason=item.reason.value,
                    cn=(upload.cn or "")[:8] or None,
                    peer=(upload.peer or "")[:64] or None,
                    raw=upload.raw,
                    samples=[s.as_json() for s in upload.samples],
                )
            )

    async def _judge(
        self,
        staged: episodes.Staged,
        batch: list[_Item],
        quiet_before: dict[uuid.UUID, datetime | None],
    ) -> None:
        """Hand the batch to the alarm episodes: offline ones end, over-limit ones follow the
        judge's verdicts on every value. Whatever they write runs in savepoints of its own
        (``episodes.guarded``): alarm bookkeeping that fails (a case that cannot be
        registered) is logged and rolled back alone, and never costs the batch its readings."""
        names = {item.point.id: item.point.name for item in batch if item.point is not None}
        await episodes.guarded(
            staged,
            "offline episodes",
            episodes.end_offline_episodes(staged.session, self.settings, quiet_before, names),
        )
        for item in batch:
            point = item.point
            if point is None or item.reason is not None or not _judged(point):
                continue
            await self._alarms.judge(staged, point, item.upload.samples)


Towns = Collection[uuid.UUID] | None  # the towns a sender may send for; None: any


def _foreign(point: Point | None, towns: Towns) -> bool:
    return point is not None and towns is not None and point.tenant_id not in towns


def _judged(point: Point) -> bool:
    """Points with limits, and air stations (judged by the AQI, limits or not)."""
    return bool(point.limits) or point.row.kind == PointKind.AIR_STATION


def _keep_latest(point: Point, samples: Iterable[Sample]) -> None:
    """Merge a batch's newest value per pollutant into the point's (a new dict: the old one
    may be shared with a detached row)."""
    latest = dict(point.latest)
    for s in samples:
        at = s.at.astimezone(UTC).isoformat()
        known = latest.get(s.pollutant)
        if known is not None and known["at"] > at:  # both UTC ISO text: comparable as text
            continue
        limit = point.limits.get(s.pollutant)
        latest[s.pollutant] = {
            "value": s.value,
            "unit": limit.unit if limit is not None else None,
            "flag": s.flag,
            "at": at,
            "interval": s.interval.value,
        }
    point.latest = latest


@functools.lru_cache(maxsize=65_536)  # points and towns: a few thousand
def _pg_uuid(value: uuid.UUID) -> PgUUID:
    """The same id as asyncpg's UUID: asyncpg encodes a standard ``uuid.UUID`` through its
    ``bytes`` property, twice per row of a COPY; its own type it copies as it is."""
    return PgUUID(value.bytes)


READING_COLUMNS = (
    "point_id", "pollutant", "interval", "at", "tenant_id", "value", "min", "max", "flag"
)  # fmt: skip
# A private staging table per connection, emptied by every commit.
_STAGING = "create temp table if not exists readings_in (like readings) on commit delete rows"
_FROM_STAGING = "insert into readings select * from readings_in on conflict do nothing"


async def _insert_postgres(session: AsyncSession, rows: list[tuple[Any, ...]]) -> None:
    """COPY the batch into a temporary table, then one INSERT ... ON CONFLICT DO NOTHING into
    readings: COPY alone cannot skip repeats, and this measured 1.5x the rows/s of one
    INSERT ... SELECT FROM unnest(arrays) (tests/perf/bench_hj212_ingest.py)."""
    connection = await session.connection()
    raw = (await connection.get_raw_connection()).driver_connection
    assert raw is not None
    await raw.execute(_STAGING)
    await raw.copy_records_to_table("readings_in", records=rows, columns=READING_COLUMNS)
    await raw.execute(_FROM_STAGING)
