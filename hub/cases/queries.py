"""Reading cases: the filtered, keyset-paginated list (newest first)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, exists, func, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from hub.auth import Scope
from hub.cases.enums import OPEN_STATUSES, Card, CaseStatus, Category, Channel, channel_bit
from hub.cases.loaders import load_options, plain_list, plain_select
from hub.cases.model import Case, ExternalRef, Report
from hub.db import utcnow
from hub.errors import bad_cursor, has_nul, needs_offset, not_an_id, out_of_range, too_long
from hub.pagination import decode_cursor, encode_cursor, page_size
from hub.roles import Permission
from hub.validation import parse_id

MAX_TEXT = 200


@dataclass
class CaseFilter:
    status: list[CaseStatus] | None = None
    tenant_codes: list[str] | None = None
    channels: list[Channel] | None = None
    categories: list[Category] | None = None
    cards: list[Card] | None = None
    overdue: bool | None = None
    source_id: str | None = None
    text: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None


@dataclass(frozen=True)
class CasePage:
    cases: list[Any]  # Case rows, or plain rows (loaders.PLAIN_COLUMNS) when ``plain``
    cursors: list[str]
    has_next_page: bool
    total_count: int | None  # None when the client did not ask for it
    plain: bool = False


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _source_id(value: str) -> uuid.UUID:
    parsed = parse_id(value)
    if parsed is None:  # else "== None" would match every case without a source
        raise not_an_id("filter.sourceId")
    return parsed


def _check_text(text: str) -> None:
    if len(text) > MAX_TEXT:
        raise too_long("filter.text", MAX_TEXT)
    if "\x00" in text:  # PostgreSQL refuses it; SQLite's LIKE would stop there and match all
        raise has_nul("filter.text")


def _text_matches(pattern: str) -> ColumnElement[bool]:
    """The case's own words, or an id another system knows it by: a report's external id (a
    12369 callId) or an external ref (a platform case id). EXISTS keeps it one statement."""
    own = (Case.number, Case.title, Case.description, Case.address)
    reported = exists().where(
        Report.case_id == Case.id, Report.external_id.ilike(pattern, escape="\\")
    )
    referred = exists().where(
        ExternalRef.case_id == Case.id, ExternalRef.external_id.ilike(pattern, escape="\\")
    )
    return or_(*(col.ilike(pattern, escape="\\") for col in own), reported, referred)


def _in_utc_range(value: datetime) -> bool:
    try:
        value.astimezone(UTC)
    except OverflowError:  # year 9999 at -05:00 has no UTC time
        return False
    return True


def apply_filter(query: Select, scope: Scope, flt: CaseFilter, now: datetime) -> Select:
    if flt.status:
        query = query.where(Case.status.in_([s.value for s in flt.status]))
    if flt.tenant_codes is not None:
        ids = [
            scope.directory.by_code[c].id for c in flt.tenant_codes if c in scope.directory.by_code
        ]
        query = query.where(Case.tenant_id.in_(ids))
    if flt.channels:
        mask = sum(channel_bit(c) for c in set(flt.channels))
        query = query.where(Case.channel_mask.op("&")(mask) != 0)
    if flt.categories:
        query = query.where(Case.category.in_([c.value for c in flt.categories]))
    if flt.cards:
        query = query.where(Case.card.in_([c.value for c in flt.cards]))
    if flt.overdue is not None:
        late = (Case.status.in_(list(OPEN_STATUSES))) & (Case.due_at < now)
        query = query.where(late if flt.overdue else ~late | Case.due_at.is_(None))
    if flt.source_id is not None:
        query = query.where(Case.source_id == _source_id(flt.source_id))
    if flt.text:
        _check_text(flt.text)
        query = query.where(_text_matches(f"%{_escape_like(flt.text.strip())}%"))
    for name, value in (("createdAfter", flt.created_after), ("createdBefore", flt.created_before)):
        if value is not None and value.tzinfo is None:
            raise needs_offset(f"filter.{name}")
        if value is not None and not _in_utc_range(value):
            raise out_of_range(f"filter.{name}")
    if flt.created_after:
        query = query.where(Case.created_at >= flt.created_after)
    if flt.created_before:
        query = query.where(Case.created_at < flt.created_before)
    return query


async def list_cases(
    session: AsyncSession,
    scope: Scope,
    flt: CaseFilter | None,
    first: int | None,
    after: str | None,
    *,
    key: str,
    include: set[str],
    want_total: bool,
    rows_ok: bool = False,
) -> CasePage:
    """A page of cases, as ORM rows; or, when the caller takes plain rows (``rows_ok``) and
    selects none of the case's lists, as plain rows of hub.cases.loaders.PLAIN_COLUMNS."""
    scope.require(Permission.CASE_READ)
    flt = flt or CaseFilter()
    size = page_size(first)
    now = utcnow()
    base = apply_filter(select(Case), scope, flt, now)
    plain = rows_ok and plain_list(include)
    query = apply_filter(plain_select(include), scope, flt, now) if plain else base
    query = query.order_by(Case.created_at.desc(), Case.id.desc())
    if after:
        at, case_id = _position(key, after)
        query = query.where(tuple_(Case.created_at, Case.id) < tuple_(at, case_id))
    query = query.limit(size + 1)
    rows: list[Any]
    if plain:
        rows = list((await session.execute(query)).all())
    else:
        rows = list(await session.scalars(query.options(*load_options(include))))
    total = None
    if want_total:
        # select_from: without a filter the count has no column of cases to find its FROM in.
        counting = base.with_only_columns(func.count()).select_from(Case).order_by(None)
        total = await session.scalar(counting)
    page = rows[:size]
    cursors = [encode_cursor(key, [c.created_at.isoformat(), str(c.id)]) for c in page]
    return CasePage(page, cursors, len(rows) > size, total, plain)


def _position(key: str, cursor: str) -> tuple[datetime, uuid.UUID]:
    values = decode_cursor(key, cursor)
    try:
        at, case_id = values
        return datetime.fromisoformat(at), uuid.UUID(case_id)
    except (ValueError, TypeError):
        raise bad_cursor("after") from None
