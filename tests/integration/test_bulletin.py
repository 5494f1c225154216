"""The quarterly bulletin through the live app, on both databases: the hand-worked quarter of
tests/reporting.py, the downloads read back (figures, the chart embedded), the agreement of the
bulletin, caseStats and the case list, and bad input."""

from __future__ import annotations

import io
import warnings
import zipfile
from datetime import datetime
from typing import Any

import pytest
from docx import Document
from openpyxl import load_workbook

from hub.reports.chart import bar_chart
from hub.reports.quarters import parse_quarter
from hub.reports.summary import Figures
from tests.conftest import GraphQLError, Hub
from tests.operations import op
from tests.reporting import EXPECTED, TZ, build_quarter, quarter_now

FIELDS = (
    "found",
    "solved",
    "solvedOnSite",
    "platformAssigned",
    "jointActions",
    "yellowCards",
    "redCards",
    "onTimeRate",
    "rank",
)


async def bulletin(hub: Hub, quarter: str, token: str | None = None) -> dict[str, Any]:
    return (await hub.gql(op("Bulletin"), {"quarter": quarter}, token=token))["bulletin"]


async def test_bulletin_figures_by_hand(hub: Hub) -> None:
    await build_quarter(hub)
    quarter = quarter_now()
    got = await bulletin(hub, quarter, token=hub.token("SUPERVISOR"))
    assert got["quarter"] == quarter
    towns = {t["tenantCode"]: t for t in got["towns"]}
    for code, expected in EXPECTED.items():
        assert {f: towns[code][f] for f in FIELDS} == expected, code
    assert towns["laiji"]["name"] == "来集镇"
    others = [t for c, t in towns.items() if c not in EXPECTED]
    assert others and all(t["found"] == 0 and t["onTimeRate"] is None for t in others)
    assert {t["rank"] for t in others} == {3}  # no case to judge: last, sharing the rank
    assert "xinmi" not in towns  # the city's command centre is not ranked
    assert [t["tenantCode"] for t in got["towns"][:2]] == ["laiji", "niudian"]
    assert got["downloads"] == [
        {"format": "docx", "url": f"/exports/bulletin/{quarter}.docx"},
        {"format": "xlsx", "url": f"/exports/bulletin/{quarter}.xlsx"},
    ]


async def test_bulletin_downloads_read_back(hub: Hub) -> None:
    await build_quarter(hub)
    quarter = quarter_now()
    got = await bulletin(hub, quarter)
    token = hub.token("DISPATCHER")
    headers = {"Authorization": f"Bearer {token}"}
    docx = await hub.http.get(got["downloads"][0]["url"], headers=headers)
    assert docx.status_code == 200, docx.text
    assert docx.headers["content-type"].startswith("application/vnd.openxmlformats")
    document = Document(io.BytesIO(docx.content))
    texts = [p.text for p in document.paragraphs]
    label = parse_quarter(quarter).label
    assert texts[0] == f"{label}网格化环境监管督查通报"
    summary = next(t for t in texts[1:] if t.startswith(label))
    # totals over every town: 5 found, 3 solved, 1 on site, 1 platform, 3 joint, 1+1 cards
    assert "共发现环境问题5件，办结3件，其中现场解决1件" in summary
    assert "社管平台交办1件，联合执法3次" in summary
    assert "黄牌1张、红牌1张" in summary and "按时办结率为50.0%" in summary
    assert "排名第一的是来集镇（50.0%）" in summary
    table = document.tables[0]
    rows = [[c.text for c in r.cells] for r in table.rows]
    assert rows[0][:3] == ["排名", "乡镇（街道）", "发现问题"]
    assert rows[1] == ["1", "来集镇", "3", "1", "0", "1", "2", "1", "0", "50.0%"]
    assert rows[2] == ["2", "牛店镇", "2", "2", "1", "0", "1", "0", "1", "50.0%"]
    assert len(document.inline_shapes) == 1  # the chart
    with zipfile.ZipFile(io.BytesIO(docx.content)) as zipped:
        assert any(n.startswith("word/media/") and n.endswith(".png") for n in zipped.namelist())

    xlsx = await hub.http.get(got["downloads"][1]["url"], headers=headers)
    assert xlsx.status_code == 200, xlsx.text
    book = load_workbook(io.BytesIO(xlsx.content))
    sheet = book["季度通报"]
    values = list(sheet.iter_rows(values_only=True))
    assert values[0][:2] == ("排名", "乡镇（街道）")
    assert values[1] == (1, "来集镇", 3, 1, 0, 1, 2, 1, 0, 0.5)
    assert values[2] == (2, "牛店镇", 2, 2, 1, 0, 1, 0, 1, 0.5)
    assert sheet.freeze_panes == "A2" and sheet.auto_filter.ref.startswith("A1:J")
    assert len(sheet._images) == 1  # the chart
    with zipfile.ZipFile(io.BytesIO(xlsx.content)) as zipped:
        assert any(n.startswith("xl/media/") for n in zipped.namelist())


def test_the_chart_draws_chinese_town_names_with_the_shipped_font() -> None:
    towns = [
        Figures(name, 1, 3, 2, 1, 0, 0, 0, 0, 1, 1)
        for name in ("来集镇", "牛店镇", "超化镇", "新华路街道", "曲梁镇", "袁庄乡")
    ]
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        png = bar_chart("2026年第四季度各乡镇（街道）问题办理情况", towns)
    assert png.startswith(b"\x89PNG")
    missing = [str(w.message) for w in seen if "missing from" in str(w.message)]
    assert missing == []  # every glyph found: no boxes


async def test_bulletin_stats_and_case_list_agree(hub: Hub) -> None:
    await build_quarter(hub)
    quarter = quarter_now()
    start, end = parse_quarter(quarter).bounds(TZ)
    period = {"from": start.isoformat(), "to": end.isoformat()}
    towns = {t["tenantCode"]: t for t in (await bulletin(hub, quarter))["towns"]}
    stats = await hub.gql(STATS, {**period, "groupBy": "TENANT"})
    scope = await hub.scope()
    by_code = {
        scope.directory.by_id[__import__("uuid").UUID(r["key"])].code: r for r in stats["caseStats"]
    }
    for code, town in towns.items():
        row = by_code[code]
        assert (row["total"], row["resolved"], row["solvedOnSite"]) == (
            town["found"],
            town["solved"],
            town["solvedOnSite"],
        )
        assert (row["platformAssigned"], row["jointActions"]) == (
            town["platformAssigned"],
            town["jointActions"],
        )
        assert (row["yellowCards"], row["redCards"], row["onTimeRate"]) == (
            town["yellowCards"],
            town["redCards"],
            town["onTimeRate"],
        )
        listed = await hub.gql(
            op("Cases"),
            {
                "filter": {
                    "tenantCodes": [code],
                    "createdAfter": period["from"],
                    "createdBefore": period["to"],
                },
                "first": 1,
            },
        )
        assert listed["cases"]["totalCount"] == town["found"], code
        solved = await hub.gql(
            op("Cases"),
            {
                "filter": {
                    "tenantCodes": [code],
                    "status": ["RESOLVED", "FEEDBACK_GIVEN", "CLOSED"],
                    "createdAfter": period["from"],
                    "createdBefore": period["to"],
                },
                "first": 1,
            },
        )
        assert solved["cases"]["totalCount"] == town["solved"], code
    # The month's evaluation counts the same findings solved on site, member by member.
    month = datetime.now(TZ).strftime("%Y-%m")
    evaluation = await hub.gql(op("MonthlyEvaluation"), {"month": month})
    rows = evaluation["monthlyEvaluation"]["rows"]
    for code, town in towns.items():
        members = [r for r in rows if r["tenantCode"] == code]
        assert sum(r["solvedOnSite"] for r in members) == town["solvedOnSite"], code


STATS = """query($from: DateTime, $to: DateTime, $groupBy: StatsGroup!) {
  caseStats(from: $from, to: $to, groupBy: $groupBy) {
    key label total open resolved withdrawn overdue yellowCards redCards onTimeRate
    networkFound platformAssigned solvedOnSite jointActions } }"""


@pytest.mark.parametrize("quarter", ["2026Q5", "2026-4", "2026Q0", "26Q4", "", "1999Q1"])
async def test_a_bad_quarter_is_refused_naming_it(hub: Hub, quarter: str) -> None:
    response = await hub.post(op("Bulletin"), {"quarter": quarter}, token=hub.admin)
    error = response.json()["errors"][0]
    assert error["extensions"] == {"code": "VALIDATION", "field": "quarter"}
    assert "季度" in error["message"]
    download = await hub.http.get(
        f"/exports/bulletin/{quarter}.docx", headers={"Authorization": f"Bearer {hub.admin}"}
    )
    assert download.status_code == 422
    assert download.json()["errors"][0]["extensions"]["field"] == "quarter"


async def test_bulletin_only_for_supervision_and_the_command_centre(hub: Hub) -> None:
    quarter = quarter_now()
    for role, tenants in (("OPERATOR", ["laiji"]), ("VIEWER", []), ("MEMBER", ["laiji"])):
        token = hub.token(role, tenants)
        with pytest.raises(GraphQLError, match="FORBIDDEN"):
            await bulletin(hub, quarter, token=token)
        for suffix in ("docx", "xlsx"):
            refused = await hub.http.get(
                f"/exports/bulletin/{quarter}.{suffix}",
                headers={"Authorization": f"Bearer {token}"},
            )
            assert refused.status_code == 403, refused.text
            assert refused.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    anonymous = await hub.http.get(f"/exports/bulletin/{quarter}.docx")
    assert anonymous.status_code == 401
    other = await hub.http.get(
        f"/exports/bulletin/{quarter}.pdf", headers={"Authorization": f"Bearer {hub.admin}"}
    )
    assert other.status_code == 404
