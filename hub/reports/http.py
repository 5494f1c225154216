"""The export routes (HTTP): `GET /exports/cases.xlsx` and `GET /exports/bulletin/{quarter}.docx`
or `.xlsx`. Bearer token as everywhere (401 without one); a role without the permission 403; a
bad parameter 422 naming it, in Chinese, as {"errors": [{"message", "extensions": {"code",
"field"}}]}."""

from __future__ import annotations

import os
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from hub.auth import AuthError, Scope, authenticate
from hub.errors import DomainError, ErrorCode, invalid
from hub.reports import bulletin as bulletins
from hub.reports import documents
from hub.reports.cases_export import ExportFilter, export_cases
from hub.reports.quarters import day_period, parse_day
from hub.runtime import Runtime

STATUS = {
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.CONFLICT: 409,
    ErrorCode.VALIDATION: 422,
}


def _error(status: int, code: str, message: str, field: str | None = None) -> JSONResponse:
    extensions: dict[str, Any] = {"code": code}
    if field:
        extensions["field"] = field
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(
        {"errors": [{"message": message, "extensions": extensions}]}, status, headers=headers
    )


def refused(exc: DomainError) -> JSONResponse:
    return _error(STATUS.get(exc.code, 422), exc.code.value, exc.message, exc.field)


async def _scope(request: Request) -> Scope:
    runtime: Runtime = request.app.state.runtime
    key = request.app.state.connectors["key"]
    return await authenticate(runtime.db, request.headers.get("authorization"), key)


def _values(request: Request, name: str) -> tuple[str, ...]:
    """Repeated (?status=A&status=B) or comma-separated (?status=A,B)."""
    found = [v.strip() for raw in request.query_params.getlist(name) for v in raw.split(",")]
    return tuple(v for v in found if v)


def _instant(text: str, field: str, runtime: Runtime, *, end: bool) -> datetime:
    """A local day (2026-12-01; `to` includes its whole day) or a time with its offset."""
    if len(text.strip()) == 10:
        day = parse_day(text, field)
        start, stop = day_period(day, day, runtime.tz)
        assert start is not None and stop is not None
        return stop if end else start
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise invalid(field, f"日期（{field}）须写作 2026-12-01 或带时区的时间") from None
    if value.tzinfo is None:
        raise invalid(field, f"时间（{field}）须带时区偏移，如 2026-12-10T08:00:00+08:00")
    return value


def export_filter(request: Request, runtime: Runtime) -> ExportFilter:
    params = request.query_params
    start = _instant(params["from"], "from", runtime, end=False) if params.get("from") else None
    end = _instant(params["to"], "to", runtime, end=True) if params.get("to") else None
    return ExportFilter(
        statuses=_values(request, "status"),
        categories=_values(request, "category"),
        tenant_codes=_values(request, "tenantCode"),
        start=start,
        end=end,
    )


async def cases_xlsx(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    try:
        scope = await _scope(request)
    except AuthError as exc:
        return _error(401, "UNAUTHENTICATED", str(exc))
    handle, name = tempfile.mkstemp(prefix="sanwang-cases-", suffix=".xlsx")
    os.close(handle)
    path = Path(name)
    try:
        flt = export_filter(request, runtime)
        async with runtime.db.session(scope.tenant_ids) as session:
            await export_cases(session, scope, flt, path, tz=runtime.tz)
    except DomainError as exc:
        path.unlink(missing_ok=True)
        return refused(exc)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    today = datetime.now(runtime.tz).strftime("%Y%m%d")
    return FileResponse(
        path,
        media_type=documents.XLSX_TYPE,
        filename=f"cases-{today}.xlsx",
        background=BackgroundTask(path.unlink, missing_ok=True),
    )


async def bulletin_file(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    try:
        scope = await _scope(request)
    except AuthError as exc:
        return _error(401, "UNAUTHENTICATED", str(exc))
    name: str = request.path_params["name"]
    quarter, _, suffix = name.rpartition(".")
    if suffix not in ("docx", "xlsx"):
        return _error(404, "NOT_FOUND", "只有 .docx 和 .xlsx 两种格式", "format")
    try:
        async with runtime.db.session(scope.tenant_ids) as session:
            found = await bulletins.bulletin(session, scope, quarter, tz=runtime.tz)
    except DomainError as exc:
        return refused(exc)
    body, media = await documents.download(found, suffix, runtime.tz)
    return Response(
        body,
        media_type=media,
        headers={
            "Content-Disposition": f'attachment; filename="bulletin-{found.quarter.code}.{suffix}"'
        },
    )


def routes() -> list[Route]:
    return [
        Route("/exports/cases.xlsx", cases_xlsx, methods=["GET"]),
        Route("/exports/bulletin/{name}", bulletin_file, methods=["GET"]),
    ]
