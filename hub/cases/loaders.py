"""Loading cases: one case by id (to read it, or locked to change it), the related rows loaded
with a list, and the audit of reads that show a reporter's full phone number."""

from __future__ import annotations

import uuid
from collections.abc import Set as AbstractSet
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload, selectinload

from hub.audit import service as audit
from hub.auth import Scope
from hub.cases.model import Case, CaseCandidate, CaseLink
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
