"""Query codes and the public reads: the use cases behind ``/lookup``, ``GET /public/cases``
and the Open311 facade's reads. Read-only sessions that see every town (the public does not
choose a town); nothing here answers whether a case number exists without its code.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.auth import system_scope
from hub.cases.enums import CaseStatus, Category
from hub.cases.model import Case, Event, Report
from hub.db import Database
from hub.grid.model import Member
from hub.public import codes
from hub.public.view import OPEN311_OPEN, PUBLIC_STEPS, PublicCase, PublicEvent
from hub.tenancy.model import Tenant

# How far a merged case's number is followed to the case that holds its reports now.
MERGE_HOPS = 5
# Events the public view needs: its steps and the result behind the reply.
_WANTED = (*PUBLIC_STEPS, "SUBMIT")


def issue_code(report: Report, secret: str) -> str:
    """The caller's query code of this report (a hotline call, an Open311 request), kept
    hashed on it. The same report always answers the same code: a repeated delivery of a
    call gives the operator the code again without the code being stored."""
    code = codes.code_for(secret, report.id)
    if report.query_code_hash is None:
        report.query_code_hash = codes.stored_hash(secret, report.id, code)
    return code


async def lookup(db: Database, number: str, typed_code: str, secret: str) -> PublicCase | None:
    """The public view of the case with this number, if the code is one of its callers';
    None for a wrong number or a wrong code alike."""
    number, code = number.strip().upper(), codes.normalize(typed_code)
    if not number or len(number) > 32 or not codes.well_formed(code):
        return None
    everyone = await system_scope(db)
    async with db.session(everyone.tenant_ids) as session:
        case = await session.scalar(select(Case).where(Case.number == number))
        if case is None:
            return None
        # A merged case's reports (and so its callers' codes) are on the case it went into.
        held = [case]
        while held[-1].merged_into_id is not None and len(held) <= MERGE_HOPS:
            into = await session.get(Case, held[-1].merged_into_id)
            if into is None:
                break
            held.append(into)
        rows = await session.execute(
            select(Report.id, Report.case_id, Report.query_code_hash).where(
                Report.case_id.in_([c.id for c in held]), Report.query_code_hash.is_not(None)
            )
        )
        match = next(
            (r for r in rows if codes.matches(secret, r.id, code, r.query_code_hash)), None
        )
        if match is None:
            return None
        shown = next(c for c in held if c.id == match.case_id)
        views = await _views(session, [shown])
        view = views[shown.id]
        return PublicCase(
            number=case.number,
            status=view.status,
            category=view.category,
            received_at=case.created_at,
            events=view.events,
            names=view.names,
            merged=shown.id != case.id,
        )


@dataclass(frozen=True)
class PublicRequest:
    """One case as the Open311 facade lists it: the public view and where it is."""

    view: PublicCase
    town: str  # the office responsible (a town's name, not a person's)
    address: str | None  # struck of phones and names
    latitude: float | None
    longitude: float | None
    due_at: datetime | None


@dataclass(frozen=True)
class Search:
    numbers: Sequence[str] = ()
    category: Category | None = None
    start: datetime | None = None
    end: datetime | None = None
    open: bool | None = None  # None: both
    limit: int = 200


async def public_requests(db: Database, search: Search) -> list[PublicRequest]:
    """Cases as the public may list them (Open311 GET requests), newest first."""
    everyone = await system_scope(db)
    async with db.session(everyone.tenant_ids) as session:
        cases = list(await session.scalars(_search(search)))
        views = await _views(session, cases)
        towns = {t.id: t.name for t in await session.execute(select(Tenant.id, Tenant.name))}
    found = []
    for case in cases:
        view = views[case.id]
        address = view.strike(case.address) if case.address else None
        found.append(
            PublicRequest(
                view=view,
                town=towns.get(case.tenant_id, ""),
                address=address,
                latitude=case.latitude,
                longitude=case.longitude,
                due_at=case.due_at,
            )
        )
    return found


def _search(search: Search) -> Select[Case]:
    query = select(Case).order_by(Case.created_at.desc(), Case.id.desc()).limit(search.limit)
    if search.numbers:
        query = query.where(Case.number.in_([n.strip().upper() for n in search.numbers]))
    if search.category is not None:
        query = query.where(Case.category == search.category)
    if search.start is not None:
        query = query.where(Case.created_at >= search.start)
    if search.end is not None:
        query = query.where(Case.created_at <= search.end)
    if search.open is not None:
        opened = [s.value for s in OPEN311_OPEN]
        query = query.where(Case.status.in_(opened) if search.open else Case.status.not_in(opened))
    return query


async def _views(session: AsyncSession, cases: Iterable[Case]) -> dict[uuid.UUID, PublicCase]:
    """Each case's public view, in three statements for any number of cases."""
    cases = list(cases)
    ids = [c.id for c in cases]
    events: dict[uuid.UUID, list[PublicEvent]] = defaultdict(list)
    names: dict[uuid.UUID, set[str]] = defaultdict(set)
    if ids:
        for case_id, action, at, note, actor in await session.execute(
            select(Event.case_id, Event.action, Event.at, Event.note, Event.actor_name).where(
                Event.case_id.in_(ids), Event.action.in_([str(a) for a in _WANTED])
            )
        ):
            events[case_id].append(PublicEvent(action, at, note))
            names[case_id].add(actor)
        for case_id, name in await session.execute(
            select(Report.case_id, Report.reporter_name).where(
                Report.case_id.in_(ids), Report.reporter_name.is_not(None)
            )
        ):
            names[case_id].add(name or "")
    # The people of the towns involved (grid members, office staff) by name.
    towns = {c.tenant_id for c in cases}
    staff: dict[uuid.UUID, set[str]] = defaultdict(set)
    if towns:
        for tenant_id, name in await session.execute(
            select(Member.tenant_id, Member.name).where(Member.tenant_id.in_(towns))
        ):
            staff[tenant_id].add(name)
    return {
        c.id: PublicCase(
            number=c.number,
            status=CaseStatus(c.status),
            category=c.category,
            received_at=c.created_at,
            events=tuple(events[c.id]),
            names=frozenset(names[c.id] | staff[c.tenant_id]),
        )
        for c in cases
    }
