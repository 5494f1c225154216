"""The month's evaluation as a workbook: ``GET /exports/evaluation/{month}.xlsx``.

The same service call as ``monthlyEvaluation`` (the caller's towns, ``?tenantCode=`` for one),
for ADMIN, SUPERVISOR and a town's office (OPERATOR, its own town). Sheet 考核 holds one row per
member with every figure, each rule's points and the score, Chinese headings, a frozen header,
filters and fitting widths; sheet 考核办法 the rules the figures were scored with; sheet 说明
the month, whether it is published (frozen) and when. openpyxl writes it (write-only mode: rows
are streamed into the file, not kept as cells). Refusals are JSON: 401 without a valid token,
403 without the permission, 400 for a bad month or a town the caller does not see.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Coroutine, Sequence
from typing import Any
from urllib.parse import quote

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hub.auth import AuthError, Scope, authenticate
from hub.errors import DomainError, ErrorCode
from hub.evaluation import service
from hub.evaluation.formula import Sense
from hub.localtime import local_text
from hub.roles import Permission
from hub.runtime import Runtime

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ROLE_LABELS = {
    "CHIEF": "网格长",
    "GRIDMAN": "网格员",
    "SECONDED": "下沉人员",
    "INSPECTOR": "专职监管员",
}
SENSE_LABELS = {Sense.ADD: "加分", Sense.DEDUCT: "扣分"}
STATUS = {
    ErrorCode.VALIDATION: 400,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.NOT_FOUND: 404,
}
BOLD = Font(bold=True)


def _width(values: Sequence[Any]) -> float:
    """A column wide enough for its longest text (a CJK character is two columns wide)."""
    longest = 0
    for value in values:
        text = "" if value is None else str(value)
        longest = max(longest, sum(2 if ord(ch) > 0x2E80 else 1 for ch in text))
    return min(max(longest + 2, 6), 60)


def _sheet(
    book: Workbook, title: str, headings: list[str], rows: list[list[Any]], filters: bool = True
) -> None:
    sheet: Any = book.create_sheet(title)  # a WriteOnlyWorksheet (its stubs lack some names)
    for index, heading in enumerate(headings, start=1):
        column = [heading, *(row[index - 1] for row in rows)]
        sheet.column_dimensions[get_column_letter(index)].width = _width(column)
    sheet.freeze_panes = "A2"
    if filters and headings:
        sheet.auto_filter.ref = f"A1:{get_column_letter(len(headings))}{len(rows) + 1}"
    header = []
    for heading in headings:
        cell = WriteOnlyCell(sheet, value=heading)
        cell.font = BOLD
        header.append(cell)
    sheet.append(header)
    for row in rows:
        sheet.append(row)


def workbook(found: service.Evaluation, towns: dict[Any, str], tz: Any) -> bytes:
    """The xlsx bytes of one month's evaluation. ``towns`` names each tenant id."""
    book = Workbook(write_only=True)
    rules = [view.rule for view in found.rules]
    headings = ["排名", "姓名", "乡镇", "角色", "状态", "得分"]
    for rule in rules:
        headings += [rule.label, f"{rule.label}得分"]
    rows = []
    for row in found.rows:
        status = "离岗" if row.left else ("本月新增" if row.joined else "在岗")
        line = [
            row.rank,
            row.member.name,
            towns.get(row.tenant_id, ""),
            ROLE_LABELS.get(row.member.role, row.member.role),
            status,
            row.score,
        ]
        points = {p.key: p for p in row.lines}
        for rule in rules:
            entry = points.get(rule.key)
            value: Any = entry.value if entry else None
            if rule.key == "onTimeRate":
                value = "—" if value is None else f"{value:.2%}"
            line += [value, entry.points if entry else None]
        rows.append(line)
    _sheet(book, "考核", headings, rows)
    method = [
        [
            r.rule.label,
            r.rule.key,
            SENSE_LABELS[r.rule.sense],
            r.rule.weight,
            "—" if r.rule.target is None else r.rule.target,
            r.description,
        ]
        for r in found.rules
    ]
    _sheet(book, "考核办法", ["考核项", "代码", "加/扣分", "权重", "目标值", "计分说明"], method)
    about: list[list[Any]] = [
        ["月份", found.month],
        ["状态", "已发布（冻结）" if found.published else "未发布（实时计算）"],
        ["发布时间", local_text(found.published_at, tz) if found.published_at else "—"],
        ["发布人", found.published_by or "—"],
        ["人数", len(found.rows)],
        ["计分公式", "有目标值：权重 × min(数值 ÷ 目标值, 1)；无目标值：权重 × 数值；扣分项取负"],
    ]
    _sheet(book, "说明", ["项目", "内容"], about, filters=False)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _refusal(status: int, code: str, message: str, field: str | None = None) -> JSONResponse:
    error: dict[str, Any] = {"message": message, "code": code}
    if field:
        error["field"] = field
    return JSONResponse({"errors": [error]}, status_code=status)


def evaluation_export(
    runtime: Runtime, key: str
) -> Callable[[Request], Coroutine[Any, Any, Response]]:
    """The route's endpoint, bound to the process's runtime and token key."""

    async def endpoint(request: Request) -> Response:
        try:
            scope: Scope = await authenticate(runtime.db, request.headers.get("authorization"), key)
        except AuthError as exc:
            return _refusal(401, "UNAUTHENTICATED", str(exc))
        month = request.path_params["month"]
        tenant_code = request.query_params.get("tenantCode")
        try:
            scope.require(Permission.EVALUATION_EXPORT)
            async with runtime.db.session(scope.tenant_ids) as session:
                found = await service.monthly_evaluation(
                    session, scope, month, tenant_code, tz=runtime.tz
                )
        except DomainError as exc:
            return _refusal(STATUS.get(exc.code, 400), exc.code.value, exc.message, exc.field)
        towns = {t.id: t.name for t in scope.directory.tenants}
        body = workbook(found, towns, runtime.tz)
        name = f"月度考核-{found.month}.xlsx"
        disposition = (
            f'attachment; filename="evaluation-{found.month}.xlsx"; '
            f"filename*=UTF-8''{quote(name)}"
        )
        return Response(body, media_type=XLSX, headers={"Content-Disposition": disposition})

    return endpoint


def routes(runtime: Runtime, key: str) -> list[Route]:
    return [
        Route("/exports/evaluation/{month}.xlsx", evaluation_export(runtime, key), methods=["GET"])
    ]
