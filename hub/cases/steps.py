"""The workflow's steps after intake: dispatch (转办), accept, progress, result, review,
feedback (反馈), close, reopen, reject, and merging cases or splitting a report off one.

Every step locks the case, asks the pure workflow whether it may happen, writes it on the
timeline and moves the case's clocks, inside the caller's transaction (the caller commits).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from hub.auth import Scope
from hub.cases import workflow
from hub.cases.enums import (
    CaseStatus,
    Channel,
    EventKind,
    Priority,
    ReportOutcome,
    Satisfaction,
    channel_bit,
)
from hub.cases.inputs import DispatchInput
from hub.cases.intake import FEEDBACK_CHANNELS, next_number
from hub.cases.loaders import case_for_change
from hub.cases.model import Case, CaseLink, Event, ExternalRef, Report
from hub.cases.timeline import next_status, record, transition
from hub.db import utcnow
from hub.errors import DomainError, ErrorCode, invalid, not_found
from hub.grid.model import GridCell, Member
from hub.grid.service import grid_index
from hub.roles import Permission, require
from hub.supervision import clocks
from hub.supervision.model import Phase
from hub.validation import check_text, check_time, parse_id


async def dispatch(
    session: AsyncSession, scope: Scope, case_id: str, inp: DispatchInput, *, tz: ZoneInfo
) -> Case:
    """转办: send the case to a town (and its grid cell and member), starting its clocks."""
    note = check_text("note", inp.note)
    check_time("dueAt", inp.due_at)
    case = await case_for_change(session, case_id)
    tenant = scope.directory.by_code.get(inp.tenant_code)
    if tenant is None or not scope.sees(tenant.id):
        raise not_found(f"tenant {inp.tenant_code!r}", "tenantCode")
    cell = await _owned(session, GridCell, inp.grid_cell_id, tenant.id, "gridCellId")
    member = await _owned(session, Member, inp.assignee_id, tenant.id, "assigneeId")
    now = utcnow()
    if inp.due_at is not None and inp.due_at <= now:
        raise invalid("dueAt", "dueAt must be in the future")
    decided = next_status(scope, case, workflow.Action.DISPATCH)
    previous_tenant = case.tenant_id
    if tenant.id != case.tenant_id:
        await move_case(session, case, tenant.id)
        case.grid_cell_id = await _cell_in_town(session, case, tenant.id)
    before, case.status = case.status, decided
    await record(
        session,
        scope,
        case,
        EventKind.DISPATCH,
        before,
        decided,
        note,
        {
            "to": tenant.code,
            "gridCell": str(cell.id) if cell else None,
            "assignee": member.name if member else None,
        },
    )
    case.grid_cell_id = cell.id if cell else case.grid_cell_id
    case.assignee_id = member.id if member else None
    if inp.due_at is not None:
        case.due_at, case.due_fixed = inp.due_at, True
    level = clocks.level_of(tenant.kind, case.assignee_id)
    hop = await clocks.open_hop(session, case, level, case.assignee_id, previous_tenant, tz)
    case.accept_due_at = hop.yellow_at
    if not case.due_fixed:
        case.due_at, _ = await clocks.thresholds(session, case, level, Phase.HANDLE, now, tz)
    return case


async def _cell_in_town(
    session: AsyncSession, case: Case, tenant_id: uuid.UUID
) -> uuid.UUID | None:
    """The new town's cell that contains the case's point, if any."""
    if case.latitude is None or case.longitude is None:
        return None
    index = await grid_index(session.info["db"])
    found = index.locate(case.longitude, case.latitude, {tenant_id})
    return found.cell_id if found else None


async def _owned(
    session: AsyncSession,
    model: type[Any],
    row_id: uuid.UUID | None,
    tenant_id: uuid.UUID,
    field_name: str,
) -> Any:
    if row_id is None:
        return None
    row = await session.get(model, row_id)
    if row is None or row.tenant_id != tenant_id:
        raise not_found(f"{model.__name__} in that town", field_name)
    return row


async def move_case(session: AsyncSession, case: Case, tenant_id: uuid.UUID) -> None:
    """A case changing town takes its reports, timeline, links and refs along."""
    for model in (Report, Event, ExternalRef):
        await session.execute(
            update(model).where(model.case_id == case.id).values(tenant_id=tenant_id)
        )
    await session.execute(
        update(CaseLink).where(CaseLink.case_id == case.id).values(tenant_id=tenant_id)
    )
    case.tenant_id = tenant_id


async def accept(
    session: AsyncSession, scope: Scope, case_id: str, note: str | None, *, tz: ZoneInfo
) -> Case:
    case = await case_for_change(session, case_id)
    await transition(
        session, scope, case, workflow.Action.ACCEPT, EventKind.ACCEPT, check_text("note", note)
    )
    hop = await clocks.current_hop(session, case)
    if hop is not None:
        hop.accepted_at = utcnow()
        await clocks.start_phase(session, case, hop, Phase.HANDLE, tz)
    return case


async def _next_phase(session: AsyncSession, case: Case, phase: Phase, tz: ZoneInfo) -> None:
    hop = await clocks.current_hop(session, case)
    if hop is not None:
        await clocks.start_phase(session, case, hop, phase, tz)


async def record_progress(session: AsyncSession, scope: Scope, case_id: str, note: str) -> Case:
    text = check_text("note", note, required=True)
    case = await case_for_change(session, case_id)
    await transition(session, scope, case, workflow.Action.PROGRESS, EventKind.PROGRESS, text)
    return case


async def submit_result(
    session: AsyncSession,
    scope: Scope,
    case_id: str,
    result: str,
    on_site_at: datetime | None,
    *,
    tz: ZoneInfo,
) -> Case:
    text = check_text("result", result, required=True)
    check_time("onSiteAt", on_site_at)
    case = await case_for_change(session, case_id)
    data = {"onSiteAt": on_site_at.isoformat() if on_site_at else None}
    await transition(session, scope, case, workflow.Action.SUBMIT, EventKind.SUBMIT, text, data)
    await _next_phase(session, case, Phase.REVIEW, tz)
    return case


async def review(
    session: AsyncSession,
    scope: Scope,
    case_id: str,
    approve: bool,
    note: str | None,
    *,
    tz: ZoneInfo,
) -> Case:
    text = check_text("note", note)
    case = await case_for_change(session, case_id)
    action, kind = (
        (workflow.Action.APPROVE, EventKind.APPROVE)
        if approve
        else (workflow.Action.RETURN, EventKind.RETURN)
    )
    await transition(session, scope, case, action, kind, text)
    if not approve:
        await _next_phase(session, case, Phase.HANDLE, tz)
    elif case.needs_feedback:
        case.resolved_at = utcnow()
        await _next_phase(session, case, Phase.FEEDBACK, tz)
    else:
        case.resolved_at = utcnow()
        await clocks.end_current(session, case, "RESOLVED")
    return case


async def record_feedback(
    session: AsyncSession,
    scope: Scope,
    case_id: str,
    satisfaction: Satisfaction,
    note: str | None,
    *,
    tz: ZoneInfo,
) -> Case:
    """反馈: what the complainant said of the result. UNSATISFIED does not let the case close:
    it goes back to supervision (UNDER_REVIEW, with the review clock), where it is approved
    again (a new result goes out) or returned to the office."""
    text = check_text("note", note)
    satisfaction = Satisfaction(satisfaction)
    case = await case_for_change(session, case_id)
    unsatisfied = satisfaction == Satisfaction.UNSATISFIED
    action = workflow.Action.FEEDBACK_UNSATISFIED if unsatisfied else workflow.Action.FEEDBACK
    await transition(
        session, scope, case, action, EventKind.FEEDBACK, text, {"satisfaction": satisfaction.value}
    )
    if unsatisfied:
        case.resolved_at = None
        await _next_phase(session, case, Phase.REVIEW, tz)
    else:
        await clocks.end_current(session, case, "FEEDBACK_GIVEN")
    return case


async def close(session: AsyncSession, scope: Scope, case_id: str, note: str | None) -> Case:
    text = check_text("note", note)
    case = await case_for_change(session, case_id)
    await transition(session, scope, case, workflow.Action.CLOSE, EventKind.CLOSE, text)
    case.closed_at = utcnow()
    await clocks.end_current(session, case, "CLOSED")
    return case


async def reopen(
    session: AsyncSession, scope: Scope, case_id: str, reason: str, *, tz: ZoneInfo
) -> Case:
    text = check_text("reason", reason, required=True)
    case = await case_for_change(session, case_id)
    await transition(session, scope, case, workflow.Action.REOPEN, EventKind.REOPEN, text)
    case.closed_at = case.resolved_at = None
    kind = scope.directory.by_id[case.tenant_id].kind
    level = clocks.level_of(kind, case.assignee_id)
    hop = await clocks.open_hop(session, case, level, case.assignee_id, None, tz)
    case.accept_due_at = hop.yellow_at
    return case


async def reject(session: AsyncSession, scope: Scope, case_id: str, reason: str) -> Case:
    text = check_text("reason", reason, required=True)
    case = await case_for_change(session, case_id)
    await transition(session, scope, case, workflow.Action.REJECT, EventKind.REJECT, text)
    case.closed_at = utcnow()
    await clocks.end_current(session, case, "REJECTED")
    return case


async def merge(
    session: AsyncSession, scope: Scope, case_id: str, into_case_id: str, note: str | None
) -> Case:
    """Merge a case into another: its reports move (never deleted), both keep their history,
    and each links to the other as DUPLICATE. Returns the case that now holds the reports."""
    text = check_text("note", note)
    case = await case_for_change(session, case_id)
    try:
        target = await case_for_change(session, into_case_id)
    except DomainError:
        raise not_found("case", "intoCaseId") from None
    if target.id == case.id:
        raise invalid("intoCaseId", "a case cannot be merged into itself")
    if target.status in (CaseStatus.MERGED, CaseStatus.REJECTED, CaseStatus.CLOSED):
        raise DomainError(
            ErrorCode.INVALID_TRANSITION, f"cannot merge into a {target.status} case", "intoCaseId"
        )
    await transition(
        session,
        scope,
        case,
        workflow.Action.MERGE,
        EventKind.MERGE,
        text,
        {"into": target.number},
    )
    moved = await _move_reports(session, case, target)
    case.merged_into_id = target.id
    case.closed_at = utcnow()
    await clocks.end_current(session, case, "MERGED")
    for a, b in ((case, target), (target, case)):
        session.add(
            CaseLink(tenant_id=a.tenant_id, case_id=a.id, other_case_id=b.id, kind="DUPLICATE")
        )
    await record(
        session,
        scope,
        target,
        EventKind.MERGE_RECEIVED,
        None,
        None,
        text,
        {"from": case.number, "reports": moved},
    )
    return target


async def _move_reports(session: AsyncSession, case: Case, target: Case) -> int:
    reports = list(await session.scalars(select(Report).where(Report.case_id == case.id)))
    for report in reports:
        report.case_id, report.tenant_id = target.id, target.tenant_id
        if report.reporter_phone or report.channel in FEEDBACK_CHANNELS:
            target.needs_feedback = True
    target.report_count += len(reports)
    target.channel_mask |= case.channel_mask
    case.report_count = 0
    return len(reports)


async def split_report(
    session: AsyncSession,
    scope: Scope,
    report_id: str | uuid.UUID,
    note: str | None,
    *,
    tz: ZoneInfo,
    prefix: str,
) -> Case:
    """Split one report off its case into a case of its own (the hub, or a person, attached it
    where it did not belong). Both cases keep their history: the old one records what left and
    where to, the new one where it came from; each links to the other as RELATED. Returns the
    new case, REGISTERED in the old case's town and cell, waiting to be dispatched."""
    text = check_text("note", note)
    require(scope, Permission.CASE_SPLIT)
    parsed = parse_id(report_id)
    report = await session.get(Report, parsed, with_for_update=True) if parsed else None
    if report is None:
        raise not_found("report", "reportId")
    case = await case_for_change(session, report.case_id)
    others = [
        r
        for r in await session.scalars(select(Report).where(Report.case_id == case.id))
        if r.id != report.id
    ]
    if not others:
        raise invalid("reportId", "the only report of a case cannot be split off it")
    new = _case_of_report(report, case, await next_number(session, prefix, _year(tz)))
    session.add(new)
    await session.flush()  # the new case exists before the report points at it
    report.case_id = new.id
    report.outcome = ReportOutcome.OPENED
    report.outcome_reason = f"从 {case.number} 拆分 (split off {case.number})"
    case.report_count = len(others)
    case.channel_mask = 0
    for other in others:
        case.channel_mask |= channel_bit(Channel(other.channel))
    for a, b in ((case, new), (new, case)):
        session.add(
            CaseLink(tenant_id=a.tenant_id, case_id=a.id, other_case_id=b.id, kind="RELATED")
        )
    moved = {"report": str(report.id), "channel": report.channel}
    await record(
        session, scope, new, EventKind.SPLIT_FROM, None, new.status, text,
        {**moved, "from": case.number},
    )  # fmt: skip
    await record(
        session, scope, case, EventKind.REPORT_SPLIT, None, None, text, {**moved, "to": new.number}
    )
    return new


def _year(tz: ZoneInfo) -> int:
    return utcnow().astimezone(tz).year


def _case_of_report(report: Report, old: Case, number: str) -> Case:
    now = utcnow()
    return Case(
        id=uuid.uuid4(),
        tenant_id=old.tenant_id,
        number=number,
        title=report.title,
        description=report.description,
        status=CaseStatus.REGISTERED,
        category=report.category,
        priority=Priority.NORMAL,
        channel_mask=channel_bit(Channel(report.channel)),
        report_count=1,
        needs_feedback=report.channel in FEEDBACK_CHANNELS or bool(report.reporter_phone),
        grid_cell_id=old.grid_cell_id,
        source_id=report.source_id,
        address=report.address,
        latitude=report.latitude,
        longitude=report.longitude,
        created_at=now,
        updated_at=now,
    )
