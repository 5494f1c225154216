"""The change feed (caseChanges): every change to a case moves it to the end; a client pages
with a cursor and never misses a change, even when transactions commit out of order.

The trap of sequence-ordered feeds: T1 takes seq 5, T2 takes seq 6 and commits first; a reader
that returns 6 and stores it as its cursor never sees 5. Here rows are ordered by the writing
transaction's id and only rows of transactions older than every transaction still running
(pg_snapshot_xmin) are served: any row committed later has a larger txid than every row
already served.

That horizon is taken in this database only: pg_snapshot_xmin counts every transaction on the
server, so a long one in another database (a CREATE DATABASE, a report elsewhere) held the feed
back though it can never write this feed. A running xid is skipped over only when its backend
is seen in another database; one whose backend cannot be seen counts as ours (held back, never
skipped). xids are compared on their low 32 bits: the ones running at once are far closer than
2**32 apart.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, any_, bindparam, event, func, select, text, tuple_
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from hub.auth import Scope
from hub.cases.loaders import PLAIN_COLUMNS, PLAIN_RELATED, load_options, plain_list
from hub.cases.model import Case, ExternalRef
from hub.db import Database, utcnow
from hub.errors import invalid
from hub.pagination import decode_cursor, encode_cursor, page_size
from hub.roles import Permission
from hub.sync.model import CaseFeed

SEQUENCE = "case_feed_seq"

PG_HORIZON = text(
    "coalesce((select min(x::text::bigint) from pg_snapshot_xip(pg_current_snapshot()) as x"
    " where x::text::bigint % 4294967296 not in (select backend_xid::text::bigint"
    " from pg_stat_activity where backend_xid is not null and datname is not null"
    " and datname <> current_database())),"
    " pg_snapshot_xmax(pg_current_snapshot())::text::bigint)"
)


async def record_change(session: AsyncSession, case: Case) -> None:
    """Move the case to the end of the feed when the caller's transaction commits (one batched
    statement for every case the transaction changed, however many)."""
    session.info.setdefault("feed", {})[case.id] = case.tenant_id


def _feed_upsert(insert: Any, values: dict[str, Any]) -> Any:
    statement = insert(CaseFeed).values(values)
    return statement.on_conflict_do_update(
        index_elements=["case_id"],
        set_={
            "seq": statement.excluded.seq,
            "txid": statement.excluded.txid,
            "tenant_id": statement.excluded.tenant_id,
            "changed_at": statement.excluded.changed_at,
        },
    )


# Built once (its compiled form is cached): one row per parameter set, the sequence and the
# transaction id taken by the server. Many rows go out as one executemany.
_PG_FEED = _feed_upsert(
    pg_insert,
    {
        "case_id": bindparam("case_id"),
        "tenant_id": bindparam("tenant_id"),
        "seq": func.nextval(SEQUENCE),
        "txid": text("pg_current_xact_id()::text::bigint"),
        "changed_at": bindparam("changed_at"),
    },
)
_SQLITE_FEED = _feed_upsert(
    sqlite_insert,
    {name: bindparam(name) for name in ("case_id", "tenant_id", "seq", "txid", "changed_at")},
)


@event.listens_for(Session, "before_commit")
def _write_feed(session: Session) -> None:
    changed = session.info.pop("feed", None)
    if not changed:
        return
    session.flush()
    now = utcnow()
    if session.get_bind().dialect.name == "postgresql":
        statement = _PG_FEED
        rows = [{"case_id": c, "tenant_id": t, "changed_at": now} for c, t in changed.items()]
    else:  # one writer at a time: the next numbers are simply the largest plus one, two...
        statement = _SQLITE_FEED
        top = session.scalar(select(func.coalesce(func.max(CaseFeed.seq), 0))) or 0
        rows = [
            {"case_id": c, "tenant_id": t, "seq": top + n, "txid": top + n, "changed_at": now}
            for n, (c, t) in enumerate(changed.items(), 1)
        ]
    # On the connection: a Core statement needs none of the ORM's per-statement work.
    session.connection().execute(statement, rows)


@event.listens_for(Session, "after_rollback")
def _forget_feed(session: Session) -> None:
    session.info.pop("feed", None)


@dataclass(frozen=True)
class ChangePage:
    cases: list[Any]  # Case rows, or plain rows (loaders.PLAIN_COLUMNS) when ``refs`` is set
    cursors: list[str]
    has_next_page: bool
    # The plain page's external refs by case id (rows with .system and .external_id); None for
    # a page of ORM rows.
    refs: dict[Any, list[Any]] | None = None


# A syncing client reads the whole feed: pages of up to 1,000 (the contract's client asks for
# 500), where interactive lists stop at 200.
FEED_MAX_PAGE = 1000


def plain_feed(include: AbstractSet[str]) -> bool:
    """Whether a page can be read as plain rows: no list of the case selected but its external
    refs (the contract's CaseChanges), which come in one more statement by the page's ids."""
    return plain_list(include - {"externalRefs"})


async def changes(
    session: AsyncSession,
    scope: Scope,
    after: str | None,
    first: int | None,
    *,
    key: str,
    include: set[str],
) -> ChangePage:
    """A page of the feed: as plain rows where plain_feed allows (no ORM instance per change,
    about half the page's CPU), else as ORM rows with the lists the client selected."""
    scope.require(Permission.CASE_READ)
    size = page_size(first, FEED_MAX_PAGE)
    position = _position(key, after) if after else None
    if plain_feed(include):
        return await _plain_changes(session, scope, position, size, key, include)
    # The feed's position as plain columns: no ORM object per row for it.
    query = _in_order(session, select(CaseFeed.txid, CaseFeed.seq, Case), position)
    rows = (await session.execute(query.options(*load_options(include)).limit(size + 1))).all()
    page = rows[:size]
    return ChangePage(
        [case for _, _, case in page],
        [encode_cursor(key, ["feed", txid, seq]) for txid, seq, _ in page],
        len(rows) > size,
    )


def _in_order(session: AsyncSession, query: Any, position: tuple[int, int] | None) -> Any:
    """The feed joined with its cases, below the horizon, after ``position``, in feed order."""
    query = query.join(Case, Case.id == CaseFeed.case_id)
    if session.get_bind().dialect.name == "postgresql":
        query = query.where(CaseFeed.txid < PG_HORIZON)
    if position is not None:
        query = query.where(tuple_(CaseFeed.txid, CaseFeed.seq) > tuple_(*position))
    return query.order_by(CaseFeed.txid, CaseFeed.seq)


@functools.cache  # one per selection of related rows, dialect and first page or not: 16
def _plain_feed_select(related: frozenset[str], postgres: bool, after: bool) -> Select[Any]:
    """The feed's position and plain_select's columns. Core statements do not get the
    session's tenant criteria (hub/db.py): this one names the scope's towns (``tenant_ids``),
    and PostgreSQL's row-level security applies as well."""
    tenant_ids: Any = bindparam("tenant_ids", expanding=True)
    query = (
        select(CaseFeed.txid.label("feed_txid"), CaseFeed.seq.label("feed_seq"), *PLAIN_COLUMNS)
        .join(Case, Case.id == CaseFeed.case_id)
        .where(CaseFeed.tenant_id.in_(tenant_ids), Case.tenant_id.in_(tenant_ids))
    )
    for name, (entity, on, columns) in PLAIN_RELATED.items():
        if name in related:
            # outer joins as plain_select's: the ORM executes these (its criteria reach them)
            query = query.outerjoin(entity, on).add_columns(*columns)
    if postgres:
        query = query.where(CaseFeed.txid < PG_HORIZON)
    if after:
        position = tuple_(bindparam("txid"), bindparam("seq"))
        query = query.where(tuple_(CaseFeed.txid, CaseFeed.seq) > position)
    return query.order_by(CaseFeed.txid, CaseFeed.seq).limit(bindparam("size"))


_PAGE_REFS = select(ExternalRef.case_id, ExternalRef.system, ExternalRef.external_id).where(
    ExternalRef.case_id.in_(bindparam("case_ids", expanding=True)),
    ExternalRef.tenant_id.in_(bindparam("tenant_ids", expanding=True)),
)


async def _plain_changes(
    session: AsyncSession,
    scope: Scope,
    position: tuple[int, int] | None,
    size: int,
    key: str,
    include: AbstractSet[str],
) -> ChangePage:
    related = frozenset(include & PLAIN_RELATED.keys())
    postgres = session.get_bind().dialect.name == "postgresql"
    query = _plain_feed_select(related, postgres, position is not None)
    tenant_ids = list(scope.tenant_ids)
    params: dict[str, Any] = {"tenant_ids": tenant_ids, "size": size + 1}
    if position is not None:
        params["txid"], params["seq"] = position
    connection = await session.connection()
    if related:
        rows = (await session.execute(query, params)).all()
    else:  # Core: plain tuples, none of the ORM's result loading
        rows = (await connection.execute(query, params)).all()
    page = rows[:size]
    refs: dict[Any, list[Any]] = {}
    if page and "externalRefs" in include:
        # By the page's ids, as selectinload reads them for the ORM path: the same statement,
        # so the same rows in the same order.
        found = await connection.execute(
            _PAGE_REFS, {"case_ids": [row.id for row in page], "tenant_ids": tenant_ids}
        )
        for ref in found.all():
            refs.setdefault(ref.case_id, []).append(ref)
    return ChangePage(
        list(page),
        [encode_cursor(key, ["feed", row.feed_txid, row.feed_seq]) for row in page],
        len(rows) > size,
        refs,
    )


def _position(key: str, cursor: str) -> tuple[int, int]:
    values = decode_cursor(key, cursor)
    if len(values) != 3 or values[0] != "feed" or not all(isinstance(v, int) for v in values[1:]):
        raise invalid("after", "游标无效：不是变更订阅的游标")
    return values[1], values[2]


# The bulk route reads the feed in batches, each in a short transaction of its own: a client
# catching up on a million changes holds no snapshot for minutes.
BULK_BATCH = 5000


async def bulk_changes(
    db: Database, scope: Scope, after: str | None, limit: int | None, *, key: str
) -> AsyncIterator[list[dict[str, Any]]]:
    """The feed after ``after`` as plain rows (the fields of the contract's CaseChanges node
    and each row's cursor), batch by batch, up to ``limit`` rows: the same order, scope and
    horizon as :func:`changes`, with no ORM object and no GraphQL field per row.

    The next batch is read while the caller encodes and sends this one, so the database's
    time and the hub's overlap (on two cores, about half the wall time of taking turns)."""
    scope.require(Permission.CASE_READ)
    position = _position(key, after) if after else None

    async def fetch(position: tuple[int, int] | None, size: int) -> Batch:
        async with db.session(scope.tenant_ids) as session:
            return await _bulk_batch(session, scope, position, size, key)

    left = limit
    size = _bulk_size(left)
    pending: asyncio.Future[Batch] | None = asyncio.ensure_future(fetch(position, size))
    try:
        while pending is not None:
            rows, last = await pending
            pending = None
            if left is not None:
                left -= len(rows)
            if len(rows) == size and (left is None or left > 0):
                size = _bulk_size(left)
                pending = asyncio.ensure_future(fetch(last, size))
            if rows:
                yield rows
    finally:
        if pending is not None:  # the client went away: the read ends on its own
            pending.add_done_callback(_ignore_outcome)


Batch = tuple[list[dict[str, Any]], tuple[int, int] | None]


def _bulk_size(left: int | None) -> int:
    return BULK_BATCH if left is None else min(BULK_BATCH, left)


def _ignore_outcome(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


def _of_batch(dialect: str, rows: Sequence[Any], position: tuple[int, int] | None) -> Any:
    """The batch's references. On PostgreSQL by the batch's case ids, one array parameter: each
    statement of a READ COMMITTED transaction has a snapshot of its own, so a case changed
    between the two would have left the feed range and come without its references. SQLite's
    transaction reads one snapshot: by the feed range, with no IN list of thousands of ids."""
    if dialect == "postgresql":
        ids = bindparam("ids", [row.id for row in rows], type_=ARRAY(ExternalRef.case_id.type))
        return ExternalRef.case_id == any_(ids)
    span = [tuple_(CaseFeed.txid, CaseFeed.seq) <= tuple_(rows[-1].txid, rows[-1].seq)]
    if position is not None:
        span.append(tuple_(CaseFeed.txid, CaseFeed.seq) > tuple_(*position))
    feed = select(CaseFeed.case_id).where(*span)
    return ExternalRef.case_id.in_(feed.scalar_subquery())


async def _bulk_batch(
    session: AsyncSession,
    scope: Scope,
    position: tuple[int, int] | None,
    size: int,
    key: str,
) -> tuple[list[dict[str, Any]], tuple[int, int] | None]:
    # Core, not the ORM's result loading (plain tuples, a third of the batch's CPU less). Core
    # statements do not get the session's tenant criteria (hub/db.py), so they name the scope
    # themselves; on PostgreSQL row-level security applies as well.
    tenant_ids = list(scope.tenant_ids)
    query = (
        select(
            CaseFeed.txid, CaseFeed.seq, Case.id, Case.number, Case.status, Case.card,
            Case.updated_at, Case.tenant_id,
        )
        .join(Case, Case.id == CaseFeed.case_id)
        .where(CaseFeed.tenant_id.in_(tenant_ids), Case.tenant_id.in_(tenant_ids))
    )  # fmt: skip
    if session.get_bind().dialect.name == "postgresql":
        query = query.where(CaseFeed.txid < PG_HORIZON)
    if position is not None:
        query = query.where(tuple_(CaseFeed.txid, CaseFeed.seq) > tuple_(*position))
    connection = await session.connection()
    ordered = query.order_by(CaseFeed.txid, CaseFeed.seq).limit(size)
    rows = (await connection.execute(ordered)).all()
    refs: dict[Any, list[dict[str, str]]] = {}
    if rows:
        found = await connection.execute(
            select(ExternalRef.case_id, ExternalRef.system, ExternalRef.external_id)
            .where(_of_batch(connection.dialect.name, rows, position))
            .where(ExternalRef.tenant_id.in_(tenant_ids))
            .order_by(ExternalRef.system, ExternalRef.external_id)
        )
        for case_id, system, external_id in found.all():
            refs.setdefault(case_id, []).append({"system": system, "externalId": external_id})
    codes = {tenant_id: tenant.code for tenant_id, tenant in scope.directory.by_id.items()}
    return [
        {
            "cursor": encode_cursor(key, ["feed", txid, seq]),
            "id": str(case_id),
            "number": number,
            "status": status,
            "card": card,
            "updatedAt": updated_at.isoformat(),
            "tenantCode": codes[tenant_id],
            "externalRefs": refs.get(case_id, []),
        }
        for txid, seq, case_id, number, status, card, updated_at, tenant_id in rows
    ], (rows[-1].txid, rows[-1].seq) if rows else None
