"""A grid member's own work (myWork) and the people a case may be dispatched to."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import case as when
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.auth import Scope
from hub.cases.enums import FINAL_STATUSES
from hub.cases.loaders import get_case, load_options
from hub.cases.model import Case
from hub.errors import DomainError, ErrorCode
from hub.grid.model import GridCell, Member
from hub.ledgers.model import LedgerItem
from hub.ledgers.service import open_items_of
from hub.patrols.model import Patrol, PatrolStatus
from hub.roles import Permission

_FINAL = [s.value for s in FINAL_STATUSES]


@dataclass(frozen=True)
class MyWork:
    member: Member
    cases: list[Case]
    open_patrol: Patrol | None
    ledger_items: list[LedgerItem]  # the open items they are responsible for


async def bound_member(session: AsyncSession, scope: Scope) -> Member:
    """The member the caller's token or account stands for (FORBIDDEN when it is bound to
    none, NOT_FOUND when that person is not in the caller's towns)."""
    member_id = scope.principal.member_id
    if member_id is None:
        raise DomainError(
            ErrorCode.FORBIDDEN,
            "当前账号未绑定网格人员（令牌须用 --member 工号 创建）",
        )
    member = await session.get(Member, member_id)
    if member is None or not scope.sees(member.tenant_id):
        raise DomainError(ErrorCode.NOT_FOUND, "找不到当前账号绑定的网格人员", "member")
    if not member.active:  # a person who left keeps their history, not their work
        raise DomainError(
            ErrorCode.FORBIDDEN, f"网格人员{member.name}已离岗（停用），不能再以其身份操作"
        )
    return member


async def my_work(session: AsyncSession, scope: Scope, include: set[str]) -> MyWork:
    """The caller's own work: cases assigned to them (open ones first, soonest due first), the
    patrol they are on, the open ledger items they are responsible for (soonest deadline first)."""
    scope.require(Permission.CASE_READ)
    member = await bound_member(session, scope)
    finished = when((Case.status.in_(_FINAL), 1), else_=0)
    cases = await session.scalars(
        select(Case)
        .options(*load_options(include))  # what the client asked for of each case, once a list
        .where(Case.assignee_id == member.id)
        .order_by(finished, Case.due_at.is_(None), Case.due_at, Case.created_at.desc())
    )
    patrol = await session.scalar(
        select(Patrol).where(Patrol.member_id == member.id, Patrol.status == PatrolStatus.OPEN)
    )
    return MyWork(member, list(cases), patrol, await open_items_of(session, member.id))


async def dispatch_candidates(
    session: AsyncSession, scope: Scope, case_id: str
) -> list[tuple[Member, GridCell]]:
    """The active members of the case's grid cell and of the cells above it (a village cell's
    own people first, then the town's), in two statements whatever the depth: every cell of the
    town is read once and the chain walked in memory."""
    scope.require(Permission.GRID_READ)
    case = await get_case(session, scope, case_id)
    if case is None:
        raise DomainError(ErrorCode.NOT_FOUND, "找不到该案件", "caseId")
    if case.grid_cell_id is None:
        return []
    cells = {
        c.id: c
        for c in await session.scalars(select(GridCell).where(GridCell.tenant_id == case.tenant_id))
    }
    chain: list[uuid.UUID] = []
    at: uuid.UUID | None = case.grid_cell_id
    while at is not None and at in cells and at not in chain:
        chain.append(at)
        at = cells[at].parent_id
    members = await session.scalars(
        select(Member).where(Member.grid_cell_id.in_(chain), Member.active.is_(True))
    )
    rank = {cell_id: i for i, cell_id in enumerate(chain)}
    found = [(m, cells[m.grid_cell_id]) for m in members if m.grid_cell_id is not None]
    return sorted(found, key=lambda pair: (rank[pair[1].id], pair[0].name))
