"""One unit of work: a use case in one write transaction, committed, or rolled back and
retried when a concurrent transaction got in its way.

GraphQL mutations, the ingest endpoints and the periodic jobs all change data through
:func:`unit_of_work`, so they agree on what is retried: a unique-key race (two deliveries of
one report at once: the retry sees the other's row), a serialization failure or deadlock
(PostgreSQL SQLSTATE 40001 / 40P01) and a busy SQLite database. Anything else (a
``DomainError`` included) rolls back and propagates at once.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from hub.db import Database

log = logging.getLogger("hub.uow")
T = TypeVar("T")

ATTEMPTS = 2  # one retry: a race is settled by then; a longer fight is the caller's to report
RETRIED_SQLSTATES = frozenset({"40001", "40P01"})  # serialization_failure, deadlock_detected

Work = Callable[[AsyncSession], Awaitable[T]]


class Conflict(Exception):
    """A concurrent change conflicted with this one on every attempt; nothing was stored."""


def is_conflict(exc: BaseException) -> bool:
    """Would trying the same transaction again likely succeed?"""
    if isinstance(exc, IntegrityError):
        return True
    if not isinstance(exc, DBAPIError):
        return False
    # asyncpg's adapted errors and psycopg's carry the SQLSTATE as ``sqlstate``.
    if getattr(exc.orig, "sqlstate", None) in RETRIED_SQLSTATES:
        return True
    return isinstance(exc, OperationalError) and "database is locked" in str(exc.orig)


async def unit_of_work(
    db: Database, tenant_ids: Iterable[uuid.UUID], work: Work[T], *, attempts: int = ATTEMPTS
) -> T:
    """``work(session)`` in a write session that sees ``tenant_ids``, then commit; its result.
    Raises :class:`Conflict` when every attempt met a conflict, else whatever ``work`` raised."""
    tenants = tuple(tenant_ids)
    for attempt in range(1, attempts + 1):
        async with db.session(tenants, write=True) as session:
            try:
                result = await work(session)
                await session.commit()
                return result
            except Exception as exc:
                await session.rollback()
                if not is_conflict(exc):
                    raise
                if attempt == attempts:
                    log.warning("conflict persisted after %d attempts", attempts, exc_info=True)
                    raise Conflict(str(exc)) from exc
    raise AssertionError("unreachable")
