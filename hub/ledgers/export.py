"""The ledger workbook (台账.xlsx): the items a caller sees, and every step of their progress.

Two sheets with Chinese headings: 台账 (one row per item, with its latest progress) and 进展记录
(one row per progress step, oldest first per item). Times are local (Asia/Shanghai by default,
``YYYY-MM-DD HH:MM``), days ISO. openpyxl writes it in write-only mode: rows stream to a temporary
file (in memory up to a few megabytes, then on disk) rather than building the sheet in memory.
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterator, Mapping
from datetime import datetime, tzinfo
from typing import IO, Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from hub.cases.enums import CARD_LABELS
from hub.ledgers.cards import KIND_LABELS
from hub.ledgers.service import ItemRow
from hub.localtime import local_text

ITEM_HEADINGS = (
    "台账编号",
    "类型",
    "乡镇",
    "标题",
    "问题描述",
    "整改措施",
    "企业",
    "关联案件",
    "责任人",
    "整改期限",
    "状态",
    "完成进度（%）",
    "是否逾期",
    "牌色",
    "亮牌时间",
    "最新进展",
    "建立人",
    "建立时间",
    "销号人",
    "销号时间",
    "核查意见",
)
PROGRESS_HEADINGS = ("台账编号", "时间", "进展情况", "完成进度（%）", "记录人")
STATUS_LABELS = {"OPEN": "未销号", "CLOSED": "已销号"}
WIDTHS = {
    "标题": 30,
    "问题描述": 40,
    "整改措施": 40,
    "最新进展": 40,
    "核查意见": 30,
    "进展情况": 50,
}
SPOOL_BYTES = 4 * 1024 * 1024
CHUNK_BYTES = 64 * 1024
CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _when(at: datetime | None, tz: tzinfo) -> str:
    return local_text(at, tz) if at is not None else ""


def _item_line(row: ItemRow, towns: Mapping[uuid.UUID, str], tz: tzinfo) -> list[Any]:
    item = row.item
    latest = row.progress[-1] if row.progress else None
    return [
        item.number,
        KIND_LABELS.get(item.kind, item.kind),
        towns.get(item.tenant_id, ""),
        item.title,
        item.description,
        "\n".join(f"{i}. {m}" for i, m in enumerate(item.measures, 1)),
        row.source.name if row.source else "",
        row.case.number if row.case else "",
        row.responsible.name if row.responsible else "",
        item.deadline.isoformat(),
        STATUS_LABELS.get(item.status, item.status),
        item.percent,
        "是" if row.overdue else "否",
        CARD_LABELS.get(item.card or "NONE", ""),
        _when(item.carded_at, tz),
        f"{_when(latest.at, tz)} {latest.note}" if latest else "",
        item.opened_by,
        _when(item.opened_at, tz),
        item.closed_by or "",
        _when(item.closed_at, tz),
        item.verification or "",
    ]


def _headings(sheet: WriteOnlyWorksheet, headings: tuple[str, ...]) -> None:
    bold = Font(bold=True)
    cells = []
    for i, heading in enumerate(headings):
        cell = WriteOnlyCell(sheet, value=heading)
        cell.font = bold
        cells.append(cell)
        # set by Worksheet._setup on write-only sheets too; the stubs do not know it
        width = WIDTHS.get(heading, 14)
        sheet.column_dimensions[get_column_letter(i + 1)].width = width  # type: ignore[attr-defined]
    sheet.freeze_panes = "A2"
    sheet.append(cells)


def write_workbook(rows: list[ItemRow], towns: Mapping[uuid.UUID, str], tz: tzinfo) -> IO[bytes]:
    """The workbook in a temporary file, at its start (the caller closes it)."""
    book = Workbook(write_only=True)
    items = book.create_sheet("台账")
    _headings(items, ITEM_HEADINGS)
    for row in rows:
        items.append(_item_line(row, towns, tz))
    steps = book.create_sheet("进展记录")
    _headings(steps, PROGRESS_HEADINGS)
    for row in rows:
        for step in row.progress:
            steps.append([row.item.number, _when(step.at, tz), step.note, step.percent, step.by])
    out = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 (chunks closes it)
    book.save(out)
    out.seek(0)
    return out


def chunks(out: IO[bytes]) -> Iterator[bytes]:
    """The file's bytes in pieces, then closed."""
    try:
        while piece := out.read(CHUNK_BYTES):
            yield piece
    finally:
        out.close()
