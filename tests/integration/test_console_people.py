"""The offices' pages through the live app, on both databases: patrols by town and member,
the ledger (open, progress, close as the role allows, the workbook), the month's evaluation
(redirect to the current month, rules and formula, the workbook), a member's day and its spot
check; another town sees nothing; bad forms answer in Chinese and write nothing; CSRF."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from sqlalchemy import func, select

from hub.diaries.model import SpotCheck
from hub.ledgers.model import LedgerItem
from tests.conftest import Hub
from tests.console import account, client, csrf_of, post_form, sign_in
from tests.integration.test_console_phone import member_account


async def count(hub: Hub, model: object) -> int:
    scope = await hub.scope()
    async with hub.db.session(scope.tenant_ids) as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)  # type: ignore[arg-type]


async def a_patrol(hub: Hub) -> dict[str, str]:
    member = await member_account(hub)
    async with client(hub) as http:
        await sign_in(http, "m1")
        done = await post_form(http, "/console/m/", "/console/m/patrols", client_id="p1")
        assert done.status_code == 303
    return member


async def test_patrols_by_town_and_member(hub: Hub) -> None:
    member = await a_patrol(hub)
    await account(hub, "op1", "OPERATOR", ["laiji"])
    await account(hub, "op2", "OPERATOR", ["chaohua"])
    await account(hub, "hot", "HOTLINE")
    async with client(hub) as http:
        await sign_in(http, "op1")
        page = await http.get("/console/patrols")
        assert page.status_code == 200 and member["name"] in page.text and "巡查中" in page.text
        assert 'href="/console/patrols"' in page.text  # in the navigation
        mine = await http.get("/console/patrols", params={"member": member["id"]})
        assert member["name"] in mine.text
        bad = await http.get("/console/patrols", params={"from": "2026-13-01"})
        assert bad.status_code == 422 and "日期格式" in bad.text
        wide = await http.get("/console/patrols", params={"from": "2020-01-01"})
        assert wide.status_code == 422 and "366" in wide.text
    async with client(hub) as http:
        await sign_in(http, "op2")
        page = await http.get("/console/patrols")
        assert member["name"] not in page.text  # another town's patrols are not theirs
    async with client(hub) as http:
        await sign_in(http, "hot")
        assert (await http.get("/console/patrols")).status_code == 403


async def test_ledger_open_progress_close(hub: Hub) -> None:
    member = await member_account(hub)
    await account(hub, "op1", "OPERATOR", ["laiji"])
    await account(hub, "op2", "OPERATOR", ["chaohua"])
    await account(hub, "view", "VIEWER")
    async with client(hub) as http:
        await sign_in(http, "op1")
        page = await http.get("/console/ledger")
        assert page.status_code == 200 and 'id="form-open"' in page.text
        assert "/console/ledger.xlsx" in page.text and "/exports/ledger.xlsx" in page.text
        csrf = csrf_of(page.text)
        empty = await http.post(
            "/console/ledger",
            data={"csrf_token": csrf, "kind": "PROBLEM", "tenant_code": "laiji", "title": "",
                  "description": "d", "measures": "m", "deadline": "2099-01-01"},
        )  # fmt: skip
        assert empty.status_code == 422 and "不能为空" in empty.text
        no_date = await http.post(
            "/console/ledger",
            data={"csrf_token": csrf, "kind": "PROBLEM", "tenant_code": "laiji", "title": "t",
                  "description": "d", "measures": "m", "deadline": ""},
        )  # fmt: skip
        assert no_date.status_code == 422 and "整改期限" in no_date.text
        assert await count(hub, LedgerItem) == 0
        deadline = datetime.now(UTC).replace(year=datetime.now(UTC).year + 1).date().isoformat()
        done = await http.post(
            "/console/ledger",
            data={"csrf_token": csrf, "kind": "RECTIFICATION", "tenant_code": "laiji",
                  "title": "砖厂扬尘", "description": "料场未覆盖", "measures": "覆盖\n洒水",
                  "deadline": deadline, "responsible_member_id": member["id"]},
        )  # fmt: skip
        assert done.status_code == 303, done.text
        page = await http.get("/console/ledger")
        assert "砖厂扬尘" in page.text and "已建立台账" in page.text and member["name"] in page.text
        item = re.search(r'action="/console/ledger/([^"/]+)/progress"', page.text).group(1)  # type: ignore[union-attr]
        bad = await http.post(
            f"/console/ledger/{item}/progress",
            data={"csrf_token": csrf, "note": "x", "percent": "abc"},
        )
        assert bad.status_code == 422 and "完成进度" in bad.text
        ok = await http.post(
            f"/console/ledger/{item}/progress",
            data={"csrf_token": csrf, "note": "已覆盖一半", "percent": "50"},
        )
        assert ok.status_code == 303
        no_note = await http.post(f"/console/ledger/{item}/close", data={"csrf_token": csrf})
        assert no_note.status_code == 422 and "核查意见" in no_note.text
        closed = await http.post(
            f"/console/ledger/{item}/close",
            data={"csrf_token": csrf, "verification": "现场核查已整改"},
        )
        assert closed.status_code == 303
        page = await http.get("/console/ledger", params={"status": "CLOSED"})
        assert "已销号" in page.text and "现场核查已整改" in page.text
        book = await http.get("/console/ledger.xlsx")
        assert book.status_code == 200 and book.content[:2] == b"PK"
        forged = await http.post(f"/console/ledger/{item}/close", data={"csrf_token": "no"})
        assert forged.status_code == 403
    async with client(hub) as http:
        await sign_in(http, "op2")
        page = await http.get("/console/ledger")
        assert "砖厂扬尘" not in page.text
        other = await post_form(
            http, "/console/ledger", f"/console/ledger/{item}/progress", note="x", percent="60"
        )
        assert other.status_code == 404  # another town's item does not exist for them
    async with client(hub) as http:
        await sign_in(http, "view")
        page = await http.get("/console/ledger")
        assert "砖厂扬尘" in page.text and 'id="form-open"' not in page.text
        refused = await post_form(http, "/console/ledger", "/console/ledger", title="t")
        assert refused.status_code == 403


async def test_evaluation_month(hub: Hub) -> None:
    member = await member_account(hub)
    await account(hub, "sup", "SUPERVISOR")
    await account(hub, "op2", "OPERATOR", ["chaohua"])
    async with client(hub) as http:
        await sign_in(http, "sup")
        now = await http.get("/console/evaluation")
        assert now.status_code == 303
        assert re.fullmatch(r"/console/evaluation/\d{4}-\d{2}", now.headers["location"])
        page = await http.get(now.headers["location"])
        assert page.status_code == 200 and member["name"] in page.text
        assert "尚未发布" in page.text and "考核办法" in page.text and "计分公式" in page.text
        assert "/exports/evaluation/" in page.text
        month = now.headers["location"].rsplit("/", 1)[1]
        book = await http.get(f"/console/evaluation/{month}.xlsx")
        assert book.status_code == 200 and book.content[:2] == b"PK"
        bad = await http.get("/console/evaluation/2026-13")
        assert bad.status_code == 422 and "月份须在 01 到 12 之间" in bad.text
    async with client(hub) as http:
        await sign_in(http, "op2")
        page = await http.get("/console/evaluation/2026-11")
        assert member["name"] not in page.text
    async with client(hub) as http:
        await sign_in(http, "m1")
        page = await http.get("/console/evaluation/2026-11")
        assert page.status_code == 200 and member["name"] in page.text  # their own row
        assert (await http.get("/console/evaluation/2026-11.xlsx")).status_code == 403


async def test_a_members_day_and_its_spot_check(hub: Hub) -> None:
    member = await a_patrol(hub)
    await account(hub, "op1", "OPERATOR", ["laiji"])
    await account(hub, "op2", "OPERATOR", ["chaohua"])
    await account(hub, "disp", "DISPATCHER")
    today = datetime.now(UTC).astimezone(hub.app.state.runtime.tz).date().isoformat()
    url = f"/console/diaries/{member['id']}/{today}"
    async with client(hub) as http:
        await sign_in(http, "op1")
        pick = await http.get("/console/diaries", params={"member": member["id"], "day": today})
        assert pick.status_code == 303 and pick.headers["location"] == url
        page = await http.get(url)
        assert page.status_code == 200 and "出发日常巡查" in page.text
        assert 'id="form-spot-check"' in page.text
        none = await post_form(http, url, url + "/spot-check", note="")
        assert none.status_code == 422 and "请选择抽查结论" in none.text
        assert await count(hub, SpotCheck) == 0
        done = await post_form(http, url, url + "/spot-check", result="PASS", note="记录完整")
        assert done.status_code == 303
        page = await http.get(url)
        assert "合格" in page.text and "记录完整" in page.text
        twice = await http.post(
            url + "/spot-check", data={"csrf_token": csrf_of(page.text), "result": "FAIL"}
        )
        assert twice.status_code in (403, 409, 422)
        assert await count(hub, SpotCheck) == 1
    async with client(hub) as http:
        await sign_in(http, "op2")
        assert (await http.get(url)).status_code == 404
    async with client(hub) as http:
        await sign_in(http, "disp")
        page = await http.get(url)
        assert page.status_code in (200, 403)
        assert 'id="form-spot-check"' not in page.text
