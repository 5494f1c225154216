"""Case events for subscribers, published only after the change commits.

Services queue notices on the session (``announce``); a rollback drops them. Where they go at
commit depends on the database:

- SQLite (one process): the session's after_commit hook hands them to the in-process
  ``broadcaster``.
- PostgreSQL (any number of processes): the commit carries them as ``NOTIFY`` on one channel
  (``pg_notify`` in the same transaction, so a rolled-back change sends nothing and notices
  arrive in commit order). Every process that has subscribers ``LISTEN``s on one dedicated
  connection (``SharedBroadcaster``), re-reads the cases named and hands the notices to its own
  subscribers. A process's own commits come back the same way and only that way, so every
  notice reaches every subscriber of every process exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import uuid
from collections.abc import AsyncIterator, Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

import asyncpg
from sqlalchemy import event, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, SessionTransaction

from hub.db import within

if TYPE_CHECKING:
    from hub.db import Database

log = logging.getLogger("hub.events")

QUEUE_SIZE = 1000
CHANNEL = "sanwang_case_events"
LISTENER_NAME = "sanwang case events"  # the LISTEN connection's application_name
# What a re-read case carries for the subscription's nodes: its reports (a subscriber that
# selects reporters' numbers sees them and is audited), grid cell, assignee and source; not
# the timeline, links or attachments (as the mutations' own rows mostly had not).
NOTICE_LOADS = frozenset({"reports", "gridCell", "assignee", "source"})
READY_SECONDS = 10.0  # a subscriber waits this long for LISTEN before it is let in anyway
PING_SECONDS = 15.0  # an idle LISTEN connection is checked this often (a half-open socket)
RETRY_FIRST, RETRY_MAX = 0.5, 30.0  # reconnect backoff of the LISTEN connection
READ_ATTEMPTS = 3  # re-reading a batch's cases (a pool timeout under overload)


@dataclass(frozen=True)
class CaseNotice:
    kind: str
    at: datetime
    tenant_id: uuid.UUID
    case: Any  # the committed Case row (expire_on_commit is off, so its columns stay loaded)


class Broadcaster:
    """Fans notices out to subscribers' queues. Changes are also committed on other threads
    (the embedded job worker, the reading writer), so a notice reaches each queue through the
    event loop that owns it."""

    # Live subscribers of every broadcaster of the process (tests wait for theirs to be in).
    everywhere: ClassVar[int] = 0

    def __init__(self) -> None:
        self._queues: dict[asyncio.Queue[CaseNotice], asyncio.AbstractEventLoop] = {}

    def publish(self, notice: CaseNotice) -> None:
        try:
            here = asyncio.get_running_loop()
        except RuntimeError:
            here = None
        for queue, loop in list(self._queues.items()):
            if loop is here:
                _offer(queue, notice)
            elif not loop.is_closed():
                loop.call_soon_threadsafe(_offer, queue, notice)

    @contextlib.asynccontextmanager
    async def subscribe(self) -> AsyncIterator[asyncio.Queue[CaseNotice]]:
        queue: asyncio.Queue[CaseNotice] = asyncio.Queue(QUEUE_SIZE)
        self._queues[queue] = asyncio.get_running_loop()
        Broadcaster.everywhere += 1
        try:
            yield queue
        finally:
            self._queues.pop(queue, None)
            Broadcaster.everywhere -= 1

    async def stream(self, tenant_ids: Collection[uuid.UUID]) -> AsyncIterator[CaseNotice]:
        async with self.subscribe() as queue:
            while True:
                notice = await queue.get()
                if notice.tenant_id in tenant_ids:
                    yield notice

    async def close(self) -> None:
        """Nothing to release in process: subscribers leave with their sockets."""


def _offer(queue: asyncio.Queue[CaseNotice], notice: CaseNotice) -> None:
    with contextlib.suppress(asyncio.QueueFull):  # a stalled subscriber loses events
        queue.put_nowait(notice)


broadcaster = Broadcaster()  # the process's, for SQLite


class ChangeCount:
    """The case changes this process knows of: its own commits (counted inside the commit,
    before subscribers are told) and, on PostgreSQL, the ones heard from every process
    (counted before they are handed on). A cache of figures made from cases (the board's) is
    good while this has not moved."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # commits happen on other threads too (jobs, writer)
        self.value = 0

    def bump(self) -> None:
        with self._lock:
            self.value += 1


changes = ChangeCount()


# --- commit hooks ------------------------------------------------------------------------------


def announce(session: Session, notice: CaseNotice) -> None:
    # Kept with the (sub)transaction it belongs to: a savepoint rolled back takes its notices
    # with it (``_drop_rolled_back``), as the audit trail's entries.
    tx = session.get_nested_transaction() or session.get_transaction()
    session.info.setdefault("notices", []).append((tx, notice))


def _notices(session: Session) -> list[CaseNotice]:
    return [notice for _tx, notice in session.info.pop("notices", [])]


@event.listens_for(Session, "before_commit", insert=True)
def _notify(session: Session) -> None:
    """On PostgreSQL the notices leave with the transaction: NOTIFY is delivered at commit, in
    commit order, and never for a rollback. One statement for all of a transaction's notices,
    sent before the other commit hooks (the audit chain's head is taken last)."""
    if session.in_nested_transaction() or not session.info.get("notices"):
        return  # a savepoint's notices wait for the real commit (or leave with its rollback)
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        return
    if any(n.case.id is None for _tx, n in session.info["notices"]):
        session.flush()  # a new case gets its id at flush (the commit would flush it next)
    notices = _notices(session)
    session.info["notified"] = True  # counted in ``changes`` once the commit is through
    payloads = [_payload(i, n) for i, n in enumerate(notices)]
    connection.execute(
        text("select pg_notify(:channel, p) from unnest(cast(:payloads as text[])) as p"),
        {"channel": CHANNEL, "payloads": payloads},
    )


def _payload(index: int, notice: CaseNotice) -> str:
    # Small (NOTIFY's limit is 8000 bytes): the subscribers' processes re-read the case. The
    # index keeps two notices of one transaction apart (PostgreSQL drops identical payloads).
    body = {
        "n": index,
        "k": notice.kind,
        "at": notice.at.isoformat(),
        "t": str(notice.tenant_id),
        "c": str(notice.case.id),
    }
    return json.dumps(body, separators=(",", ":"))


@event.listens_for(Session, "after_commit")
def _publish(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint released: its notices wait for the real commit
    notified = session.info.pop("notified", False)
    notices = _notices(session)  # SQLite's: PostgreSQL's left as NOTIFY
    if notified or notices:
        changes.bump()  # before any subscriber is told: a screen told never gets older figures
    for notice in notices:
        broadcaster.publish(notice)


@event.listens_for(Session, "after_rollback")
def _drop(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint's own notices leave with it (``_drop_rolled_back``), no others
    session.info.pop("notices", None)
    session.info.pop("notified", None)


@event.listens_for(Session, "after_soft_rollback")
def _drop_rolled_back(session: Session, previous: SessionTransaction) -> None:
    pending = session.info.get("notices")
    if pending:
        session.info["notices"] = [(tx, n) for tx, n in pending if not within(tx, previous)]


# --- PostgreSQL: LISTEN, shared by the processes -----------------------------------------------


@dataclass(frozen=True)
class Heard:
    kind: str
    at: datetime
    tenant_id: uuid.UUID
    case_id: uuid.UUID

    @classmethod
    def of(cls, payload: str) -> Heard:
        body = json.loads(payload)
        at = datetime.fromisoformat(body["at"])
        return cls(body["k"], at, uuid.UUID(body["t"]), uuid.UUID(body["c"]))


class SharedBroadcaster(Broadcaster):
    """The broadcaster of one process on PostgreSQL, fed by ``LISTEN`` on a connection of its
    own, held while the process has subscribers: from the first subscriber (who waits until
    the LISTEN is in place, so nothing committed after the subscription started is missed) to
    the last. A dropped connection is logged and made again with backoff; what was committed
    meanwhile is not replayed (the change feed is the record)."""

    def __init__(self, db: Database) -> None:
        super().__init__()
        self.db = db
        self._reader: Database | None = None  # a pool of its own for the re-reads
        self.dsn = make_url(db.url).set(drivername="postgresql").render_as_string(False)
        self._users = 0
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()  # of the current listener task (each has its own)
        self._heard: list[Heard] = []
        self._wake = asyncio.Event()

    @contextlib.asynccontextmanager
    async def subscribe(self) -> AsyncIterator[asyncio.Queue[CaseNotice]]:
        self._users += 1
        if self._task is None:
            self._ready = asyncio.Event()
            self._task = asyncio.create_task(self._run(self._ready), name="case-events-listener")
        try:
            with contextlib.suppress(TimeoutError):  # not yet: it keeps trying, and logs why
                await asyncio.wait_for(self._ready.wait(), READY_SECONDS)
            async with super().subscribe() as queue:
                yield queue
        finally:
            self._users -= 1
            if self._users == 0:
                await self.close()

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        reader, self._reader = self._reader, None
        if reader is not None:
            await reader.dispose()

    async def _run(self, ready: asyncio.Event) -> None:
        delivering = asyncio.create_task(self._deliver())
        try:
            delay = RETRY_FIRST
            while True:
                if await self._listen(ready):
                    delay = RETRY_FIRST  # it had been up: the first retry comes soon
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX)
        finally:
            ready.clear()
            delivering.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await delivering

    async def _listen(self, ready: asyncio.Event) -> bool:
        """LISTEN until the connection is lost; whether it got as far as listening."""
        try:
            conn = await asyncpg.connect(
                self.dsn, timeout=10, server_settings={"application_name": LISTENER_NAME}
            )
        except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
            log.warning("case events: cannot connect to LISTEN: %s", exc)
            return False
        lost = asyncio.Event()
        conn.add_termination_listener(lambda _conn: lost.set())
        try:
            await conn.add_listener(CHANNEL, self._on_notify)
            ready.set()
            await self._watch(conn, lost)
            log.warning("case events: the LISTEN connection was lost; connecting again")
            return True
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("case events: LISTEN failed: %s", exc)
            return ready.is_set()
        finally:
            ready.clear()
            conn.terminate()

    @staticmethod
    async def _watch(conn: asyncpg.Connection, lost: asyncio.Event) -> None:
        """Return once the connection is gone: closed by the server, or silent to a ping."""
        while not lost.is_set() and not conn.is_closed():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(lost.wait(), PING_SECONDS)
                return
            await conn.execute("select 1", timeout=PING_SECONDS)

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        try:
            self._heard.append(Heard.of(payload))
        except (ValueError, KeyError, TypeError):
            log.warning("case events: a notice that is not ours on %s: %.200s", CHANNEL, payload)
            return
        self._wake.set()

    async def _deliver(self) -> None:
        """Hand what was heard to the subscribers, in order, a batch at a time: the cases
        of a batch are re-read in one go."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            batch, self._heard = self._heard, []
            cases = await self._read(batch)
            changes.bump()  # another process's commits (and this one's, counted again)
            for heard in batch:
                case = cases.get(heard.case_id)
                if case is not None:
                    self.publish(CaseNotice(heard.kind, heard.at, heard.tenant_id, case))

    async def _read(self, batch: list[Heard]) -> dict[uuid.UUID, Any]:
        if self._reader is None:
            # Not the requests' pool: when they have taken every connection (the overload a
            # 503 answers), the events still go out.
            self._reader = self.db.sibling(pool_size=1)
        for attempt in range(1, READ_ATTEMPTS + 1):
            try:
                return await read_cases(self._reader, batch)
            except Exception as exc:
                log.warning("case events: reading %d cases failed (%s): %s", len(batch),
                            attempt, exc)  # fmt: skip
                await asyncio.sleep(RETRY_FIRST * attempt)
        log.error("case events: %d notices dropped, their cases could not be read", len(batch))
        return {}


async def read_cases(db: Database, heard: Iterable[Heard]) -> dict[uuid.UUID, Any]:
    """The cases named by notices, with the rows the subscription's nodes show, read in the
    notices' towns (the stream then gives each subscriber only the towns it sees)."""
    # Imported here: hub.cases imports this module to announce its changes.
    from hub.cases.loaders import load_options
    from hub.cases.model import Case

    heard = list(heard)
    ids = {h.case_id for h in heard}
    async with db.session({h.tenant_id for h in heard}) as session:
        rows = await session.scalars(
            select(Case).where(Case.id.in_(ids)).options(*load_options(set(NOTICE_LOADS)))
        )
        return {row.id: row for row in rows}
