"""The bulletin in the console, through the live app on both databases: the current quarter's
figures (the hand-worked quarter of tests/reporting.py), its downloads under the console's own
path, the year's briefings; who may see it; a bad quarter."""

from __future__ import annotations

import io

from docx import Document
from openpyxl import load_workbook

from tests.conftest import Hub
from tests.console import account, client, sign_in
from tests.reporting import EXPECTED, build_quarter, quarter_now


async def test_a_supervisor_reads_the_quarter_and_downloads_it(hub: Hub) -> None:
    await build_quarter(hub)
    await account(hub, "ducha", "SUPERVISOR")
    async with client(hub) as http:
        await sign_in(http, "ducha")
        moved = await http.get("/console/bulletin")
        quarter = quarter_now()
        assert moved.status_code == 303
        assert moved.headers["location"] == f"/console/bulletin/{quarter}"
        page = await http.get(moved.headers["location"])
        assert page.status_code == 200
        html = page.text
        assert "网格化环境监管督查通报" in html and "来集镇" in html and "牛店镇" in html
        assert "信息简报" in html and 'href="/console/bulletin"' in html
        for suffix, check in (("docx", _docx_names), ("xlsx", _xlsx_names)):
            got = await http.get(f"/console/bulletin/{quarter}.{suffix}")
            assert got.status_code == 200, got.text
            assert {"来集镇", "牛店镇"} <= check(got.content)


def _docx_names(body: bytes) -> set[str]:
    doc = Document(io.BytesIO(body))
    return {cell.text for table in doc.tables for row in table.rows for cell in row.cells}


def _xlsx_names(body: bytes) -> set[str]:
    sheet = load_workbook(io.BytesIO(body)).worksheets[0]
    return {str(v) for row in sheet.iter_rows(values_only=True) for v in row if v is not None}


async def test_the_figures_on_the_page_are_the_bulletins(hub: Hub) -> None:
    await build_quarter(hub)
    await account(hub, "diaodu", "DISPATCHER")
    async with client(hub) as http:
        await sign_in(http, "diaodu")
        html = (await http.get(f"/console/bulletin/{quarter_now()}")).text
    row = html.split("来集镇</td>", 1)[1].split("</tr>", 1)[0]
    cells = [c.split("</td>")[0] for c in row.split("<td>")[1:]]
    laiji = EXPECTED["laiji"]
    assert cells[:3] == [str(laiji["found"]), str(laiji["solved"]), str(laiji["solvedOnSite"])]
    assert cells[-1] == "50.0%"


async def test_a_town_office_may_not_and_a_bad_quarter_is_named(hub: Hub) -> None:
    await account(hub, "laiji-office", "OPERATOR", ["laiji"])
    await account(hub, "ducha", "SUPERVISOR")
    async with client(hub) as http:
        await sign_in(http, "laiji-office")
        refused = await http.get(f"/console/bulletin/{quarter_now()}")
        assert refused.status_code == 403 and "无权" in refused.text
        queue = await http.get("/console/cases")
        assert 'href="/console/bulletin"' not in queue.text
    async with client(hub) as http:
        await sign_in(http, "ducha")
        bad = await http.get("/console/bulletin/2026Q5")
        assert bad.status_code == 400 and "季度" in bad.text
        wrong = await http.get("/console/bulletin/2026Q4.pdf")
        assert wrong.status_code == 404
