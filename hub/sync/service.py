"""The change feed (caseChanges): every change to a case moves it to the end; a client pages
with a cursor and never misses a change, even when transactions commit out of order.

The trap of sequence-ordered feeds: T1 takes seq 5, T2 takes seq 6 and commits first; a reader
that returns 6 and stores it as its cursor never sees 5. Here rows are ordered by the writing
transaction's id and only rows of transactions older than every transaction still running
(pg_snapshot_xmin) are served: any row committed later has a larger txid than every row
already served.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import event, func, select, text, tuple_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from hub.auth import Scope
from hub.cases.loaders import load_options
from hub.cases.model import Case
from hub.db import utcnow
from hub.errors import invalid
from hub.pagination import decode_cursor, encode_cursor, page_size
from hub.roles import Permission
from hub.sync.model import CaseFeed

SEQUENCE = "case_feed_seq"


async def record_change(session: AsyncSession, case: Case) -> None:
    """Move the case to the end of the feed when the caller's transaction commits (one batched
    statement for every case the transaction changed, however many)."""
    session.info.setdefault("feed", {})[case.id] = case.tenant_id


@event.listens_for(Session, "before_commit")
def _write_feed(session: Session) -> None:
    changed = session.info.pop("feed", None)
    if not changed:
        return
    session.flush()
    postgres = session.get_bind().dialect.name == "postgresql"
    insert = pg_insert if postgres else sqlite_insert
    now = utcnow()
    if postgres:
        rows = [
            {
                "case_id": c,
                "tenant_id": t,
                "seq": func.nextval(SEQUENCE),
                "txid": text("pg_current_xact_id()::text::bigint"),
                "changed_at": now,
            }
            for c, t in changed.items()
        ]
    else:  # one writer at a time: the next numbers are simply the largest plus one, two...
        top = session.scalar(select(func.coalesce(func.max(CaseFeed.seq), 0))) or 0
        rows = [
            {"case_id": c, "tenant_id": t, "seq": top + n, "txid": top + n, "changed_at": now}
            for n, (c, t) in enumerate(changed.items(), 1)
        ]
    statement = insert(CaseFeed).values(rows)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=["case_id"],
            set_={
                "seq": statement.excluded.seq,
                "txid": statement.excluded.txid,
                "tenant_id": statement.excluded.tenant_id,
                "changed_at": statement.excluded.changed_at,
            },
        )
    )


@event.listens_for(Session, "after_rollback")
def _forget_feed(session: Session) -> None:
    session.info.pop("feed", None)


@dataclass(frozen=True)
class ChangePage:
    cases: list[Case]
    cursors: list[str]
    has_next_page: bool


# A syncing client reads the whole feed: pages of up to 1,000 (the contract's client asks for
# 500), where interactive lists stop at 200.
FEED_MAX_PAGE = 1000


async def changes(
    session: AsyncSession,
    scope: Scope,
    after: str | None,
    first: int | None,
    *,
    key: str,
    include: set[str],
) -> ChangePage:
    scope.require(Permission.CASE_READ)
    size = page_size(first, FEED_MAX_PAGE)
    # The feed's position as plain columns: no ORM object per row for it.
    query = select(CaseFeed.txid, CaseFeed.seq, Case).join(Case, Case.id == CaseFeed.case_id)
    if session.get_bind().dialect.name == "postgresql":
        horizon = text("pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
        query = query.where(CaseFeed.txid < horizon)
    if after:
        txid, seq = _position(key, after)
        query = query.where(tuple_(CaseFeed.txid, CaseFeed.seq) > tuple_(txid, seq))
    rows = (
        await session.execute(
            query.order_by(CaseFeed.txid, CaseFeed.seq)
            .options(*load_options(include))
            .limit(size + 1)
        )
    ).all()
    page = rows[:size]
    return ChangePage(
        [case for _, _, case in page],
        [encode_cursor(key, ["feed", txid, seq]) for txid, seq, _ in page],
        len(rows) > size,
    )


def _position(key: str, cursor: str) -> tuple[int, int]:
    values = decode_cursor(key, cursor)
    if len(values) != 3 or values[0] != "feed" or not all(isinstance(v, int) for v in values[1:]):
        raise invalid("after", "游标无效：不是变更订阅的游标")
    return values[1], values[2]
