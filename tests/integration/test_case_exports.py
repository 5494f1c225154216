"""Case exports: `GET /exports/cases.xlsx` and `sanwang export cases`, on both databases. The
cases the caller sees, filtered as the case list is, Chinese headings, local times, phones
masked, the header frozen and filters on; bad parameters refused naming them."""

from __future__ import annotations

import io
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from tests.conftest import Hub
from tests.processes import run_sanwang
from tests.reporting import TZ, build_quarter

HEADINGS = ("案件编号", "标题", "乡镇（街道）", "网格", "类别", "来源渠道", "状态", "优先级")


def rows_of(content: bytes) -> tuple[Any, list[tuple[Any, ...]]]:
    book = load_workbook(io.BytesIO(content))
    sheet = book["案件台账"]
    return sheet, list(sheet.iter_rows(values_only=True))


async def export(hub: Hub, token: str, **params: Any) -> Any:
    return await hub.http.get(
        "/exports/cases.xlsx", params=params, headers={"Authorization": f"Bearer {token}"}
    )


async def test_the_workbook_of_the_cases_the_caller_sees(hub: Hub) -> None:
    await build_quarter(hub)
    response = await export(hub, hub.admin)
    assert response.status_code == 200, response.text
    assert "attachment" in response.headers["content-disposition"]
    sheet, rows = rows_of(response.content)
    assert rows[0][: len(HEADINGS)] == HEADINGS
    assert sheet.freeze_panes == "A2" and sheet.auto_filter.ref == f"A1:P{len(rows)}"
    assert len(rows) == 1 + 5
    by_title = {r[1]: dict(zip(rows[0], r, strict=True)) for r in rows[1:]}
    polluted = by_title["河道排污"]
    assert polluted["乡镇（街道）"] == "来集镇" and polluted["类别"] == "水"
    assert polluted["来源渠道"] == "社管平台" and polluted["状态"] == "登记"
    assert polluted["红黄牌"] == "黄牌"
    assert polluted["举报人电话"] == "138****5678"  # masked, even for ADMIN
    registered = polluted["登记时间"]
    now = datetime.now(TZ).replace(tzinfo=None)
    assert isinstance(registered, datetime) and abs(now - registered) < timedelta(minutes=5)
    assert by_title["工地噪声"]["状态"] == "不予受理"
    assert by_title["露天烧烤油烟"]["办结时间"] is not None

    town = await export(hub, hub.token("OPERATOR", ["laiji"]))
    assert town.status_code == 200
    assert {r[2] for r in rows_of(town.content)[1][1:]} == {"来集镇"}  # its own town only


async def test_filters_as_the_case_list(hub: Hub) -> None:
    await build_quarter(hub)
    today = datetime.now(TZ).date()

    async def titles(**params: Any) -> set[str]:
        response = await export(hub, hub.admin, **params)
        assert response.status_code == 200, response.text
        return {r[1] for r in rows_of(response.content)[1][1:]}

    assert await titles(status="REJECTED") == {"工地噪声"}
    assert await titles(status="REJECTED,CLOSED") == {"工地噪声", "夜间扬尘", "路边焚烧垃圾"}
    assert await titles(category=["AIR", "WATER"]) == {"河道排污", "露天烧烤油烟", "路边焚烧垃圾"}
    assert await titles(tenantCode="niudian") == {"露天烧烤油烟", "路边焚烧垃圾"}
    assert len(await titles(**{"from": str(today), "to": str(today)})) == 5
    assert await titles(to=str(today - timedelta(days=1))) == set()
    assert await titles(**{"from": str(today + timedelta(days=1))}) == set()


@pytest.mark.parametrize(
    ("params", "status", "field"),
    [
        ({"from": "2026-12-02", "to": "2026-12-01"}, 422, "from"),
        ({"from": "2026-13-01"}, 422, "from"),
        ({"to": "yesterday"}, 422, "to"),
        ({"from": "2026-12-01T08:00:00"}, 422, "from"),
        ({"status": "DONE"}, 422, "status"),
        ({"category": "SMOKE"}, 422, "category"),
        ({"tenantCode": "nowhere"}, 422, "tenantCode"),
    ],
)
async def test_bad_parameters_are_refused_naming_them(
    hub: Hub, params: dict[str, str], status: int, field: str
) -> None:
    response = await export(hub, hub.admin, **params)
    assert response.status_code == status, response.headers
    error = response.json()["errors"][0]
    assert error["extensions"]["field"] == field
    assert any("\u4e00" <= ch <= "\u9fff" for ch in error["message"])


async def test_a_town_the_caller_does_not_see_and_no_token(hub: Hub) -> None:
    response = await export(hub, hub.token("OPERATOR", ["laiji"]), tenantCode="niudian")
    assert response.status_code == 403
    assert response.json()["errors"][0]["extensions"] == {
        "code": "FORBIDDEN",
        "field": "tenantCode",
    }
    assert (await hub.http.get("/exports/cases.xlsx")).status_code == 401
    bad = await hub.http.get("/exports/cases.xlsx", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401


@pytest.mark.slow  # two processes of the command
async def test_the_command_writes_the_same_workbook(hub: Hub, db_url: str, tmp_path: Path) -> None:
    await build_quarter(hub)
    env = {"SANWANG_DATABASE_URL": db_url, "SANWANG_SECRET_KEY": "x" * 32}
    out = tmp_path / "案件.xlsx"
    done = run_sanwang(tmp_path, "export", "cases", str(out), "--tenant", "laiji", env=env)
    assert "3 cases written" in done.stdout
    _, rows = rows_of(out.read_bytes())
    assert rows[0][: len(HEADINGS)] == HEADINGS
    assert {r[2] for r in rows[1:]} == {"来集镇"} and len(rows) == 4
    wrong = run_sanwang(
        tmp_path,
        "export",
        "cases",
        str(out),
        "--from",
        "2026-12-02",
        "--to",
        "2026-12-01",
        env=env,
        check=False,
    )
    assert wrong.returncode == 1 and "from" in wrong.stderr
