"""The workflow's steps after intake: dispatch (转办), accept, progress, result, review,
feedback (反馈), close, reopen, reject, and merging cases or splitting a report off one.

Every step locks the case, asks the pure workflow whether it may happen, writes it on the
timeline and moves the case's clocks, inside the caller's transaction (the caller commits).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy import text as sql_text
from sqlalchemy.ext.asyncio import AsyncSession

from hub.auth import Scope
from hub.cases import workflow
from hub.cases.enums import (
    STATUS_LABELS,
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
from hub.db import TENANT_SETTING, utcnow
from hub.errors import DomainError, ErrorCode, invalid, label, not_found
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
        raise not_found(f"乡镇 {inp.tenant_code!r} ", "tenantCode")
    cell = await _owned(session, GridCell, inp.grid_cell_id, tenant.id, "gridCellId")
    member = await _owned(session, Member, inp.assignee_id, tenant.id, "assigneeId")
    now = utcnow()
    if inp.due_at is not None and inp.due_at <= now:
        raise invalid("dueAt", "办理期限须晚于当前时间")
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
    case.returned_reason = None
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
        raise not_found(f"该乡镇的{label(field_name)}", field_name)
    if not getattr(row, "active", True):  # a person who left, a retired cell: nobody works there
        raise invalid(field_name, f"{label(field_name)}已停用，不能再转办给它")
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


async def hand_back(
    session: AsyncSession, scope: Scope, case_id: str, reason: str, *, tz: ZoneInfo
) -> Case:
    """退回指挥中心: the town office holding a case that is not its own returns it, with the
    reason, to the command centre, REGISTERED and waiting for dispatch again. The case keeps its
    deadline and its cards; the town's hop ends and a dispatch hop opens at the city."""
    text = check_text("reason", reason, required=True)
    case = await case_for_change(session, case_id)
    city = scope.directory.city
    if city is None or case.tenant_id == city.id:
        raise DomainError(
            ErrorCode.INVALID_TRANSITION,
            "案件已在指挥中心，无需退回",
        )
    decided = next_status(scope, case, workflow.Action.HAND_BACK)
    town = scope.directory.by_id[case.tenant_id].code
    await clocks.end_current(session, case, "HANDED_BACK")
    await _take_in(session, city.id)
    await move_case(session, case, city.id)
    before, case.status = case.status, decided
    case.assignee_id, case.grid_cell_id, case.returned_reason = None, None, text
    await record(session, scope, case, EventKind.HAND_BACK, before, decided, text, {"from": town})
    await clocks.open_dispatch_hop(session, case, city.kind, tz)
    return case


async def _take_in(session: AsyncSession, tenant_id: uuid.UUID) -> None:
    """A hand-back gives the case to an office the caller does not see (a town's operator
    does not see the city): for the rest of this one transaction the session's scope takes
    that tenant in, so the case, its timeline and its audit entry can be written there."""
    ids = tuple(session.info["tenant_ids"])
    if tenant_id in ids:
        return
    session.info["tenant_ids"] = (*ids, tenant_id)
    if session.get_bind().dialect.name == "postgresql":
        setting = "{" + ",".join(str(i) for i in session.info["tenant_ids"]) + "}"
        await session.execute(
            sql_text("select set_config(:name, :ids, true)"),
            {"name": TENANT_SETTING, "ids": setting},
        )


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


# How far ahead of the hub's clock a reported time may be (a phone's clock is a little off).
CLOCK_SKEW = timedelta(minutes=5)


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
    _check_on_site(case, on_site_at)
    data = {"onSiteAt": on_site_at.isoformat() if on_site_at else None}
    if on_site_at is not None:
        case.on_site_at = on_site_at
    await transition(session, scope, case, workflow.Action.SUBMIT, EventKind.SUBMIT, text, data)
    await _next_phase(session, case, Phase.REVIEW, tz)
    return case


def _check_on_site(case: Case, on_site_at: datetime | None) -> None:
    """Staff arrive on site after the case was registered and not in the future."""
    if on_site_at is None:
        return
    if on_site_at > utcnow() + CLOCK_SKEW:
        raise invalid("onSiteAt", "到场时间不能晚于当前时间")
    if on_site_at < case.created_at:
        raise invalid("onSiteAt", "到场时间不能早于登记时间")


async def review(
    session: AsyncSession,
    scope: Scope,
    case_id: str,
    approve: bool,
    note: str | None,
    *,
    outside_office: bool = False,
    tz: ZoneInfo,
) -> Case:
    """督查: someone else checks. The reviewer may not be who submitted the result, and with
    ``outside_office`` (SANWANG_REVIEW_OUTSIDE_OFFICE) not anyone of the town office handling
    the case (a principal who does not see the city)."""
    text = check_text("note", note)
    case = await case_for_change(session, case_id)
    if case.status == CaseStatus.UNDER_REVIEW:
        await _check_reviewer(session, scope, case, outside_office=outside_office)
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


async def _check_reviewer(
    session: AsyncSession, scope: Scope, case: Case, *, outside_office: bool
) -> None:
    submitter = await session.scalar(
        select(Event.actor_id)
        .where(Event.case_id == case.id, Event.action == EventKind.SUBMIT)
        .order_by(Event.at.desc())
        .limit(1)
    )
    if submitter == scope.principal.id:
        raise DomainError(
            ErrorCode.FORBIDDEN,
            "办理结果须由提交人以外的人员审核",
        )
    city = scope.directory.city
    if outside_office and (city is None or not scope.sees(city.id)):
        raise DomainError(
            ErrorCode.FORBIDDEN,
            "办理结果须由承办单位以外的人员审核",
        )


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
    case.satisfaction = satisfaction.value
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
        raise not_found("目标案件", "intoCaseId") from None
    if target.id == case.id:
        raise invalid("intoCaseId", "案件不能合并到自身")
    if target.status in (CaseStatus.MERGED, CaseStatus.REJECTED, CaseStatus.CLOSED):
        raise DomainError(
            ErrorCode.INVALID_TRANSITION,
            f"目标案件状态为{STATUS_LABELS[target.status]}，不能并入",
            "intoCaseId",
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
        raise not_found("举报", "reportId")
    case = await case_for_change(session, report.case_id)
    others = [
        r
        for r in await session.scalars(select(Report).where(Report.case_id == case.id))
        if r.id != report.id
    ]
    if not others:
        raise invalid("reportId", "案件仅有这一条举报，不能拆分")
    new = _case_of_report(report, case, await next_number(session, prefix, _year(tz)))
    session.add(new)
    await session.flush()  # the new case exists before the report points at it
    report.case_id = new.id
    report.outcome = ReportOutcome.OPENED
    report.outcome_reason = f"从 {case.number} 拆分"
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
    await clocks.open_dispatch_hop(session, new, scope.directory.by_id[new.tenant_id].kind, tz)
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
