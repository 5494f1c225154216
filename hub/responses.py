"""A cache of whole GraphQL responses for the hot shared reads (the queue, the board), off unless
``SANWANG_RESPONSE_CACHE_SECONDS`` is set (docs/perf.md, "The response cache").

What is cached: only the documents of ``CACHEABLE`` (the contract's ``Cases`` and ``CaseStats``,
the board's ``SupervisionBoard`` and ``CardCounts``), recognised by their printed syntax tree,
sent by POST with nothing but ``query``, ``variables`` and ``operationName``; only a 200 answer
with data and no errors. Their answers depend on the caller's visible tenants and roles only
(never on who the caller is beyond that; the member id is in the key all the same), they read no
phone number in full (such reads are audited per read), and they write nothing.

The key: the document, the variables as canonical JSON, the sorted visible tenant ids, the sorted
roles, the member id and the Accept header (it picks the content type).

Valid while the change feed has not moved. The head is read with one statement before the answer
is computed (so the answer is at least as new as its head) and again on every hit:

- PostgreSQL: the feed sequence's last value and the ids of the transactions running in this
  database that have written something (pg_stat_activity). A change written after the head was
  read either takes a later number (the value moves) or had taken its number before, in a
  transaction that was running then with its id (every feed write follows the case's own flush)
  and is gone from the list once it has committed (the list moves). Correct with any number of
  ``serve`` processes: the head is the database's, not the process's. When the login may not see
  some backend's details, nothing is kept.
- SQLite: the feed's largest position (writers are serialised; every change takes the next one).

Everything not in the change feed moves the answers only within ``SANWANG_RESPONSE_CACHE_SECONDS``
(every entry expires then): ``overdue`` and ``dueSoon`` crossing with the clock, the default
period of the statistics, a member, cell, source or town renamed.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
from cachetools import LRUCache, TTLCache
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from starlette.types import Message, Receive, Scope, Send

from graphql import GraphQLError, OperationDefinitionNode, parse, print_ast
from hub import metrics
from hub.auth import Scope as Caller
from hub.db import Database

log = logging.getLogger("hub.responses")

App = Callable[[Scope, Receive, Send], Awaitable[None]]

# The documents whose answers may be shared. Cases and CaseStats are the contract's own
# (graphql/operations/; tests/integration/test_response_cache.py checks they are the same).
CACHEABLE_DOCUMENTS = """
query Cases($filter: CaseFilter, $first: Int, $after: String) {
  cases(filter: $filter, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges {
      cursor
      node {
        id number title status category priority card channels createdAt dueAt overdue
        tenant { code name }
        gridCell { id name }
        assignee { id name }
        source { id name }
        reportCount
      }
    }
  }
}
query CaseStats($from: DateTime, $to: DateTime, $groupBy: StatsGroup!) {
  caseStats(from: $from, to: $to, groupBy: $groupBy) {
    key label total open resolved overdue yellowCards redCards onTimeRate
  }
}
query SupervisionBoard {
  supervisionBoard { tenant { code name } open overdue dueSoon yellowCards redCards }
}
query CardCounts($from: DateTime, $to: DateTime, $groupBy: CardGroup!) {
  cardCounts(from: $from, to: $to, groupBy: $groupBy) { key label yellowCards redCards }
}
"""


def _printed(document: str) -> dict[str, str]:
    """Each named operation of ``document``, printed (comments and layout gone), by name."""
    return {
        node.name.value: print_ast(node)
        for node in parse(document).definitions
        if isinstance(node, OperationDefinitionNode) and node.name
    }


CACHEABLE = {text: name for name, text in _printed(CACHEABLE_DOCUMENTS).items()}
MAX_BYTES = 64 * 1024 * 1024  # bodies held at most (a Cases page of 200 is about 100 kB)
KNOWN_TEXTS = 512  # query texts remembered as cacheable or not (parsed once each)

# The transactions running in this database that have written something (they have an id), as
# pg_stat_activity shows them (a snapshot's list leaves out those that began after the last one
# to end: they are above its xmax). A backend whose details this login may not see counts -1:
# its transactions cannot be told apart, so nothing computed then is kept.
PG_HEAD = text(
    "select pg_sequence_last_value('case_feed_seq'::regclass),"
    " array(select case when query = '<insufficient privilege>' then -1"
    " else backend_xid::text::bigint end from pg_stat_activity"
    " where datname = current_database()"
    " and (backend_xid is not null or query = '<insufficient privilege>') order by 1)"
)
# On SQLite txid = seq (hub/sync/model.py), and (txid, seq) is indexed.
SQLITE_HEAD = text("select coalesce(max(txid), 0) from case_feed")


@dataclass(frozen=True)
class Answer:
    """One response as the app sent it."""

    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes

    def shareable(self) -> bool:
        if self.status != 200:
            return False
        try:
            payload = orjson.loads(self.body)
        except orjson.JSONDecodeError:
            return False
        return (
            isinstance(payload, dict)
            and payload.get("data") is not None
            and not payload.get("errors")
        )

    async def send(self, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status, "headers": self.headers})
        await send({"type": "http.response.body", "body": self.body})


@dataclass(frozen=True)
class Entry:
    head: Any
    answer: Answer


@dataclass(frozen=True)
class Pending:
    head: Any
    answer: asyncio.Future[Answer | None]


class ResponseCache:
    def __init__(self, db: Database, seconds: float, max_bytes: int = MAX_BYTES) -> None:
        self.db = db
        self.entries: TTLCache[str, Entry] = TTLCache(
            max_bytes, seconds, getsizeof=lambda e: len(e.answer.body) + 512
        )
        self.pending: dict[str, Pending] = {}
        self._known: LRUCache[str, str | None] = LRUCache(KNOWN_TEXTS)
        self._engine: AsyncEngine | None = None

    async def head(self) -> Any:
        """Where the change feed is now (None: cannot be told): one statement, outside any
        request's transaction; on
        PostgreSQL on a small autocommit pool of its own with no ping (one round trip, where a
        session of the main pool costs a ping, BEGIN and ROLLBACK besides)."""
        if self.db.is_sqlite:
            async with self.db.engine.connect() as conn:
                return await conn.scalar(SQLITE_HEAD)
        if self._engine is None:
            self._engine = create_async_engine(
                self.db.url, pool_size=4, max_overflow=8, pool_pre_ping=False,
                isolation_level="AUTOCOMMIT",
            )  # fmt: skip
        async with self._engine.connect() as conn:
            row = (await conn.execute(PG_HEAD)).one()
        return None if -1 in row[1] else (row[0], tuple(row[1]))

    async def close(self) -> None:
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None

    def operation(self, query: str) -> str | None:
        """The name of the cacheable operation ``query`` is, or None."""
        if query not in self._known:
            try:
                printed = _printed(query)
            except GraphQLError:
                printed = {}
            only = next(iter(printed.values())) if len(printed) == 1 else None
            self._known[query] = CACHEABLE.get(only) if only else None
        return self._known[query]

    def key_of(self, scope: Scope, body: bytes) -> tuple[str, str] | None:
        """(operation, key) of a cacheable request, or None."""
        try:
            request = orjson.loads(body)
        except orjson.JSONDecodeError:
            return None
        if not isinstance(request, dict) or not set(request) <= {
            "query", "variables", "operationName",
        }:  # fmt: skip
            return None
        query, variables = request.get("query"), request.get("variables") or {}
        if not isinstance(query, str) or not isinstance(variables, dict):
            return None
        name = self.operation(query)
        if name is None or request.get("operationName") not in (None, name):
            return None
        caller: Caller = scope["sanwang.scope"]
        accept = dict(scope["headers"]).get(b"accept", b"").decode("latin-1")
        parts = [
            name,
            orjson.dumps(variables, option=orjson.OPT_SORT_KEYS).decode(),
            ",".join(sorted(str(t) for t in caller.tenant_ids)),
            ",".join(sorted(caller.roles)),
            str(caller.principal.member_id),
            accept,
        ]
        return name, hashlib.sha256("\x00".join(parts).encode()).hexdigest()

    async def serve(
        self, scope: Scope, body: bytes, receive: Receive, send: Send, app: App
    ) -> None:
        """Answer from the cache, from a computation of the same answer under way, or by running
        ``app`` (and keeping its answer when it may be shared)."""
        found = self.key_of(scope, body)
        if found is None:
            await app(scope, receive, send)
            return
        name, key = found
        try:
            head = await self.head()
        except Exception:  # no head, no sharing: the request runs (and meets the trouble itself)
            log.warning("response cache: the change feed's head could not be read", exc_info=True)
            head = None
        if head is None:
            metrics.RESPONSE_CACHE.labels(name, "unread").inc()
            await app(scope, receive, send)
            return
        entry = self.entries.get(key)
        if entry is not None and entry.head == head:
            metrics.RESPONSE_CACHE.labels(name, "hit").inc()
            await entry.answer.send(send)
            return
        pending = self.pending.get(key)
        if pending is not None and pending.head == head:
            answer = await asyncio.shield(pending.answer)
            if answer is not None:
                metrics.RESPONSE_CACHE.labels(name, "shared").inc()
                await answer.send(send)
                return
        metrics.RESPONSE_CACHE.labels(name, "miss" if entry is None else "stale").inc()
        await self._compute(key, head, scope, receive, send, app)

    async def _compute(
        self, key: str, head: Any, scope: Scope, receive: Receive, send: Send, app: App
    ) -> None:
        mine = Pending(head, asyncio.get_running_loop().create_future())
        self.pending[key] = mine
        answer: Answer | None = None
        try:
            answer = await _captured(app, scope, receive, send)
        finally:
            if self.pending.get(key) is mine:
                del self.pending[key]
            shared = answer if answer is not None and answer.shareable() else None
            mine.answer.set_result(shared)
        if shared is not None:
            with contextlib.suppress(ValueError):  # larger than the whole cache: not kept
                self.entries[key] = Entry(head, shared)


async def _captured(app: App, scope: Scope, receive: Receive, send: Send) -> Answer | None:
    """Run ``app``, passing its messages on and keeping a copy of its response."""
    start: Message | None = None
    chunks: list[bytes] = []

    async def keeping(message: Message) -> None:
        nonlocal start
        if message["type"] == "http.response.start":
            start = message
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))
        await send(message)

    await app(scope, receive, keeping)
    if start is None:
        return None
    return Answer(start["status"], list(start.get("headers", [])), b"".join(chunks))


def response_cache(db: Database, seconds: float) -> ResponseCache | None:
    """The cache of this app, or None when it is off (0 seconds)."""
    return ResponseCache(db, seconds) if seconds > 0 else None
