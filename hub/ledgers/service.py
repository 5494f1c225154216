"""Ledgers (台账): open an item, record its progress, close it (销号), list and export them.

An item belongs to one town and is numbered per town and year (TZ-2026-0001, hub/ledgers/rules.py).
It may name the member responsible for it, the enterprise (source) and the case it is about; each
must be of the item's own town. Progress is recorded by the responsible member, the town's office
or the city's roles; closing needs a verification note and is never done by the responsible
member, whatever roles their login has. Every change is one entry on the town's audit chain.
Overdue items are carded by the time-limit sweep (hub/ledgers/cards.py).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Select, and_, func, not_, select, tuple_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from hub.audit import service as audit
from hub.auth import Scope
from hub.cases.model import Case
from hub.db import utcnow
from hub.errors import DomainError, ErrorCode, bad_cursor, invalid, not_an_id, unknown_town
from hub.grid.model import Member
from hub.ledgers import rules
from hub.ledgers.model import LedgerCounter, LedgerItem, LedgerKind, LedgerProgress, LedgerStatus
from hub.pagination import decode_cursor, encode_cursor, page_size
from hub.roles import Permission, Role
from hub.sources.model import Source
from hub.tenancy.service import TenantInfo
from hub.validation import check_text, parse_id

MEASURES_MAX = 50  # measures per item
MEASURE_MAX = 500  # characters per measure
VERIFICATION_MAX = 4_000
DEADLINE_YEARS_MAX = 10  # a deadline further ahead is a typo
# Roles that work a town's ledger as an office; a caller with none of them is a grid member.
OFFICE_ROLES = frozenset({Role.ADMIN, Role.DISPATCHER, Role.SUPERVISOR, Role.OPERATOR, Role.VIEWER})


@dataclass(frozen=True)
class ItemSpec:
    kind: LedgerKind
    tenant_code: str
    title: str
    description: str
    measures: tuple[str, ...]
    deadline: date
    responsible_member_id: str | None = None
    source_id: str | None = None
    case_id: str | None = None


@dataclass(frozen=True)
class LedgerFilter:
    tenant_codes: list[str] | None = None
    kinds: list[LedgerKind] | None = None
    statuses: list[LedgerStatus] | None = None
    overdue: bool | None = None
    source_id: str | None = None


@dataclass
class ItemRow:
    """An item as a list shows it: with its source, responsible member, case and progress."""

    item: LedgerItem
    source: Source | None
    responsible: Member | None
    case: Case | None
    overdue: bool
    progress: list[LedgerProgress] = field(default_factory=list)


@dataclass(frozen=True)
class ItemPage:
    rows: list[ItemRow]
    cursors: list[str]
    has_next_page: bool
    total_count: int | None


# --- checks ------------------------------------------------------------------------------------


def _town(scope: Scope, code: str) -> TenantInfo:
    tenant = scope.directory.by_code.get((code or "").strip())
    if tenant is None:
        raise unknown_town("tenantCode", code)
    if not scope.sees(tenant.id):
        raise DomainError(
            ErrorCode.FORBIDDEN, f"无权为{tenant.name}建立台账（只能为本镇建立）", "tenantCode"
        )
    return tenant


def _measures(given: tuple[str, ...]) -> list[str]:
    kept = [m.strip() for m in given if m and m.strip()]
    if not kept:
        raise invalid("measures", "整改措施（measures）至少填写一条")
    if len(kept) > MEASURES_MAX:
        raise invalid("measures", f"整改措施（measures）最多 {MEASURES_MAX} 条")
    for i, measure in enumerate(kept):
        if len(measure) > MEASURE_MAX or "\x00" in measure:
            raise invalid(
                f"measures[{i}]", f"第 {i + 1} 条整改措施超过 {MEASURE_MAX} 个字符或含有空字符"
            )
    return kept


def _deadline(deadline: date, today: date) -> date:
    if deadline < today:
        raise invalid(
            "deadline", f"整改期限（deadline）{deadline.isoformat()} 早于今天，不能建立已过期的台账"
        )
    if deadline > today + timedelta(days=366 * DEADLINE_YEARS_MAX):
        raise invalid("deadline", f"整改期限（deadline）不能晚于 {DEADLINE_YEARS_MAX} 年之后")
    return deadline


async def _member_of(
    session: AsyncSession, tenant: TenantInfo, given: str | None
) -> uuid.UUID | None:
    if given is None:
        return None
    parsed = parse_id(given)
    member = await session.get(Member, parsed) if parsed else None
    if member is None or member.tenant_id != tenant.id:
        raise DomainError(
            ErrorCode.NOT_FOUND, f"{tenant.name}没有这个网格人员（responsibleMemberId）",
            "responsibleMemberId",
        )  # fmt: skip
    if not member.active:
        raise invalid("responsibleMemberId", f"网格人员{member.name}已离岗（停用），不能做责任人")
    return member.id


async def _source_of(
    session: AsyncSession, tenant: TenantInfo, given: str | None
) -> uuid.UUID | None:
    if given is None:
        return None
    parsed = parse_id(given)
    source = await session.get(Source, parsed) if parsed else None
    if source is None or source.tenant_id != tenant.id:
        raise DomainError(ErrorCode.NOT_FOUND, f"{tenant.name}没有这个企业（sourceId）", "sourceId")
    return source.id


async def _case_of(
    session: AsyncSession, tenant: TenantInfo, given: str | None
) -> uuid.UUID | None:
    if given is None:
        return None
    parsed = parse_id(given)
    case = await session.get(Case, parsed) if parsed else None
    if case is None or case.tenant_id != tenant.id:
        raise DomainError(ErrorCode.NOT_FOUND, f"{tenant.name}没有这个案件（caseId）", "caseId")
    return case.id


async def _next_number(session: AsyncSession, tenant: TenantInfo, year: int) -> str:
    """The town's next number of the year, taken in the caller's transaction: a refusal or a
    rollback gives it back, and two openings in one town wait for each other's commit."""
    insert: Any = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    taken = await session.scalar(
        insert(LedgerCounter)
        .values(scope=rules.counter_scope(tenant.code, year), value=1)
        .on_conflict_do_update(
            index_elements=[LedgerCounter.scope], set_={"value": LedgerCounter.value + 1}
        )
        .returning(LedgerCounter.value)
    )
    return rules.number(year, int(taken))


# --- changes -----------------------------------------------------------------------------------


async def open_item(
    session: AsyncSession, scope: Scope, spec: ItemSpec, *, tz: ZoneInfo
) -> LedgerItem:
    """建立台账: every field checked before anything is written or numbered."""
    scope.require(Permission.LEDGER_OPEN)
    tenant = _town(scope, spec.tenant_code)
    title = check_text("title", spec.title, required=True) or ""
    description = check_text("description", spec.description, required=True) or ""
    measures = _measures(spec.measures)
    now = utcnow()
    deadline = _deadline(spec.deadline, rules.local_day(now, tz))
    member_id = await _member_of(session, tenant, spec.responsible_member_id)
    source_id = await _source_of(session, tenant, spec.source_id)
    case_id = await _case_of(session, tenant, spec.case_id)
    item = LedgerItem(
        id=uuid.uuid4(),
        tenant_id=tenant.id,
        number=await _next_number(session, tenant, rules.local_day(now, tz).year),
        kind=LedgerKind(spec.kind).value,
        title=title,
        description=description,
        measures=measures,
        deadline=deadline,
        responsible_member_id=member_id,
        source_id=source_id,
        case_id=case_id,
        status=LedgerStatus.OPEN.value,
        percent=0,
        opened_by=scope.principal.name,
        opened_at=now,
    )
    session.add(item)
    await session.flush()
    await _audit(
        session, scope, item, "ledger.opened",
        {
            "kind": item.kind,
            "title": title,
            "deadline": deadline.isoformat(),
            "responsibleMemberId": str(member_id) if member_id else None,
            "sourceId": str(source_id) if source_id else None,
            "caseId": str(case_id) if case_id else None,
        },
    )  # fmt: skip
    return item


async def _item_for_change(session: AsyncSession, item_id: str) -> LedgerItem:
    parsed = parse_id(item_id)
    item = (
        await session.scalar(
            select(LedgerItem)
            .where(LedgerItem.id == parsed)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        if parsed
        else None
    )
    if item is None:
        raise DomainError(ErrorCode.NOT_FOUND, "台账不存在或您无权查看", "itemId")
    return item


def _is_member_only(scope: Scope) -> bool:
    return not (scope.roles & OFFICE_ROLES)


def _still_open(item: LedgerItem) -> None:
    if item.status == LedgerStatus.CLOSED:
        raise DomainError(
            ErrorCode.INVALID_TRANSITION, f"台账{item.number}已销号，不能再记录或销号", "itemId"
        )


async def record_progress(
    session: AsyncSession, scope: Scope, item_id: str, note: str, percent: int
) -> LedgerItem:
    """记录进展: the responsible member on their own item, the town's office, the city's roles."""
    scope.require(Permission.LEDGER_PROGRESS)
    item = await _item_for_change(session, item_id)
    if _is_member_only(scope) and (
        scope.principal.member_id is None or scope.principal.member_id != item.responsible_member_id
    ):
        raise DomainError(
            ErrorCode.FORBIDDEN, f"你不是台账{item.number}的责任人，不能记录它的进展", "itemId"
        )
    _still_open(item)
    text = check_text("note", note, required=True) or ""
    problem = rules.check_percent(percent)
    if problem is not None:
        raise invalid("percent", problem)
    session.add(
        LedgerProgress(
            tenant_id=item.tenant_id,
            item_id=item.id,
            at=utcnow(),
            note=text,
            percent=percent,
            by=scope.principal.name,
        )
    )
    before, item.percent = item.percent, percent
    await _audit(
        session, scope, item, "ledger.progress", {"note": text, "percent": [before, percent]}
    )
    return item


async def close_item(
    session: AsyncSession, scope: Scope, item_id: str, verification: str
) -> LedgerItem:
    """销号: with the verification note, by the town's office, supervision or ADMIN, never by the
    item's responsible member. The item is then done (100%)."""
    scope.require(Permission.LEDGER_CLOSE)
    item = await _item_for_change(session, item_id)
    member_id = scope.principal.member_id
    if member_id is not None and member_id == item.responsible_member_id:
        raise DomainError(
            ErrorCode.FORBIDDEN,
            f"责任人不能为自己负责的台账{item.number}销号，须由本镇网格办、督查或管理员核查销号",
            "itemId",
        )
    _still_open(item)
    text = (verification or "").strip()
    if not text:
        raise invalid("verification", "销号须填写核查意见（verification）")
    if len(text) > VERIFICATION_MAX or "\x00" in text:
        raise invalid(
            "verification", f"核查意见（verification）超过 {VERIFICATION_MAX} 个字符或含有空字符"
        )
    before = item.percent
    item.status, item.verification, item.percent = LedgerStatus.CLOSED.value, text, 100
    item.closed_by, item.closed_at = scope.principal.name, utcnow()
    await _audit(
        session, scope, item, "ledger.closed", {"verification": text, "percent": [before, 100]}
    )
    return item


async def _audit(
    session: AsyncSession, scope: Scope, item: LedgerItem, action: str, data: dict[str, Any]
) -> None:
    await audit.append(
        session,
        item.tenant_id,
        scope.principal,
        action,
        "ledger_item",
        item.id,
        {"number": item.number, **data},
    )


# --- reading -----------------------------------------------------------------------------------


def _overdue_clause(today: date) -> ColumnElement[bool]:
    return and_(LedgerItem.status == LedgerStatus.OPEN.value, LedgerItem.deadline < today)


def _visible(scope: Scope, query: Select[Any]) -> Select[Any]:
    """A grid member (no office role) sees the items they are responsible for."""
    if _is_member_only(scope):
        member_id = scope.principal.member_id
        return query.where(
            LedgerItem.responsible_member_id == member_id if member_id else LedgerItem.id.is_(None)
        )
    return query


def _filtered(scope: Scope, flt: LedgerFilter, today: date) -> Select[Any]:
    query = _visible(scope, select(LedgerItem))
    if flt.tenant_codes is not None:
        ids = [
            scope.directory.by_code[c].id for c in flt.tenant_codes if c in scope.directory.by_code
        ]
        query = query.where(LedgerItem.tenant_id.in_(ids))
    if flt.kinds:
        query = query.where(LedgerItem.kind.in_([LedgerKind(k).value for k in flt.kinds]))
    if flt.statuses:
        query = query.where(LedgerItem.status.in_([LedgerStatus(s).value for s in flt.statuses]))
    if flt.overdue is not None:
        late = _overdue_clause(today)
        query = query.where(late if flt.overdue else not_(late))
    if flt.source_id is not None:
        parsed = parse_id(flt.source_id)
        if parsed is None:
            raise not_an_id("filter.sourceId")
        query = query.where(LedgerItem.source_id == parsed)
    return query


def _with_people(query: Select[Any]) -> Select[Any]:
    """Items with their source, responsible member and case: one statement for any number."""
    return (
        query.add_columns(Source, Member, Case)
        .outerjoin(Source, Source.id == LedgerItem.source_id)
        .outerjoin(Member, Member.id == LedgerItem.responsible_member_id)
        .outerjoin(Case, Case.id == LedgerItem.case_id)
    )


async def _progress_of(
    session: AsyncSession, ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[LedgerProgress]]:
    """The progress of these items, oldest first, per item: one statement for a whole list."""
    found: dict[uuid.UUID, list[LedgerProgress]] = {}
    if not ids:
        return found
    rows = await session.scalars(
        select(LedgerProgress)
        .where(LedgerProgress.item_id.in_(ids))
        .order_by(LedgerProgress.at, LedgerProgress.id)
    )
    for row in rows:
        found.setdefault(row.item_id, []).append(row)
    return found


def _rows(found: Any, today: date) -> list[ItemRow]:
    return [
        ItemRow(
            item,
            source,
            member,
            case,
            rules.is_overdue(item.status == LedgerStatus.OPEN, item.deadline, today),
        )
        for item, source, member, case in found
    ]


async def list_items(
    session: AsyncSession,
    scope: Scope,
    flt: LedgerFilter | None,
    first: int | None,
    after: str | None,
    *,
    key: str,
    tz: ZoneInfo,
    want_total: bool,
    want_progress: bool,
) -> ItemPage:
    """Items the caller sees, newest first (keyset-paginated like cases)."""
    scope.require(Permission.LEDGER_READ)
    today = rules.local_day(utcnow(), tz)
    base = _filtered(scope, flt or LedgerFilter(), today)
    size = page_size(first)
    query = _with_people(base).order_by(LedgerItem.opened_at.desc(), LedgerItem.id.desc())
    if after:
        at, item_id = _position(key, after)
        query = query.where(tuple_(LedgerItem.opened_at, LedgerItem.id) < tuple_(at, item_id))
    found = list(await session.execute(query.limit(size + 1)))
    rows = _rows(found[:size], today)
    if want_progress:
        progress = await _progress_of(session, [r.item.id for r in rows])
        for row in rows:
            row.progress = progress.get(row.item.id, [])
    total = None
    if want_total:
        counting = base.with_only_columns(func.count()).select_from(LedgerItem).order_by(None)
        total = int(await session.scalar(counting) or 0)
    cursors = [encode_cursor(key, [r.item.opened_at.isoformat(), str(r.item.id)]) for r in rows]
    return ItemPage(rows, cursors, len(found) > size, total)


def _position(key: str, cursor: str) -> tuple[datetime, uuid.UUID]:
    values = decode_cursor(key, cursor)
    try:
        at, item_id = values
        return datetime.fromisoformat(at), uuid.UUID(item_id)
    except (ValueError, TypeError):
        raise bad_cursor("after") from None


async def item_row(
    session: AsyncSession, scope: Scope, item_id: uuid.UUID, *, tz: ZoneInfo
) -> ItemRow:
    """One item as the list shows it, with its progress (read back after a change)."""
    scope.require(Permission.LEDGER_READ)
    today = rules.local_day(utcnow(), tz)
    found = list(
        await session.execute(_with_people(select(LedgerItem)).where(LedgerItem.id == item_id))
    )
    [row] = _rows(found, today)
    row.progress = (await _progress_of(session, [item_id])).get(item_id, [])
    return row


async def export_rows(session: AsyncSession, scope: Scope, *, tz: ZoneInfo) -> list[ItemRow]:
    """Every item the caller sees, by town and number, with its progress (the workbook)."""
    scope.require(Permission.LEDGER_READ)
    today = rules.local_day(utcnow(), tz)
    query = _with_people(_visible(scope, select(LedgerItem))).order_by(
        LedgerItem.tenant_id, LedgerItem.opened_at, LedgerItem.number
    )
    rows = _rows(await session.execute(query), today)
    progress = await _progress_of(session, [r.item.id for r in rows])
    for row in rows:
        row.progress = progress.get(row.item.id, [])
    return rows


async def open_items_of(session: AsyncSession, member_id: uuid.UUID) -> list[LedgerItem]:
    """A member's open items, soonest deadline first (myWork)."""
    return list(
        await session.scalars(
            select(LedgerItem)
            .where(
                LedgerItem.responsible_member_id == member_id,
                LedgerItem.status == LedgerStatus.OPEN.value,
            )
            .order_by(LedgerItem.deadline, LedgerItem.number)
        )
    )
