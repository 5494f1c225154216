"""`sanwang import` as a grid office runs it: a real process on a fresh database (PostgreSQL when
SANWANG_TEST_DATABASE_URL is set, SQLite always). The template is written, filled in with
openpyxl as a clerk would in Excel, imported, imported again; bad workbooks import nothing."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook, load_workbook
from stdnum.cn import uscc

from tests.conftest import Backend
from tests.processes import ROOT, run_sanwang

CELLS = [
    ["laiji", "laiji-31", "幸福社区网格", 3, "laiji", '{"type": "Polygon", "coordinates": '
     "[[[113.47, 34.57], [113.48, 34.57], [113.48, 34.58], [113.47, 34.57]]]}", "是"],
    ["chaohua", "chaohua-31", "新村网格", 3, "chaohua", None, None],
]  # fmt: skip
MEMBERS = [
    ["laiji", "LJ-0101", "赵立新", "网格员", "laiji-31", 13803710901, "是"],
    ["laiji", "LJ-0102", "钱秀英", "下沉人员", "laiji-01", "13803710902", None],
    ["chaohua", "CH-0101", "孙志强", "网格长", "chaohua-31", None, "是"],
]


def credit(n: int) -> str:
    base = f"9141018300000{n:04d}"
    return base + uscc.calc_check_digit(base)


ENTERPRISES = [
    ["laiji", credit(11), "幸福耐火材料有限公司", "耐火材料", "幸福路 1 号", 34.575, 113.475,
     "laiji-31", "是"],
    ["chaohua", credit(12), "新村纸业有限公司", "造纸", None, None, None, None, None],
]  # fmt: skip
FILLED = {"网格": CELLS, "人员": MEMBERS, "企业": ENTERPRISES}
FIRST_TIME = "网格 新建 2；人员 新建 3；企业 新建 2"


@pytest.fixture
def env(backend: Backend, tmp_path: Path) -> Iterator[dict[str, str]]:
    url = backend.empty_url(tmp_path)
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SANWANG_")}
    environment.update(PYTHONPATH=str(ROOT), SANWANG_DATABASE_URL=url, SANWANG_SECRET_KEY="e2e")
    yield environment
    backend.drop(url)


def fill(template: Path, target: Path, change: Callable[[Workbook], Any] | None = None) -> Path:
    """The template with its example rows replaced by ours, then `change` applied."""
    wb = load_workbook(template)
    for name, rows in FILLED.items():
        ws = wb[name]
        ws.delete_rows(2, ws.max_row)
        for row in rows:
            ws.append(row)
    if change is not None:
        change(wb)
    wb.save(target)
    return target


def test_a_workbook_round_trip_and_bad_workbooks_import_nothing(
    env: dict[str, str], tmp_path: Path
) -> None:
    def sanwang(*args: str, check: bool = True) -> Any:
        return run_sanwang(tmp_path, *args, env=env, check=check)

    sanwang("migrate")
    sanwang("demo", "--no-month")
    template = tmp_path / "模板.xlsx"
    sanwang("import", "--template", str(template))
    wb = load_workbook(template)
    assert wb.sheetnames == ["网格", "人员", "企业", "摄像头"]
    headings = ["镇代码", "工号", "姓名", "角色", "网格编码", "手机", "是否在岗"]
    assert [c.value for c in wb["人员"][1]] == headings
    assert all(wb[name].max_row == 2 for name in FILLED)  # headings and one example
    assert wb["摄像头"].max_row == 1  # optional: headings only, no example to import by mistake

    good = fill(template, tmp_path / "good.xlsx")
    bad_books: dict[str, tuple[Callable[[Workbook], Any], list[str]]] = {
        "missing": (lambda b: b.remove(b["企业"]), ["工作表「企业」：缺少这个工作表"]),
        "merged": (
            lambda b: b["人员"].merge_cells("C2:C3"),
            ["工作表「人员」", "合并了单元格 C2:C3"],
        ),
        "date": (
            lambda b: b["人员"].cell(3, 2, value=date(2026, 12, 1)),
            ["工作表「人员」 第 3 行 B 列（工号）：是日期或时间"],
        ),
        "text number": (
            lambda b: b["企业"].cell(2, 6, value="北纬34度"),
            ["工作表「企业」 第 2 行 F 列（纬度）：应为数字"],
        ),
        "unknown cell": (
            lambda b: b["人员"].cell(2, 5, value="laiji-77"),
            ["工作表「人员」 第 2 行 E 列（网格编码）", "laiji-77 不存在"],
        ),
        "cell of another town": (
            lambda b: b["人员"].cell(4, 5, value="laiji-31"),
            ["工作表「人员」 第 4 行 E 列（网格编码）", "来集镇"],
        ),
        "staff number twice": (
            lambda b: b["人员"].append(["laiji", "LJ-0101", "赵立", "网格员", "laiji-31"]),
            ["工作表「人员」 第 5 行 B 列（工号）", "LJ-0101 已登记为赵立新"],
        ),
    }  # fmt: skip
    for i, (name, (change, words)) in enumerate(bad_books.items()):
        book = fill(template, tmp_path / f"bad-{i}.xlsx", change)
        done = sanwang("import", str(book), check=False)
        assert done.returncode == 1, (name, done.stdout, done.stderr)
        for word in words:
            assert word in done.stderr, (name, done.stderr)
        assert "未导入任何数据" in done.stderr, (name, done.stderr)

    dry = sanwang("import", str(good), "--dry-run")
    assert "试导入" in dry.stdout and FIRST_TIME in dry.stdout  # nothing of the bad ones stayed

    first = sanwang("import", str(good))
    assert "导入完成" in first.stdout and FIRST_TIME in first.stdout, first.stdout
    again = sanwang("import", str(good))
    assert "网格 无变化；人员 无变化；企业 无变化（共 7 行，7 行与库中相同）" in again.stdout

    retired = fill(template, tmp_path / "retired.xlsx", lambda b: b["人员"].cell(3, 7, value="否"))
    assert "人员 停用 1" in sanwang("import", str(retired)).stdout
    assert sanwang("audit", "verify").returncode == 0
