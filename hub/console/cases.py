"""The work queue and the case: /console/cases, /console/cases/{number}, its actions and the
printable dispatch notice (转办通知单). Every action calls the service its GraphQL mutation
calls."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from hub.auth import Scope
from hub.cases import inputs, loaders, queries, steps, workflow
from hub.cases.enums import (
    CARD_LABELS,
    CATEGORY_LABELS,
    CHANNEL_LABELS,
    OPEN_STATUSES,
    Card,
    CaseStatus,
    Category,
    Channel,
    EventKind,
    Satisfaction,
)
from hub.cases.model import Case as CaseRow
from hub.cases.nodes import View, case_node, unmasked_reads
from hub.db import utcnow
from hub.errors import DomainError, ErrorCode, invalid, label, missing
from hub.grid.service import list_cells
from hub.patrols.work import dispatch_candidates
from hub.roles import Permission, allows
from hub.supervision import service as supervision
from hub.tenancy.model import TenantKind
from hub.validation import parse_id

from . import labels
from .web import PageNotFound, console_of, page, read, render, write

PAGE_SIZE = 50
DETAIL = frozenset(
    {
        "reports",
        "timeline",
        "links",
        "externalRefs",
        "possibleDuplicates",
        "gridCell",
        "assignee",
        "source",
        "attachments",
    }
)


def view_of(scope: Scope) -> View:
    return View(scope.roles, scope.directory, utcnow())


# --- the queue ----------------------------------------------------------------------------------


@dataclass
class QueueFilter:
    """The queue's filters as the URL carries them (codes), checked into the service's filter."""

    status: str = ""
    town: str = ""
    category: str = ""
    channel: str = ""
    overdue: str = ""
    card: str = ""
    text: str = ""

    @classmethod
    def of(cls, request: Request) -> QueueFilter:
        q = request.query_params
        return cls(**{name: q.get(name, "").strip() for name in cls.__dataclass_fields__})

    def service_filter(self, scope: Scope) -> queries.CaseFilter:
        def pick(kind: type[Any], value: str, field: str) -> list[Any] | None:
            if not value:
                return None
            try:
                return [kind(value)]
            except ValueError:
                raise invalid(field, f"{label(field)}的取值 {value!r} 无效") from None

        if self.town and self.town not in scope.directory.by_code:
            raise invalid("town", f"没有编码为 {self.town!r} 的乡镇")
        if self.overdue not in ("", "1", "0"):
            raise invalid("overdue", "超期的取值无效")
        return queries.CaseFilter(
            status=pick(CaseStatus, self.status, "status"),
            tenant_codes=[self.town] if self.town else None,
            categories=pick(Category, self.category, "category"),
            channels=pick(Channel, self.channel, "channel"),
            cards=pick(Card, self.card, "card"),
            overdue=None if not self.overdue else self.overdue == "1",
            text=self.text or None,
        )

    def query(self, **extra: str) -> str:
        values = {k: v for k, v in vars(self).items() if v}
        return urlencode({**values, **extra})


def towns_of(scope: Scope) -> list[Any]:
    """The towns (and the city) the caller sees, city first then by code."""
    seen = [scope.directory.by_id[t] for t in scope.tenant_ids if t in scope.directory.by_id]
    return sorted(seen, key=lambda t: (t.kind != TenantKind.CITY, t.code))


@page()
async def queue(request: Request, scope: Scope) -> Response:
    flt = QueueFilter.of(request)
    after = request.query_params.get("after") or None
    error, rows, cursors, more, total = None, [], [], False, 0
    try:
        result = await read(
            request,
            queries.list_cases,
            flt.service_filter(scope),
            PAGE_SIZE,
            after,
            key=console_of(request).key,
            include={"gridCell", "assignee"},
            want_total=True,
        )
        rows, cursors, more = result.cases, result.cursors, result.has_next_page
        total = result.total_count or 0
    except DomainError as exc:
        error = exc.message
    view = view_of(scope)
    context = {
        "cases": [case_node(r, view) for r in rows],
        "total": total,
        "filter": flt,
        "error": error,
        "next_query": flt.query(after=cursors[-1]) if more and cursors else None,
        "first_query": flt.query() if after else None,
        "towns": towns_of(scope),
        "statuses": labels.STATUS_WORDS,
        "categories": CATEGORY_LABELS,
        "channels": CHANNEL_LABELS,
        "cards": {k: v for k, v in CARD_LABELS.items() if k != Card.NONE},
    }
    return render(request, "cases/queue.html", context, status=422 if error else 200)


# --- one case -----------------------------------------------------------------------------------


async def _load(request: Request, scope: Scope, number: str) -> CaseRow:
    row = await read(request, loaders.get_case_by_number, number, DETAIL)
    if row is None:
        raise PageNotFound
    return row


def offered(scope: Scope, row: CaseRow, suspended: bool) -> set[str]:
    """The forms the signed-in role sees on this case (the services check again on POST)."""
    status = CaseStatus(row.status)
    flow = set(workflow.allowed_actions(status, scope.roles, needs_feedback=row.needs_feedback))
    refusal = workflow.refuse_other_member
    member = scope.principal.member_id
    found = set()
    names = {
        workflow.Action.DISPATCH: "dispatch",
        workflow.Action.ACCEPT: "accept",
        workflow.Action.PROGRESS: "progress",
        workflow.Action.SUBMIT: "submit",
        workflow.Action.APPROVE: "review",
        workflow.Action.FEEDBACK: "feedback",
        workflow.Action.CLOSE: "close",
        workflow.Action.MERGE: "merge",
        workflow.Action.REJECT: "reject",
        workflow.Action.REOPEN: "reopen",
        workflow.Action.HAND_BACK: "return",
    }
    for action, name in names.items():
        if action in flow and refusal(action, scope.roles, member, row.assignee_id) is None:
            found.add(name)
    open_case = status in OPEN_STATUSES
    if open_case and allows(scope, Permission.CASE_URGE):
        found.add("urge")
    if status not in (CaseStatus.CLOSED, CaseStatus.MERGED, CaseStatus.REJECTED) and allows(
        scope, Permission.CARD_ISSUE
    ):
        found.add("card")
    if open_case and not suspended and allows(scope, Permission.CASE_SUSPEND):
        found.add("suspend")
    if open_case and suspended and allows(scope, Permission.CASE_RESUME):
        found.add("resume")
    if open_case and allows(scope, Permission.EXTENSION_REQUEST):
        found.add("extension")
    if allows(scope, Permission.CASE_SPLIT) and row.report_count > 1:
        found.add("split")
    return found


async def case_context(
    request: Request, scope: Scope, row: CaseRow, **extra: Any
) -> dict[str, Any]:
    view = view_of(scope)
    reads = unmasked_reads([row], view)
    if reads:  # every full phone number shown is on the audit trail, as over GraphQL
        await write(request, loaders.audit_unmasked, reads)
    hops, cards = await read(request, supervision.case_clocks, str(row.id))
    current = next((h for h in reversed(hops) if h.ended_at is None), None)
    actions = offered(scope, row, bool(current and current.suspended))
    context: dict[str, Any] = {
        "case": case_node(row, view),
        "hops": hops,
        "cards": cards,
        "actions": actions,
        "towns": [t for t in towns_of(scope) if t.kind == TenantKind.TOWN],
        "card_levels": {k: v for k, v in CARD_LABELS.items() if k != Card.NONE},
        "satisfactions": labels.SATISFACTION_WORDS,
        "errors": {},
        "values": {},
        "flash": request.session.pop("flash", None),
    }
    if "dispatch" in actions:
        candidates = await read(request, dispatch_candidates, str(row.id))
        town = scope.directory.by_id[row.tenant_id]
        chosen = town.code if town.kind == TenantKind.TOWN else ""
        context["candidates"] = candidates
        context["dispatch_town"] = chosen
        context["cells"] = await read(request, list_cells, chosen) if chosen else []
    if allows(scope, Permission.EXTENSION_DECIDE):
        pending = await read(request, supervision.extension_requests, "PENDING")
        context["pending_extensions"] = [r for r, c in pending if c.id == row.id]
    context.update(extra)
    return context


@page()
async def case_page(request: Request, scope: Scope) -> Response:
    row = await _load(request, scope, request.path_params["number"])
    return render(request, "cases/case.html", await case_context(request, scope, row))


@page()
async def notice(request: Request, scope: Scope) -> Response:
    """转办通知单: what a town office prints and files for a dispatched case."""
    row = await _load(request, scope, request.path_params["number"])
    view = view_of(scope)
    dispatch = next((e for e in reversed(row.events) if e.action == EventKind.DISPATCH), None)
    reads = unmasked_reads([row], view)
    if reads:
        await write(request, loaders.audit_unmasked, reads)
    context = {
        "case": case_node(row, view),
        "dispatch": dispatch,
        "dispatch_note": view.note(dispatch.note) if dispatch else None,
        "town": scope.directory.by_id[row.tenant_id],
    }
    return render(request, "cases/notice.html", context)


@page(Permission.GRID_READ)
async def dispatch_options(request: Request, scope: Scope) -> Response:
    """The grid-cell and member picker of the dispatch form for a town (htmx fragment)."""
    row = await _load(request, scope, request.path_params["number"])
    town = request.query_params.get("tenant_code", "")
    cells = await read(request, list_cells, town) if town else []
    candidates = []
    if town and town == scope.directory.by_id[row.tenant_id].code:
        candidates = await read(request, dispatch_candidates, str(row.id))
    return render(
        request, "cases/_dispatch_options.html", {"cells": cells, "candidates": candidates}
    )


# --- actions: a form each, the same services as GraphQL ------------------------------------------


def _text(form: FormData, name: str) -> str | None:
    value = form.get(name)
    return value if isinstance(value, str) and value.strip() else None


def _local_time(form: FormData, name: str, field: str, tz: Any) -> datetime | None:
    """A datetime-local field (local time, no offset) as an aware time, or None when blank."""
    text = _text(form, name)
    if text is None:
        return None
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise invalid(field, f"{label(field)}格式不正确，应为 2026-12-10 08:00") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=tz)


def _id(form: FormData, name: str, field: str) -> uuid.UUID | None:
    text = _text(form, name)
    if text is None:
        return None
    parsed = parse_id(text)
    if parsed is None:
        raise invalid(field, f"{label(field)}编号格式不正确")
    return parsed


Action = Callable[[Request, Scope, CaseRow, FormData], Awaitable[Any]]


async def _dispatch(request: Request, scope: Scope, row: CaseRow, form: FormData) -> Any:
    town = _text(form, "tenant_code")
    if town is None:
        raise missing("tenantCode")
    data = inputs.DispatchInput(
        tenant_code=town,
        grid_cell_id=_id(form, "grid_cell_id", "gridCellId"),
        assignee_id=_id(form, "assignee_id", "assigneeId"),
        due_at=_local_time(form, "due_at", "dueAt", _tz(request)),
        note=form.get("note") or None,  # type: ignore[arg-type]
    )
    return await write(request, steps.dispatch, str(row.id), data, tz=_tz(request))


def _tz(request: Request) -> Any:
    return console_of(request).runtime.tz


def _s(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


async def _merge(request: Request, scope: Scope, row: CaseRow, form: FormData) -> Any:
    number = _s(form, "into_number").strip()
    if not number:
        raise missing("intoCaseId")
    into = await read(request, loaders.get_case_by_number, number)
    if into is None:
        raise DomainError(ErrorCode.NOT_FOUND, f"案件 {number} 不存在或您无权查看", "intoCaseId")
    return await write(request, steps.merge, str(row.id), str(into.id), _text(form, "note"))


async def _split(request: Request, scope: Scope, row: CaseRow, form: FormData) -> Any:
    report = _s(form, "report_id")
    if not any(str(r.id) == report for r in row.reports):
        raise invalid("reportId", "请选择本案件的一条举报")
    return await write(
        request,
        steps.split_report,
        report,
        _text(form, "note"),
        tz=_tz(request),
        prefix=console_of(request).runtime.case_prefix,
    )


async def _decide(request: Request, scope: Scope, row: CaseRow, form: FormData) -> Any:
    approve = _s(form, "decision") == "approve"
    return await write(
        request,
        supervision.decide_extension,
        _s(form, "request_id"),
        approve,
        _text(form, "note"),
        tz=_tz(request),
    )


async def _review(request: Request, scope: Scope, row: CaseRow, form: FormData) -> Any:
    decision = _s(form, "decision")
    if decision not in ("approve", "return"):
        raise invalid("decision", "请选择审核结论")
    return await write(
        request,
        steps.review,
        str(row.id),
        decision == "approve",
        _text(form, "note"),
        outside_office=console_of(request).runtime.settings.review_outside_office,
        tz=_tz(request),
    )


async def _feedback(request: Request, scope: Scope, row: CaseRow, form: FormData) -> Any:
    try:
        satisfaction = Satisfaction(_s(form, "satisfaction"))
    except ValueError:
        raise invalid("satisfaction", "请选择回访满意度") from None
    return await write(
        request,
        steps.record_feedback,
        str(row.id),
        satisfaction,
        _text(form, "note"),
        tz=_tz(request),
    )


async def _card(request: Request, scope: Scope, row: CaseRow, form: FormData) -> Any:
    try:
        level = Card(_s(form, "level"))
    except ValueError:
        raise invalid("level", "请选择牌色") from None
    return await write(
        request, supervision.issue_card, str(row.id), level, _s(form, "reason"), tz=_tz(request)
    )


async def _extension(request: Request, scope: Scope, row: CaseRow, form: FormData) -> Any:
    due = _local_time(form, "due_at", "dueAt", _tz(request))
    if due is None:
        raise missing("dueAt")
    return await write(request, supervision.request_extension, str(row.id), due, _s(form, "reason"))


def _simple(service: Any, field: str, *, tz: bool = False) -> Action:
    """An action of one text field (note or reason) on the case."""

    async def act(request: Request, scope: Scope, row: CaseRow, form: FormData) -> Any:
        extra = {"tz": _tz(request)} if tz else {}
        return await write(request, service, str(row.id), _s(form, field), **extra)

    return act


async def _submit(request: Request, scope: Scope, row: CaseRow, form: FormData) -> Any:
    on_site = _local_time(form, "on_site_at", "onSiteAt", _tz(request))
    return await write(
        request, steps.submit_result, str(row.id), _s(form, "result"), on_site, tz=_tz(request)
    )


async def _accept(request: Request, scope: Scope, row: CaseRow, form: FormData) -> Any:
    return await write(request, steps.accept, str(row.id), _text(form, "note"), tz=_tz(request))


async def _close(request: Request, scope: Scope, row: CaseRow, form: FormData) -> Any:
    return await write(request, steps.close, str(row.id), _text(form, "note"))


async def _resume(request: Request, scope: Scope, row: CaseRow, form: FormData) -> Any:
    return await write(
        request, supervision.resume, str(row.id), _text(form, "note"), tz=_tz(request)
    )


# name -> (what the person reads when it is done, the call)
ACTIONS: dict[str, tuple[str, Action]] = {
    "dispatch": ("已转办", _dispatch),
    "accept": ("已签收", _accept),
    "progress": ("已记录办理进展", _simple(steps.record_progress, "note")),
    "submit": ("已提交审核", _submit),
    "review": ("已审核", _review),
    "feedback": ("已记录反馈", _feedback),
    "close": ("已结案", _close),
    "urge": ("已督办", _simple(supervision.urge, "note", tz=True)),
    "card": ("已亮牌", _card),
    "merge": ("已合并", _merge),
    "split": ("已拆分为新案件", _split),
    "suspend": ("已挂起", _simple(supervision.suspend, "reason")),
    "resume": ("已解挂", _resume),
    "extension": ("已提交延期申请", _extension),
    "decide-extension": ("已审批延期申请", _decide),
    "reject": ("已不予受理", _simple(steps.reject, "reason")),
    "reopen": ("已重新办理", _simple(steps.reopen, "reason", tz=True)),
    "return": ("已退回指挥中心", _simple(steps.hand_back, "reason", tz=True)),
}
_STATUS_OF = {
    ErrorCode.VALIDATION: 422,
    ErrorCode.NOT_FOUND: 422,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.INVALID_TRANSITION: 409,
    ErrorCode.CONFLICT: 409,
    ErrorCode.RATE_LIMITED: 429,
}


@page()
async def act(request: Request, scope: Scope) -> Response:
    number, name = request.path_params["number"], request.path_params["action"]
    if name not in ACTIONS:
        raise PageNotFound
    row = await _load(request, scope, number)
    form = await request.form()
    done_text, action = ACTIONS[name]
    try:
        outcome = await action(request, scope, row, form)
    except DomainError as exc:
        outcome = exc
    if isinstance(outcome, DomainError):
        if outcome.code == ErrorCode.NOT_FOUND and outcome.field == "caseId":
            raise PageNotFound
        fresh = await _load(request, scope, number)
        context = await case_context(
            request,
            scope,
            fresh,
            errors={name: outcome.message},
            values={k: v for k, v in form.items() if isinstance(v, str) and k != "csrf_token"},
        )
        return render(request, "cases/case.html", context, status=_STATUS_OF[outcome.code])
    request.session["flash"] = done_text
    target = outcome if isinstance(outcome, CaseRow) and name == "split" else row
    return RedirectResponse(f"/console/cases/{target.number}", status_code=303)


ROUTES = [
    Route("/cases", queue, methods=["GET"]),
    Route("/cases/{number}", case_page, methods=["GET"]),
    Route("/cases/{number}/notice", notice, methods=["GET"]),
    Route("/cases/{number}/dispatch-options", dispatch_options, methods=["GET"]),
    Route("/cases/{number}/actions/{action}", act, methods=["POST"]),
]
