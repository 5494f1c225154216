"""The administration workbook (sheets 网格, 人员, 企业, and optionally 摄像头): reading it into
save specs, writing the template. Pure (no database): every problem is a :class:`Problem`
naming sheet, row and column in Chinese. openpyxl reads and writes the xlsx (a maintained
library; the format is a zip of XML nobody should parse by hand).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

from openpyxl import Workbook, load_workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from hub.cameras.service import CameraSheetRow
from hub.grid.admin import CellSpec, MemberSpec
from hub.grid.model import MemberRole
from hub.sources.service import EnterpriseSpec

ROLE_NAMES = {
    "网格长": MemberRole.CHIEF,
    "网格员": MemberRole.GRIDMAN,
    "下沉人员": MemberRole.SECONDED,
    "专职监管员": MemberRole.INSPECTOR,
}
YES, NO = "是", "否"


@dataclass(frozen=True)
class Problem:
    sheet: str
    row: int | None = None
    column: int | None = None
    heading: str | None = None
    message: str = ""

    def __str__(self) -> str:
        where = f"工作表「{self.sheet}」"
        if self.row is not None:
            where += f" 第 {self.row} 行"
        if self.column is not None:
            where += f" {get_column_letter(self.column)} 列"
        if self.heading:
            where += f"（{self.heading}）"
        return f"{where}：{self.message}"


class CellError(ValueError):
    """A cell's value that cannot be read as its column wants (the message in Chinese)."""


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, (datetime, date, time)):
        raise CellError("是日期或时间，这一列应填文字")
    if isinstance(value, bool):
        raise CellError("是逻辑值，这一列应填文字")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # a staff number or phone Excel kept as a number
    text = str(value).strip()
    return text or None


def _integer(value: Any) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, (bool, datetime, date, time)):
        raise CellError("应为整数")
    if isinstance(value, (int, float)) and float(value).is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    raise CellError(f"应为整数，实为「{value}」")


def _number(value: Any) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, (bool, datetime, date, time)):
        raise CellError("应为数字（度，如 34.53）")
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(str(value).strip())
    except ValueError:
        raise CellError(f"应为数字（度，如 34.53），实为「{value}」") from None


def _yes_no(value: Any) -> bool:
    if value is None or value == "":
        return True
    if isinstance(value, bool):
        return value
    text = str(value).strip().upper()
    if text in (YES, "Y", "TRUE", "1"):
        return True
    if text in (NO, "N", "FALSE", "0"):
        return False
    raise CellError(f"应填「{YES}」或「{NO}」，实为「{value}」")


def _role(value: Any) -> MemberRole | None:
    text = _text(value)
    if text is None:
        return None
    found = ROLE_NAMES.get(text) or MemberRole.__members__.get(text.upper())
    if found is None:
        raise CellError(f"应为{'、'.join(ROLE_NAMES)}之一，实为「{text}」")
    return found


def _geojson(value: Any) -> Any:
    text = _text(value)
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        raise CellError("不是有效的 GeoJSON 文本") from None


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


@dataclass(frozen=True)
class Column:
    heading: str
    field: str  # the API field the services name in their errors
    read: Callable[[Any], Any]
    required: bool = False
    example: Any = None


@dataclass(frozen=True)
class SheetSpec:
    name: str
    columns: tuple[Column, ...]
    spec: Callable[..., Any]  # CellSpec, MemberSpec, EnterpriseSpec: the service's input
    optional: bool = False  # a workbook without this sheet is fine (written without example)

    def build(self, read: dict[str, Any]) -> Any:
        """The save spec of a row: each column's field (camelCase) is the spec's snake_case."""
        return self.spec(**{_snake(name): value for name, value in read.items()})

    def column_of(self, field_name: str | None) -> tuple[int, str] | None:
        for i, column in enumerate(self.columns, 1):
            if column.field == field_name:
                return i, column.heading
        return None


EXAMPLE_POLYGON = (
    '{"type": "Polygon", "coordinates": [[[113.47, 34.57], [113.48, 34.57], '
    "[113.48, 34.58], [113.47, 34.58], [113.47, 34.57]]]}"
)

CELLS = SheetSpec(
    "网格",
    (
        Column("镇代码", "tenantCode", _text, True, "laiji"),
        Column("网格编码", "code", _text, True, "laiji-21"),
        Column("网格名称", "name", _text, True, "示例社区网格"),
        Column("层级", "level", _integer, True, 3),
        Column("上级网格编码", "parentCode", _text, False, "laiji"),
        Column("边界（GeoJSON）", "polygon", _geojson, False, EXAMPLE_POLYGON),
        Column("是否在用", "active", _yes_no, False, YES),
    ),
    CellSpec,
)
MEMBERS = SheetSpec(
    "人员",
    (
        Column("镇代码", "tenantCode", _text, True, "laiji"),
        Column("工号", "externalId", _text, True, "LJ-0001"),
        Column("姓名", "name", _text, True, "王建国"),
        Column("角色", "role", _role, True, "网格员"),
        Column("网格编码", "gridCellCode", _text, True, "laiji-01"),
        Column("手机", "phone", _text, False, "13803710999"),
        Column("是否在岗", "active", _yes_no, False, YES),
    ),
    MemberSpec,
)
ENTERPRISES = SheetSpec(
    "企业",
    (
        Column("镇代码", "tenantCode", _text, True, "laiji"),
        Column("统一社会信用代码", "creditCode", _text, True, "91410183000000000Y"),
        Column("企业名称", "name", _text, True, "示例耐火材料有限公司"),
        Column("行业", "industry", _text, True, "耐火材料"),
        Column("地址", "address", _text, False, "来集镇示例路 1 号"),
        Column("纬度", "latitude", _number, False, 34.575),
        Column("经度", "longitude", _number, False, 113.475),
        Column("网格编码", "gridCellCode", _text, False, "laiji-01"),
        Column("是否在营", "active", _yes_no, False, YES),
    ),
    EnterpriseSpec,
)
CAMERAS = SheetSpec(
    "摄像头",
    (
        Column("镇代码", "tenantCode", _text, True, "laiji"),
        Column("摄像头编号", "cameraId", _text, True, "CAM-LJ-001"),
        Column("名称", "name", _text, True, "示例耐火材料有限公司总排口"),
        Column("企业统一社会信用代码", "sourceCreditCode", _text, False, "91410183000000000Y"),
        Column("排放口", "outlet", _text, False, "总排口"),
        Column("纬度", "latitude", _number, False, 34.575),
        Column("经度", "longitude", _number, False, 113.475),
        Column("实时视频地址", "liveViewUrl", _text, False, "http://10.0.0.8/live/1"),
    ),
    CameraSheetRow,
    optional=True,
)
# In the order they are saved: cells before people, enterprises before their cameras.
SHEETS = (CELLS, MEMBERS, ENTERPRISES, CAMERAS)


@dataclass(frozen=True)
class Row:
    sheet: SheetSpec
    number: int  # the row number Excel shows
    spec: Any


@dataclass
class Book:
    rows: list[Row] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def _check_layout(sheet: SheetSpec, ws: Worksheet) -> list[Problem]:
    """The headings in their places and no merged cells (a merged block holds one value for
    several rows or columns: which row it belongs to is a guess the import does not make)."""
    problems = [
        Problem(sheet.name, None, None, None, f"合并了单元格 {merged.coord}：每个单元格须各自填写")
        for merged in ws.merged_cells.ranges
    ]
    headings = next(ws.iter_rows(min_row=1, max_row=1, values_only=True), ())
    for i, column in enumerate(sheet.columns, 1):
        found = headings[i - 1] if i <= len(headings) else None
        if (str(found).strip() if found is not None else "") != column.heading:
            problems.append(
                Problem(
                    sheet.name, 1, i, None, f"标题应为「{column.heading}」，实为「{found or ''}」"
                )
            )
    return problems


def _read_rows(sheet: SheetSpec, ws: Worksheet, book: Book) -> None:
    width = len(sheet.columns)
    for number, values in enumerate(ws.iter_rows(min_row=2, values_only=True), 2):
        cells = list(values[:width]) + [None] * (width - len(values[:width]))
        if all(v is None or (isinstance(v, str) and not v.strip()) for v in cells):
            continue  # a blank line between blocks
        read: dict[str, Any] = {}
        ok = True
        for i, (column, value) in enumerate(zip(sheet.columns, cells, strict=True), 1):
            try:
                read[column.field] = column.read(value)
            except CellError as exc:
                book.problems.append(Problem(sheet.name, number, i, column.heading, str(exc)))
                ok = False
                continue
            if column.required and read[column.field] is None:
                book.problems.append(Problem(sheet.name, number, i, column.heading, "不能为空"))
                ok = False
        if ok:
            book.rows.append(Row(sheet, number, sheet.build(read)))


def read_book(path: Path) -> Book:
    """Every row of the three sheets as save specs, and every problem found on the way."""
    book = Book()
    try:
        wb = load_workbook(path, data_only=True)
    except (OSError, ValueError, KeyError) as exc:  # not a file, not an xlsx (zip) file
        book.problems.append(Problem(path.name, message=f"无法作为 xlsx 工作簿打开（{exc}）"))
        return book
    for sheet in SHEETS:
        if sheet.name not in wb.sheetnames:
            if sheet.optional:
                continue
            book.problems.append(Problem(sheet.name, message="缺少这个工作表"))
            continue
        ws = wb[sheet.name]
        layout = _check_layout(sheet, ws)
        book.problems.extend(layout)
        if not layout:
            _read_rows(sheet, ws, book)
    return book


def write_template(path: Path) -> None:
    """The workbook with its headings and one example row per sheet."""
    wb = Workbook()
    for i, sheet in enumerate(SHEETS):
        ws = wb.create_sheet(sheet.name, i)
        ws.append([c.heading for c in sheet.columns])
        for cell in ws[1]:
            cell.font = Font(bold=True)
        if not sheet.optional:  # an optional sheet's example would be imported as a row
            ws.append([c.example for c in sheet.columns])
        for i, column in enumerate(sheet.columns, 1):
            ws.column_dimensions[get_column_letter(i)].width = max(12, len(column.heading) * 2 + 4)
        ws.freeze_panes = "A2"
    del wb["Sheet"]  # the blank sheet a new workbook starts with
    wb.save(path)
