"""Joint enforcement (联合执法): departments acting together on one or more cases.

Recording one links its cases to each other as JOINT (both ways, once), puts the action on each
case's timeline (event JOINT_ACTION, audited on the case's town like every timeline entry) and
keeps the action with one row per case, owned by the case's town: that row is what is counted
per town and period (:func:`counts_per_town`, for the statistics and the bulletin).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import distinct, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.audit import service as audit
from hub.auth import Scope
from hub.cases import loaders, timeline
from hub.cases.enums import STATUS_LABELS, CaseStatus, EventKind, LinkKind
from hub.cases.model import Case, CaseLink
from hub.db import utcnow
from hub.errors import DomainError, ErrorCode, invalid
from hub.joint.model import JointAction, JointActionCase
from hub.roles import Permission
from hub.validation import check_text, check_time, parse_id

CASES_MAX = 50
DEPARTMENTS_MAX = 20
DEPARTMENT_MAX = 100  # characters
# A time may be a little ahead of the hub's clock (a phone's or a laptop's clock is off).
CLOCK_SKEW = timedelta(minutes=5)
# A merged or rejected case is no one's work: the action belongs on the case it went into.
_NOT_ACTED_ON = frozenset({CaseStatus.MERGED, CaseStatus.REJECTED})


@dataclass(frozen=True)
class JointSpec:
    case_ids: tuple[str, ...]
    departments: tuple[str, ...]
    at: datetime
    note: str


def _departments(given: tuple[str, ...]) -> list[str]:
    kept: list[str] = []
    for i, name in enumerate(given):
        text = (name or "").strip()
        if not text:
            raise invalid(f"departments[{i}]", f"参加部门（departments）第 {i + 1} 项为空")
        if len(text) > DEPARTMENT_MAX or not text.isprintable():
            raise invalid(
                f"departments[{i}]",
                f"参加部门（departments）第 {i + 1} 项超过 {DEPARTMENT_MAX} 个字或含有控制字符",
            )
        if text not in kept:
            kept.append(text)
    if not kept:
        raise invalid("departments", "联合执法须至少填写一个参加部门（departments）")
    if len(kept) > DEPARTMENTS_MAX:
        raise invalid("departments", f"参加部门（departments）最多 {DEPARTMENTS_MAX} 个")
    return kept


def _when(at: datetime) -> datetime:
    check_time("at", at)
    if at > utcnow() + CLOCK_SKEW:
        raise invalid("at", "执法时间（at）不能晚于当前时间：只记录已经进行的联合执法")
    return at


def _case_ids(given: tuple[str, ...]) -> list[uuid.UUID]:
    if not given:
        raise invalid("caseIds", "联合执法须至少关联一个案件（caseIds）")
    ids: list[uuid.UUID] = []
    for i, text in enumerate(given):
        parsed = parse_id(text)
        if parsed is None:
            raise DomainError(
                ErrorCode.NOT_FOUND, f"案件不存在或您无权查看（caseIds 第 {i + 1} 项）", "caseIds"
            )
        if parsed not in ids:
            ids.append(parsed)
    if len(ids) > CASES_MAX:
        raise invalid("caseIds", f"一次联合执法最多关联 {CASES_MAX} 个案件")
    return ids


async def _cases(session: AsyncSession, ids: list[uuid.UUID]) -> list[Case]:
    """The cases, locked in id order (two actions on the same cases never deadlock), returned in
    the order given; one the caller does not see does not exist."""
    found = {
        c.id: c
        for c in await session.scalars(
            select(Case)
            .where(Case.id.in_(ids))
            .order_by(Case.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    }
    for i, case_id in enumerate(ids):
        case = found.get(case_id)
        if case is None:
            raise DomainError(
                ErrorCode.NOT_FOUND, f"案件不存在或您无权查看（caseIds 第 {i + 1} 项）", "caseIds"
            )
        if case.status in _NOT_ACTED_ON:
            raise DomainError(
                ErrorCode.INVALID_TRANSITION,
                f"案件{case.number}状态为{STATUS_LABELS[case.status]}，不能记录联合执法",
                "caseIds",
            )
    return [found[i] for i in ids]


def _owner(scope: Scope, cases: list[Case]) -> uuid.UUID:
    """The town of the cases, or the city's when they span towns (the city sees them all)."""
    towns = {c.tenant_id for c in cases}
    city = scope.directory.city
    if len(towns) > 1 and city is not None and scope.sees(city.id):
        return city.id
    return cases[0].tenant_id


async def _link(session: AsyncSession, cases: list[Case]) -> int:
    """JOINT links between every two of the cases, both ways; links already there are kept."""
    pairs = [(a, b) for a in cases for b in cases if a.id != b.id]
    if not pairs:
        return 0
    rows = await session.execute(
        select(CaseLink.case_id, CaseLink.other_case_id).where(
            CaseLink.kind == LinkKind.JOINT.value,
            CaseLink.case_id.in_([c.id for c in cases]),
        )
    )
    have = {(case_id, other_id) for case_id, other_id in rows}
    new = [
        CaseLink(tenant_id=a.tenant_id, case_id=a.id, other_case_id=b.id, kind=LinkKind.JOINT.value)
        for a, b in pairs
        if (a.id, b.id) not in have
    ]
    session.add_all(new)
    return len(new)


async def record_joint_action(session: AsyncSession, scope: Scope, spec: JointSpec) -> JointAction:
    """联合执法: checked whole before anything is written."""
    scope.require(Permission.JOINT_RECORD)
    ids = _case_ids(spec.case_ids)
    departments = _departments(spec.departments)
    at = _when(spec.at)
    note = check_text("note", spec.note, required=True) or ""
    cases = await _cases(session, ids)
    action = JointAction(
        id=uuid.uuid4(),
        tenant_id=_owner(scope, cases),
        at=at,
        departments=departments,
        note=note,
        recorded_by=scope.principal.name,
    )
    session.add(action)
    await session.flush()
    session.add_all(
        JointActionCase(tenant_id=c.tenant_id, action_id=action.id, case_id=c.id, at=at)
        for c in cases
    )
    linked = await _link(session, cases)
    numbers = [c.number for c in cases]
    data: dict[str, Any] = {
        "jointAction": str(action.id),
        "departments": departments,
        "at": at.isoformat(),
        "cases": numbers,
    }
    for case in cases:
        await timeline.record(session, scope, case, EventKind.JOINT_ACTION, None, None, note, data)
    await audit.append(
        session,
        action.tenant_id,
        scope.principal,
        "joint.recorded",
        "joint_action",
        action.id,
        {**data, "note": note, "links": linked},
    )
    return action


async def action_with_cases(
    session: AsyncSession, scope: Scope, action_id: uuid.UUID, include: set[str]
) -> tuple[JointAction, list[Case]]:
    """An action and the cases it acted on that the caller sees (with what the client asked
    for of each case), by case number."""
    scope.require(Permission.CASE_READ)
    action = await session.get_one(JointAction, action_id)
    cases = await session.scalars(
        select(Case)
        .join(JointActionCase, JointActionCase.case_id == Case.id)
        .options(*loaders.load_options(include))
        .where(JointActionCase.action_id == action_id)
        .order_by(Case.number)
    )
    return action, list(cases)


async def counts_per_town(
    session: AsyncSession, since: datetime, until: datetime
) -> dict[uuid.UUID, int]:
    """联合执法 per town in [since, until) by the action's time: an action counts once in each
    town whose cases it acted on (an action on cases of two towns counts in both). Only the towns
    the session sees; a town with none is absent."""
    rows = await session.execute(
        select(JointActionCase.tenant_id, func.count(distinct(JointActionCase.action_id)))
        .where(JointActionCase.at >= since, JointActionCase.at < until)
        .group_by(JointActionCase.tenant_id)
    )
    return {tenant_id: int(count) for tenant_id, count in rows}
