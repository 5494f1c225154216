"""The bulletin as files: a Word document (python-docx) and a workbook (openpyxl), both with
the table and the chart."""

from __future__ import annotations

import asyncio
import io
from datetime import datetime, tzinfo

from hub.reports.bulletin import Bulletin
from hub.reports.chart import bar_chart
from hub.reports.summary import percent

HEADINGS = (
    "排名",
    "乡镇（街道）",
    "发现问题",
    "办结",
    "现场解决",
    "平台交办",
    "联合执法",
    "黄牌",
    "红牌",
    "按时办结率",
)
WIDTHS = (6, 16, 10, 8, 10, 10, 10, 6, 6, 12)
DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _cells(b: Bulletin) -> list[tuple[int, str, int, int, int, int, int, int, int, float | None]]:
    return [
        (
            f.rank,
            f.name,
            f.found,
            f.solved,
            f.solved_on_site,
            f.platform_assigned,
            f.joint_actions,
            f.yellow_cards,
            f.red_cards,
            f.on_time_rate,
        )
        for f in (t.figures for t in b.towns)
    ]


def _chart(b: Bulletin) -> bytes:
    return bar_chart(f"{b.quarter.label}各乡镇（街道）问题办理情况", [t.figures for t in b.towns])


def docx(b: Bulletin, issued: str) -> bytes:
    """Title, the summary paragraph, the table, the chart. `issued`: the local date it is made."""
    from docx import Document
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.oxml.ns import qn
    from docx.shared import Cm, Pt

    document = Document()
    normal = document.styles["Normal"]
    normal.font.name = "SimSun"
    normal.font.size = Pt(11)
    normal.element.rPr.rFonts.set(qn("w:eastAsia"), "宋体")  # Chinese text in a Chinese face
    heading = document.add_heading(b.title, level=1)
    heading.alignment = WD_ALIGN_PARAGRAPH.CENTER
    for run in heading.runs:
        run.font.name = "SimHei"  # makes the run's rPr/rFonts
        run.element.rPr.rFonts.set(qn("w:eastAsia"), "黑体")
    document.add_paragraph(f"统计期间：{b.quarter.label}（按登记时间）　　印发日期：{issued}")
    document.add_paragraph(b.text)
    table = document.add_table(rows=1, cols=len(HEADINGS))
    table.style = "Table Grid"
    for cell, text in zip(table.rows[0].cells, HEADINGS, strict=True):
        cell.text = text
    for values in _cells(b):
        row = table.add_row().cells
        for cell, value in zip(row, values, strict=True):
            cell.text = percent(value) if isinstance(value, float) or value is None else str(value)
    document.add_paragraph()
    document.add_picture(io.BytesIO(_chart(b)), width=Cm(16))
    document.add_paragraph(
        "说明：发现问题为本季度登记的问题数；办结含办结、反馈、结案；按时办结率 = 按时办结数 ÷ "
        "（办结数 + 逾期未办结数）；红黄牌、联合执法按发生时间计入本季度。"
    )
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def xlsx(b: Bulletin) -> bytes:
    """Sheet 季度通报: the table (header frozen, filters on, widths that fit) and the chart."""
    from openpyxl import Workbook
    from openpyxl.drawing.image import Image
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "季度通报"
    sheet.append(list(HEADINGS))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for values in _cells(b):
        sheet.append(list(values))
    last = len(b.towns) + 1
    for row in sheet.iter_rows(min_row=2, min_col=10, max_col=10):
        for cell in row:
            cell.number_format = "0.0%"
    for i, width in enumerate(WIDTHS, start=1):
        sheet.column_dimensions[get_column_letter(i)].width = width
    sheet.freeze_panes = "A2"
    sheet.auto_filter.ref = f"A1:{get_column_letter(len(HEADINGS))}{last}"
    notes = book.create_sheet("说明")
    notes.append([b.title])
    notes.append([b.text])
    notes.column_dimensions["A"].width = 120
    picture = Image(io.BytesIO(_chart(b)))
    picture.width, picture.height = picture.width // 2, picture.height // 2
    sheet.add_image(picture, f"A{last + 3}")
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


async def download(b: Bulletin, suffix: str, tz: tzinfo) -> tuple[bytes, str]:
    """The bulletin as one of its two downloads ("docx" or "xlsx"): (body, content type), made
    in a worker thread (python-docx, openpyxl and matplotlib are CPU work). The API's route and
    the console's both answer with it."""
    if suffix == "docx":
        issued = datetime.now(tz).strftime("%Y年%m月%d日")
        return await asyncio.to_thread(docx, b, issued), DOCX_TYPE
    return await asyncio.to_thread(xlsx, b), XLSX_TYPE
