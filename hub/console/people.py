"""The offices' pages about people's work: patrols (/console/patrols), the ledger
(/console/ledger), the monthly evaluation (/console/evaluation/{month}) and a member's day with
its spot check (/console/diaries/{member}/{day}). Every read and form calls the service its
GraphQL query or mutation calls (hub/patrols, hub/ledgers, hub/evaluation, hub/diaries)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any
from urllib.parse import quote, urlencode

import anyio
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from hub.auth import Scope
from hub.db import utcnow
from hub.diaries import service as diaries
from hub.diaries.day import PATROL_KIND_LABELS as PATROL_KINDS
from hub.diaries.model import SpotCheckResult
from hub.errors import DomainError, ErrorCode, invalid
from hub.evaluation import export as evaluation_export
from hub.evaluation import service as evaluation
from hub.evaluation.months import local_midnight
from hub.grid.admin import ListFilter, list_members
from hub.ledgers import export as ledger_export
from hub.ledgers import service as ledgers
from hub.ledgers.cards import KIND_LABELS
from hub.ledgers.model import LedgerKind, LedgerStatus
from hub.patrols import service as patrols
from hub.roles import Permission, allows
from hub.tenancy.model import TenantKind

from .cases import towns_of
from .phone import STATUS_OF
from .web import PageNotFound, console_of, error_page, page, read, render, write

PAGE_SIZE = 50
DEFAULT_DAYS = 7
LEDGER_STATUS = {"OPEN": "未销号", "CLOSED": "已销号"}
SPOT_WORDS = {"PASS": "合格", "FAIL": "不合格"}


def _q(request: Request, name: str) -> str:
    return request.query_params.get(name, "").strip()


def _s(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _day(text: str, field: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise invalid(field, f"{field}日期格式应为 2026-12-10，收到 {text!r}") from None


def _tz(request: Request) -> Any:
    return console_of(request).runtime.tz


def _town_rows(scope: Scope) -> list[Any]:
    return [t for t in towns_of(scope) if t.kind == TenantKind.TOWN]


async def _members(request: Request, scope: Scope, town: str) -> list[Any]:
    if not allows(scope, Permission.GRID_READ):
        return []
    return await read(request, list_members, ListFilter(tenant_code=town or None))


def _flash(request: Request) -> Any:
    return request.session.pop("flash", None)


# --- patrols -------------------------------------------------------------------------------------


@page(Permission.PATROL_READ)
async def patrol_list(request: Request, scope: Scope) -> Response:
    """Patrols by town, member and a range of local days (the last week by default)."""
    tz = _tz(request)
    today = utcnow().astimezone(tz).date()
    town, member = _q(request, "town"), _q(request, "member")
    values = {
        "town": town,
        "member": member,
        "from": _q(request, "from") or (today - timedelta(days=DEFAULT_DAYS - 1)).isoformat(),
        "to": _q(request, "to") or today.isoformat(),
    }
    rows, error = [], None
    try:
        first, last = _day(values["from"], "开始"), _day(values["to"], "结束")
        if town and town not in scope.directory.by_code:
            raise invalid("town", f"没有编码为 {town!r} 的乡镇")
        rows = await read(
            request,
            patrols.list_patrols,
            town or None,
            member or None,
            local_midnight(first, tz),
            local_midnight(last + timedelta(days=1), tz),
        )
    except DomainError as exc:
        error = exc.message
    context = {
        "rows": rows,
        "values": values,
        "error": error,
        "towns": _town_rows(scope),
        "members": await _members(request, scope, town),
        "kinds": PATROL_KINDS,
        "towns_by_id": scope.directory.by_id,
    }
    return render(request, "patrols.html", context, status=422 if error else 200)


# --- ledger --------------------------------------------------------------------------------------


def _ledger_filter(request: Request, scope: Scope) -> ledgers.LedgerFilter:
    town, kind, status, overdue = (_q(request, n) for n in ("town", "kind", "status", "overdue"))
    if town and town not in scope.directory.by_code:
        raise invalid("town", f"没有编码为 {town!r} 的乡镇")
    try:
        kinds = [LedgerKind(kind)] if kind else None
        statuses = [LedgerStatus(status)] if status else None
    except ValueError:
        raise invalid("kind", "台账类型或状态的取值无效") from None
    if overdue not in ("", "1", "0"):
        raise invalid("overdue", "超期的取值无效")
    return ledgers.LedgerFilter(
        tenant_codes=[town] if town else None,
        kinds=kinds,
        statuses=statuses,
        overdue=None if not overdue else overdue == "1",
    )


async def ledger_context(request: Request, scope: Scope, **extra: Any) -> dict[str, Any]:
    error, rows, cursors, more, total = None, [], [], False, 0
    after = _q(request, "after") or None
    try:
        found = await read(
            request,
            ledgers.list_items,
            _ledger_filter(request, scope),
            PAGE_SIZE,
            after,
            key=console_of(request).key,
            tz=_tz(request),
            want_total=True,
            want_progress=True,
        )
        rows, cursors, more, total = (
            found.rows,
            found.cursors,
            found.has_next_page,
            found.total_count or 0,
        )
    except DomainError as exc:
        error = exc.message
    keep = {k: _q(request, k) for k in ("town", "kind", "status", "overdue") if _q(request, k)}
    context: dict[str, Any] = {
        "rows": rows,
        "total": total or 0,
        "filter": keep,
        "next_query": urlencode({**keep, "after": cursors[-1]}) if more and cursors else None,
        "error": error,
        "towns": _town_rows(scope),
        "kinds": KIND_LABELS,
        "statuses": LEDGER_STATUS,
        "can_open": allows(scope, Permission.LEDGER_OPEN),
        "can_progress": allows(scope, Permission.LEDGER_PROGRESS),
        "can_close": allows(scope, Permission.LEDGER_CLOSE),
        "members": await _members(request, scope, ""),
        "towns_by_id": scope.directory.by_id,
        "flash": _flash(request),
        "errors": {},
        "values": {},
    }
    context.update(extra)
    return context


@page(Permission.LEDGER_READ)
async def ledger(request: Request, scope: Scope) -> Response:
    context = await ledger_context(request, scope)
    return render(request, "ledger.html", context, status=422 if context["error"] else 200)


def _form_values(form: FormData) -> dict[str, str]:
    return {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf_token"}


async def _ledger_refused(
    request: Request, scope: Scope, outcome: DomainError, form: FormData, which: str
) -> Response:
    context = await ledger_context(
        request, scope, errors={which: outcome.message}, values=_form_values(form)
    )
    return render(request, "ledger.html", context, status=STATUS_OF.get(outcome.code, 422))


@page(Permission.LEDGER_OPEN)
async def ledger_open(request: Request, scope: Scope) -> Response:
    form = await request.form()
    try:
        try:
            kind = LedgerKind(_s(form, "kind"))
        except ValueError:
            raise invalid("kind", "请选择台账类型") from None
        if not _s(form, "deadline"):
            raise invalid("deadline", "请填写整改期限")
        spec = ledgers.ItemSpec(
            kind=kind,
            tenant_code=_s(form, "tenant_code"),
            title=_s(form, "title"),
            description=_s(form, "description"),
            measures=tuple(m.strip() for m in _s(form, "measures").splitlines() if m.strip()),
            deadline=_day(_s(form, "deadline"), "整改期限"),
            responsible_member_id=_s(form, "responsible_member_id") or None,
        )
        outcome = await write(request, ledgers.open_item, spec, tz=_tz(request))
    except DomainError as exc:
        outcome = exc
    if isinstance(outcome, DomainError):
        return await _ledger_refused(request, scope, outcome, form, "open")
    request.session["flash"] = f"已建立台账 {outcome.number}"
    return RedirectResponse("/console/ledger", status_code=303)


@page(Permission.LEDGER_PROGRESS)
async def ledger_progress(request: Request, scope: Scope) -> Response:
    form = await request.form()
    item_id = request.path_params["item_id"]
    try:
        text = _s(form, "percent")
        if not text.isdigit():
            raise invalid("percent", "完成进度须为 0 到 100 的整数")
        outcome = await write(
            request, ledgers.record_progress, item_id, _s(form, "note"), int(text)
        )
    except DomainError as exc:
        outcome = exc
    if isinstance(outcome, DomainError):
        if outcome.code == ErrorCode.NOT_FOUND and outcome.field == "itemId":
            raise PageNotFound
        return await _ledger_refused(request, scope, outcome, form, f"progress-{item_id}")
    request.session["flash"] = f"已记录台账 {outcome.number} 的进展"
    return RedirectResponse("/console/ledger", status_code=303)


@page(Permission.LEDGER_CLOSE)
async def ledger_close(request: Request, scope: Scope) -> Response:
    form = await request.form()
    item_id = request.path_params["item_id"]
    outcome = await write(request, ledgers.close_item, item_id, _s(form, "verification"))
    if isinstance(outcome, DomainError):
        if outcome.code == ErrorCode.NOT_FOUND and outcome.field == "itemId":
            raise PageNotFound
        return await _ledger_refused(request, scope, outcome, form, f"close-{item_id}")
    request.session["flash"] = f"台账 {outcome.number} 已销号"
    return RedirectResponse("/console/ledger", status_code=303)


@page(Permission.LEDGER_READ)
async def ledger_workbook(request: Request, scope: Scope) -> Response:
    """The same workbook as GET /exports/ledger.xlsx, for a signed-in browser."""
    tz = _tz(request)
    rows = await read(request, ledgers.export_rows, tz=tz)
    towns = {t.id: t.name for t in scope.directory.tenants}
    out = await anyio.to_thread.run_sync(ledger_export.write_workbook, rows, towns, tz)
    return StreamingResponse(
        ledger_export.chunks(out),
        media_type=ledger_export.CONTENT_TYPE,
        headers={
            "Content-Disposition": 'attachment; filename="ledger.xlsx"; '
            "filename*=UTF-8''%E5%8F%B0%E8%B4%A6.xlsx",
            "Cache-Control": "no-store",
        },
    )


# --- evaluation ----------------------------------------------------------------------------------


@page(Permission.EVALUATION_READ)
async def evaluation_now(request: Request, scope: Scope) -> Response:
    month = utcnow().astimezone(_tz(request)).strftime("%Y-%m")
    return RedirectResponse(f"/console/evaluation/{month}", status_code=303)


def _months_around(month: str) -> tuple[str, str]:
    year, number = int(month[:4]), int(month[5:7])
    before = f"{year - (number == 1):04d}-{(number - 2) % 12 + 1:02d}"
    after = f"{year + (number == 12):04d}-{number % 12 + 1:02d}"
    return before, after


@page(Permission.EVALUATION_READ)
async def evaluation_month(request: Request, scope: Scope) -> Response:
    month, town = request.path_params["month"], _q(request, "town")
    try:
        found = await read(
            request, evaluation.monthly_evaluation, month, town or None, tz=_tz(request)
        )
    except DomainError as exc:
        status = STATUS_OF.get(exc.code, 422)
        return render(
            request,
            "evaluation.html",
            {"error": exc.message, "month": month, "towns": _town_rows(scope), "town": town},
            status=status,
        )
    before, after = _months_around(found.month)
    context = {
        "evaluation": found,
        "month": found.month,
        "town": town,
        "towns": _town_rows(scope),
        "towns_by_id": scope.directory.by_id,
        "before": before,
        "after": after,
        "can_export": allows(scope, Permission.EVALUATION_EXPORT),
        "error": None,
        "rows": sorted(found.rows, key=lambda r: (r.rank, r.member.name)),
    }
    return render(request, "evaluation.html", context)


@page(Permission.EVALUATION_EXPORT)
async def evaluation_workbook(request: Request, scope: Scope) -> Response:
    """The same workbook as GET /exports/evaluation/{month}.xlsx, for a signed-in browser."""
    month, town = request.path_params["month"], _q(request, "town")
    try:
        found = await read(
            request, evaluation.monthly_evaluation, month, town or None, tz=_tz(request)
        )
    except DomainError as exc:
        return render(request, "error.html", {"status": 400, "message": exc.message}, status=400)
    towns = {t.id: t.name for t in scope.directory.tenants}
    body = evaluation_export.workbook(found, towns, _tz(request))
    name = quote(f"月度考核-{found.month}.xlsx")
    return Response(
        body,
        media_type=evaluation_export.XLSX,
        headers={
            "Content-Disposition": f'attachment; filename="evaluation-{found.month}.xlsx"; '
            f"filename*=UTF-8''{name}"
        },
    )


# --- diaries -------------------------------------------------------------------------------------


@page(Permission.DIARY_READ)
async def diary_pick(request: Request, scope: Scope) -> Response:
    """Choose a member and a day (the form of the diary page)."""
    member, day = _q(request, "member"), _q(request, "day")
    if member and day:
        return RedirectResponse(f"/console/diaries/{member}/{day}", status_code=303)
    today = utcnow().astimezone(_tz(request)).date()
    context = {"members": await _members(request, scope, ""), "day": day or today.isoformat()}
    return render(request, "diaries.html", context)


async def diary_context(request: Request, scope: Scope, **extra: Any) -> dict[str, Any]:
    member_id, text = request.path_params["member_id"], request.path_params["day"]
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise PageNotFound from None
    try:
        found = await read(request, diaries.work_diary, member_id, day, tz=_tz(request))
    except DomainError as exc:
        if exc.code == ErrorCode.NOT_FOUND:
            raise PageNotFound from None
        raise
    context: dict[str, Any] = {
        "found": found,
        "day": day,
        "before": (day - timedelta(days=1)).isoformat(),
        "after": (day + timedelta(days=1)).isoformat(),
        "can_check": allows(scope, Permission.DIARY_SPOT_CHECK),
        "spot_words": SPOT_WORDS,
        "flash": _flash(request),
        "error": None,
        "values": {},
    }
    context.update(extra)
    return context


@page(Permission.DIARY_READ)
async def member_day(request: Request, scope: Scope) -> Response:
    try:
        context = await diary_context(request, scope)
    except DomainError as exc:  # a member reading another member's day
        return error_page(request, STATUS_OF.get(exc.code, 422), exc.message)
    return render(request, "diary.html", context)


@page(Permission.DIARY_SPOT_CHECK)
async def spot_check(request: Request, scope: Scope) -> Response:
    form = await request.form()
    member_id, text = request.path_params["member_id"], request.path_params["day"]
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise PageNotFound from None
    try:
        try:
            result = SpotCheckResult(_s(form, "result"))
        except ValueError:
            raise invalid("result", "请选择抽查结论（合格或不合格）") from None
        outcome = await write(
            request, diaries.spot_check, member_id, day, result, _s(form, "note"), tz=_tz(request)
        )
    except DomainError as exc:
        outcome = exc
    if isinstance(outcome, DomainError):
        if outcome.code == ErrorCode.NOT_FOUND and outcome.field in ("memberId", "member"):
            raise PageNotFound
        context = await diary_context(
            request, scope, error=outcome.message, values=_form_values(form)
        )
        return render(request, "diary.html", context, status=STATUS_OF.get(outcome.code, 422))
    request.session["flash"] = "已记录抽查结论"
    return RedirectResponse(f"/console/diaries/{member_id}/{day.isoformat()}", status_code=303)


ROUTES = [
    Route("/patrols", patrol_list, methods=["GET"]),
    Route("/ledger", ledger, methods=["GET"]),
    Route("/ledger", ledger_open, methods=["POST"]),
    Route("/ledger.xlsx", ledger_workbook, methods=["GET"]),
    Route("/ledger/{item_id}/progress", ledger_progress, methods=["POST"]),
    Route("/ledger/{item_id}/close", ledger_close, methods=["POST"]),
    Route("/evaluation", evaluation_now, methods=["GET"]),
    Route("/evaluation/{month}.xlsx", evaluation_workbook, methods=["GET"]),
    Route("/evaluation/{month}", evaluation_month, methods=["GET"]),
    Route("/diaries", diary_pick, methods=["GET"]),
    Route("/diaries/{member_id}/{day}", member_day, methods=["GET"]),
    Route("/diaries/{member_id}/{day}/spot-check", spot_check, methods=["POST"]),
]
