"""Loading cases: one case by id (to read it, or locked to change it), the related rows loaded
with a list, and the audit of reads that show a reporter's full phone number."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Row, Select, bindparam, func, literal_column, select
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased, joinedload, selectinload

from hub.audit import service as audit
from hub.auth import Scope
from hub.cases.model import Case, CaseCandidate, CaseLink, Event, ExternalRef, Report
from hub.errors import not_found
from hub.grid.model import GridCell, Member
from hub.roles import Permission
from hub.sources.model import Source
from hub.validation import parse_id

DETAIL_LOADS = {
    "reports": selectinload(Case.reports),
    "timeline": selectinload(Case.events),
    "links": selectinload(Case.links).joinedload(CaseLink.other_case),
    "externalRefs": selectinload(Case.external_refs),
    "attachments": selectinload(Case.attachments),
    "possibleDuplicates": selectinload(Case.candidates).joinedload(CaseCandidate.candidate),
    # Only the columns the nodes read: not the cells' polygons or the members' phones.
    "gridCell": joinedload(Case.grid_cell).load_only(
        GridCell.id, GridCell.code, GridCell.name, GridCell.level
    ),
    "assignee": joinedload(Case.assignee).load_only(Member.id, Member.name, Member.role),
    "source": joinedload(Case.source).load_only(
        Source.id, Source.name, Source.industry, Source.address
    ),
}


# What a list shows of a case and of its cell, assignee and source, read as plain rows: no ORM
# instances to build (identity map, instance state, joined eager loading cost about as much
# CPU as the rest of the request). Taken when the client selects none of the case's lists.
PLAIN_COLUMNS: tuple[Any, ...] = (
    Case.id, Case.number, Case.title, Case.description, Case.status, Case.category,
    Case.priority, Case.card, Case.channel_mask, Case.report_count, Case.address,
    Case.latitude, Case.longitude, Case.created_at, Case.updated_at, Case.accept_due_at,
    Case.due_at, Case.resolved_at, Case.closed_at, Case.returned_reason, Case.on_site_at,
    Case.satisfaction, Case.tenant_id,
)  # fmt: skip
PLAIN_RELATED: dict[str, tuple[Any, ColumnElement[bool], tuple[Any, ...]]] = {
    "gridCell": (
        GridCell, (Case.grid_cell_id == GridCell.id),
        (GridCell.id.label("cell_id"), GridCell.code.label("cell_code"),
         GridCell.name.label("cell_name"), GridCell.level.label("cell_level")),
    ),
    "assignee": (
        Member, (Case.assignee_id == Member.id),
        (Member.id.label("assignee_id"), Member.name.label("assignee_name"),
         Member.role.label("assignee_role")),
    ),
    "source": (
        Source, (Case.source_id == Source.id),
        (Source.id.label("source_id"), Source.name.label("source_name"),
         Source.industry.label("source_industry"), Source.address.label("source_address")),
    ),
}  # fmt: skip
LISTS = frozenset(
    {"reports", "timeline", "links", "externalRefs", "attachments", "possibleDuplicates"}
)


def plain_list(include: AbstractSet[str]) -> bool:
    """Whether a page can be read as plain rows: the client selects none of the case's lists."""
    return include.isdisjoint(LISTS)


def plain_select(include: AbstractSet[str]) -> Select[Any]:
    """The page's columns, joined with the related rows the client selected. The ORM's
    tenant criteria reach the joined cells, members and sources as they reach joinedload's."""
    return _plain_select(frozenset(include & PLAIN_RELATED.keys()))


@functools.cache  # eight selections at most; building a statement costs more than running it
def _plain_select(related: frozenset[str]) -> Select[Any]:
    query: Select[Any] = select(*PLAIN_COLUMNS)
    for name, (entity, on, columns) in PLAIN_RELATED.items():
        if name in related:
            query = query.outerjoin(entity, on).add_columns(*columns)
    return query


def load_options(include: set[str]) -> list[Any]:
    """Fetch related rows once per list, and only those the client asked for."""
    return [option for name, option in DETAIL_LOADS.items() if name in include]


async def get_case(
    session: AsyncSession,
    scope: Scope,
    case_id: str | uuid.UUID,
    include: AbstractSet[str] = frozenset(),
) -> Case | None:
    """A case the caller may see, else None: another town's case does not exist for them."""
    scope.require(Permission.CASE_READ)
    parsed = parse_id(case_id)
    if parsed is None:
        return None
    return await session.scalar(
        select(Case).where(Case.id == parsed).options(*load_options(set(include)))
    )


async def case_for_change(session: AsyncSession, case_id: str | uuid.UUID) -> Case:
    parsed = parse_id(case_id)
    case = None
    if parsed is not None:
        case = await session.scalar(
            select(Case)
            .where(Case.id == parsed)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    if case is None:
        raise not_found("案件", "caseId")
    return case


async def audit_unmasked(
    session: AsyncSession, scope: Scope, reads: list[tuple[Case, list[str]]]
) -> None:
    """Every read of a reporter's full phone number goes on the audit trail (one batch per
    town, so a page of cases costs the same few statements whatever its size)."""
    by_tenant: dict[uuid.UUID, list[tuple[str, str, uuid.UUID, dict[str, Any]]]] = {}
    for case, report_ids in reads:
        by_tenant.setdefault(case.tenant_id, []).append(
            ("reporter.unmasked", "case", case.id, {"number": case.number, "reports": report_ids})
        )
    for tenant_id in sorted(by_tenant):  # a fixed order: two readers never deadlock on heads
        await audit.append_many(session, tenant_id, scope.principal, by_tenant[tenant_id])


async def get_case_by_number(
    session: AsyncSession, scope: Scope, number: str, include: AbstractSet[str] = frozenset()
) -> Case | None:
    """A case by its human number (the console's URLs), if the caller may see it: another
    town's case does not exist for them (the session is scoped to the caller's towns)."""
    scope.require(Permission.CASE_READ)
    if not number or len(number) > 64:
        return None
    return await session.scalar(
        select(Case).where(Case.number == number).options(*load_options(set(include)))
    )


# --- one case in one statement (PostgreSQL) ---------------------------------------------------
#
# CaseDetail through the ORM is six statements (the case, then reports, timeline, links and
# refs by selectinload) and most of the request's CPU goes to building ORM instances. On
# PostgreSQL the case's columns and its four lists come in one statement instead, the lists as
# JSON arrays (json_agg of correlated subqueries, in the ORM relationships' order), and are read
# into plain objects with the attributes the nodes read. The ORM's tenant criteria (hub.db) reach
# every entity of the subqueries too, and row-level security applies as ever.

ONE_STATEMENT_LISTS = frozenset({"reports", "timeline", "links", "externalRefs"})


@dataclass(slots=True)
class PlainReport:
    id: uuid.UUID
    channel: str
    external_id: str | None
    received_at: datetime
    title: str
    description: str
    category: str
    outcome: str
    outcome_reason: str
    reporter_name: str | None
    reporter_phone: str | None
    anonymous: bool


@dataclass(slots=True)
class PlainEvent:
    at: datetime
    action: str
    from_status: str | None
    to_status: str | None
    note: str | None
    actor_id: str
    actor_name: str
    data: dict[str, Any] | None


@dataclass(slots=True)
class PlainLink:
    kind: str
    id: uuid.UUID
    number: str
    title: str
    status: str


@dataclass(slots=True)
class PlainRef:
    system: str
    external_id: str


@dataclass(slots=True)
class PlainCase:
    """A case's row (hub.cases.queries.PLAIN_COLUMNS and the related columns) and its lists;
    ``lists`` names those that were read (the others are empty because nobody asked)."""

    row: Row[Any]
    lists: frozenset[str]
    reports: list[PlainReport]
    timeline: list[PlainEvent]
    links: list[PlainLink]
    external_refs: list[PlainRef]

    @property
    def id(self) -> uuid.UUID:
        return self.row.id

    @property
    def tenant_id(self) -> uuid.UUID:
        return self.row.tenant_id

    @property
    def number(self) -> str:
        return self.row.number


def one_statement(session: AsyncSession, include: AbstractSet[str]) -> bool:
    """Whether this case can be read in one statement: PostgreSQL, and no list but these four."""
    bind = session.bind
    return (
        bind is not None
        and bind.dialect.name == "postgresql"
        and not (include & LISTS) - ONE_STATEMENT_LISTS
    )


def _json_list(
    fields: dict[str, Any], where: ColumnElement[bool], order: tuple[Any, ...], *froms: Any
) -> Any:
    item = func.json_build_object(*(x for pair in fields.items() for x in pair))
    agg = func.json_agg(aggregate_order_by(item, *order) if order else item)
    return (
        select(func.coalesce(agg, literal_column("'[]'::json")))
        .select_from(*froms)
        .where(where)
        .scalar_subquery()
    )


def _lists(include: AbstractSet[str]) -> list[Any]:
    columns = []
    if "reports" in include:
        r = Report
        fields = {
            "id": r.id, "channel": r.channel, "external_id": r.external_id,
            "received_at": r.received_at, "title": r.title, "description": r.description,
            "category": r.category, "outcome": r.outcome, "outcome_reason": r.outcome_reason,
            "reporter_name": r.reporter_name, "reporter_phone": r.reporter_phone,
            "anonymous": r.anonymous,
        }  # fmt: skip
        where = r.case_id == Case.id
        columns.append(_json_list(fields, where, (r.received_at, r.id), r).label("reports"))
    if "timeline" in include:
        e = Event
        fields = {
            "at": e.at, "action": e.action, "from_status": e.from_status,
            "to_status": e.to_status, "note": e.note, "actor_id": e.actor_id,
            "actor_name": e.actor_name, "data": e.data,
        }  # fmt: skip
        where = e.case_id == Case.id
        columns.append(_json_list(fields, where, (e.at, e.id), e).label("timeline"))
    if "links" in include:
        link, other = CaseLink, aliased(Case)
        fields = {
            "kind": link.kind, "id": other.id, "number": other.number, "title": other.title,
            "status": other.status,
        }  # fmt: skip
        # a linked case the caller may not see is not shown: the criteria reach `other` too
        where = (link.case_id == Case.id) & (other.id == link.other_case_id)
        columns.append(_json_list(fields, where, (), link, other).label("links"))
    if "externalRefs" in include:
        x = ExternalRef
        fields = {"system": x.system, "external_id": x.external_id}
        where = x.case_id == Case.id
        columns.append(_json_list(fields, where, (), x).label("external_refs"))
    return columns


@functools.cache  # one statement per selection of related rows and lists: 128 at most
def _case_select(include: frozenset[str]) -> Select[Any]:
    return (
        plain_select(include).add_columns(*_lists(include)).where(Case.id == bindparam("case_id"))
    )


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value).astimezone(UTC)


def _maybe_at(value: str | None) -> datetime | None:
    return None if value is None else _at(value)


async def read_case(
    session: AsyncSession, scope: Scope, case_id: str | uuid.UUID, include: AbstractSet[str]
) -> PlainCase | None:
    """get_case in one statement (see one_statement), as a PlainCase."""
    scope.require(Permission.CASE_READ)
    parsed = parse_id(case_id)
    if parsed is None:
        return None
    query = _case_select(frozenset(include & (PLAIN_RELATED.keys() | ONE_STATEMENT_LISTS)))
    row = (await session.execute(query, {"case_id": parsed})).first()
    if row is None:
        return None
    fields = row._fields
    reports = [
        PlainReport(**{**r, "id": uuid.UUID(r["id"]), "received_at": _at(r["received_at"])})
        for r in (row.reports if "reports" in fields else [])
    ]
    timeline = [
        PlainEvent(**{**e, "at": _at(e["at"])})
        for e in (row.timeline if "timeline" in fields else [])
    ]
    links = [
        PlainLink(**{**k, "id": uuid.UUID(k["id"])})
        for k in (row.links if "links" in fields else [])
    ]
    refs = [PlainRef(**x) for x in (row.external_refs if "external_refs" in fields else [])]
    lists = frozenset(include) & ONE_STATEMENT_LISTS
    return PlainCase(row, lists, reports, timeline, links, refs)


async def get_case_fast(
    session: AsyncSession, scope: Scope, case_id: str | uuid.UUID, include: AbstractSet[str]
) -> Case | PlainCase | None:
    """get_case, in one statement where one_statement allows (the same answer either way)."""
    if one_statement(session, include):
        return await read_case(session, scope, case_id, include)
    return await get_case(session, scope, case_id, include)
