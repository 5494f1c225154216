"""The case ledger as a workbook (案件台账): `GET /exports/cases.xlsx` and `sanwang export cases`.

The cases the caller sees (the same tenant locks as every read), filtered like the case list,
oldest first. Rows are read from a server-side cursor in batches and written to an XlsxWriter
sheet in constant_memory mode, which spills each row to a temporary file as it goes: memory
does not grow with the row count. Chinese headings, local times, the header frozen, filters
on, widths set.

A reporter's phone number (the lowest of the case's reports', found in one grouped pass) is
always masked here (138****5678), whatever the role: an export is a bulk read, and the API
audits each unmasked read one case at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.auth import Scope
from hub.cases.enums import (
    CARD_LABELS,
    CATEGORY_LABELS,
    CHANNEL_LABELS,
    PRIORITY_LABELS,
    STATUS_LABELS,
    CaseStatus,
    Category,
    channels_of,
)
from hub.cases.model import Case, Report
from hub.cases.phones import mask_phone
from hub.cases.queries import CaseFilter, apply_filter
from hub.db import utcnow
from hub.errors import DomainError, ErrorCode, invalid
from hub.grid.model import GridCell, Member
from hub.roles import Permission

COLUMNS: tuple[tuple[str, int], ...] = (
    ("案件编号", 18),
    ("标题", 30),
    ("乡镇（街道）", 14),
    ("网格", 16),
    ("类别", 8),
    ("来源渠道", 18),
    ("状态", 8),
    ("优先级", 8),
    ("红黄牌", 8),
    ("地址", 30),
    ("举报人电话", 14),
    ("承办人", 10),
    ("登记时间", 17),
    ("办理期限", 17),
    ("办结时间", 17),
    ("结案时间", 17),
)
BATCH = 2000
Progress = Callable[[int], None]


@dataclass(frozen=True)
class ExportFilter:
    statuses: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    tenant_codes: tuple[str, ...] = ()
    start: datetime | None = None  # [start, end) on registration time
    end: datetime | None = None


def check_filter(scope: Scope, flt: ExportFilter) -> CaseFilter:
    """The export's filter as the case list's, each value checked (field named, in Chinese)."""
    for value in flt.statuses:
        if value not in CaseStatus.__members__:
            known = "、".join(s.value for s in CaseStatus)
            raise invalid("status", f"状态（status）{value!r} 不存在（可用：{known}）")
    for value in flt.categories:
        if value not in Category.__members__:
            known = "、".join(c.value for c in Category)
            raise invalid("category", f"类别（category）{value!r} 不存在（可用：{known}）")
    for code in flt.tenant_codes:
        tenant = scope.directory.by_code.get(code)
        if tenant is None:
            raise invalid("tenantCode", f"没有编码为 {code!r} 的乡镇（tenantCode）")
        if not scope.sees(tenant.id):
            raise DomainError(
                ErrorCode.FORBIDDEN, f"无权导出{tenant.name}的案件（tenantCode）", "tenantCode"
            )
    if flt.start is not None and flt.end is not None and flt.start >= flt.end:
        raise invalid("from", "开始日期（from）不能晚于结束日期（to）")
    return CaseFilter(
        status=[CaseStatus(s) for s in flt.statuses] or None,
        categories=[Category(c) for c in flt.categories] or None,
        tenant_codes=list(flt.tenant_codes) or None,
        created_after=flt.start,
        created_before=flt.end,
    )


EXCEL_EPOCH = datetime(1899, 12, 30)
TIME_FORMAT = "yyyy-mm-dd hh:mm"
TIME_COLUMNS = 4  # the last four: registered, due, resolved, closed


def excel_time(value: datetime | None, tz: ZoneInfo) -> float | None:
    """A local time as Excel's serial day number (Excel has no time zones), written with one
    shared date format."""
    if value is None:
        return None
    local = value.astimezone(tz).replace(tzinfo=None, microsecond=0)
    return (local - EXCEL_EPOCH).total_seconds() / 86_400


@cache
def channel_text(mask: int) -> str:
    """The channels a case came by, as people read them (a handful of masks: cached)."""
    return "、".join(CHANNEL_LABELS[c] for c in channels_of(mask))


def _row(values: Sequence[Any], scope: Scope, tz: ZoneInfo) -> list[Any]:
    (number, title, tenant_id, cell, category, mask, status, priority, card, address, phone,
     assignee, created, due, resolved, closed) = values  # fmt: skip
    town = scope.directory.by_id.get(tenant_id)
    return [
        number,
        title,
        town.name if town else str(tenant_id),
        cell,
        CATEGORY_LABELS.get(category, category),
        channel_text(mask),
        STATUS_LABELS.get(status, status),
        PRIORITY_LABELS.get(priority, priority),
        CARD_LABELS.get(card, card),
        address,
        mask_phone(phone) if phone else None,
        assignee,
        excel_time(created, tz),
        excel_time(due, tz),
        excel_time(resolved, tz),
        excel_time(closed, tz),
    ]


def _query(scope: Scope, flt: CaseFilter) -> Any:
    # A reporter's phone per case (masked on the way out): one grouped pass over the reports,
    # joined, rather than a lookup per case.
    phones = (
        select(Report.case_id, func.min(Report.reporter_phone).label("phone"))
        .where(Report.reporter_phone.is_not(None))
        .group_by(Report.case_id)
        .subquery()
    )
    phone = phones.c.phone
    query = (
        select(
            Case.number,
            Case.title,
            Case.tenant_id,
            GridCell.name,
            Case.category,
            Case.channel_mask,
            Case.status,
            Case.priority,
            Case.card,
            Case.address,
            phone,
            Member.name,
            Case.created_at,
            Case.due_at,
            Case.resolved_at,
            Case.closed_at,
        )
        .select_from(Case)
        .outerjoin(GridCell, GridCell.id == Case.grid_cell_id)
        .outerjoin(Member, Member.id == Case.assignee_id)
        .outerjoin(phones, phones.c.case_id == Case.id)
    )
    return apply_filter(query, scope, flt, utcnow()).order_by(Case.created_at, Case.id)


async def count_cases(session: AsyncSession, scope: Scope, flt: ExportFilter) -> int:
    """How many rows the export will have (for a progress bar)."""
    scope.require(Permission.CASE_READ)
    query = apply_filter(
        select(func.count()).select_from(Case), scope, check_filter(scope, flt), utcnow()
    )
    return int(await session.scalar(query) or 0)


async def export_cases(
    session: AsyncSession,
    scope: Scope,
    flt: ExportFilter,
    path: Path,
    *,
    tz: ZoneInfo,
    progress: Progress | None = None,
) -> int:
    """Write the workbook to `path`; the number of cases written.

    XlsxWriter in constant_memory mode: each row goes to a temporary file as it is written, so
    memory does not grow with the rows (openpyxl's write-only sheet does the same, at twice the
    CPU per cell: 26 s for 100k cases against the 20 s budget; docs/perf.md)."""
    import xlsxwriter

    scope.require(Permission.CASE_READ)
    case_filter = check_filter(scope, flt)
    # Every value is text or a number already: no guessing of formulas, URLs or numbers.
    options = {
        "constant_memory": True,
        "strings_to_formulas": False,
        "strings_to_urls": False,
        "strings_to_numbers": False,
    }
    book = xlsxwriter.Workbook(str(path), options)
    try:
        sheet = book.add_worksheet("案件台账")
        for i, (_, width) in enumerate(COLUMNS):
            sheet.set_column(i, i, width)
        sheet.write_row(0, 0, [heading for heading, _ in COLUMNS], book.add_format({"bold": True}))
        sheet.freeze_panes(1, 0)
        when = book.add_format({"num_format": TIME_FORMAT})
        plain = len(COLUMNS) - TIME_COLUMNS
        written = 0
        query = _query(scope, case_filter).execution_options(yield_per=BATCH)
        result = await session.stream(query)
        async for batch in result.partitions(BATCH):
            for values in batch:
                row = _row(values, scope, tz)
                written += 1
                for column, value in enumerate(row):
                    if value is None:
                        continue
                    if column < plain:
                        sheet.write_string(written, column, value)
                    else:
                        sheet.write_number(written, column, value, when)
            if progress is not None:
                progress(len(batch))
        sheet.autofilter(0, 0, written, len(COLUMNS) - 1)
    finally:
        book.close()
    return written
