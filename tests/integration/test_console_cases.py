"""Console case pages through the live app, on both databases: the queue and its filters, the
case page per role (actions offered, phones masked as the API masks them), actions through the
same services as GraphQL, another town's case is 404, bad forms answer in Chinese with nothing
written, the dispatch notice, GraphiQL served offline."""

from __future__ import annotations

import re
import uuid
from typing import Any

from sqlalchemy import func, select

from hub.cases.model import Event
from tests.conftest import Hub, register
from tests.console import account, client, csrf_of, post_form, sign_in
from tests.integration.test_people_work import laiji_people

PHONE = "13812345678"


async def hotline_case(hub: Hub, **fields: Any) -> dict[str, Any]:
    payload = {"reporterName": "李女士", "reporterPhone": PHONE, **fields}
    return (await register(hub, **payload))["case"]


async def events(hub: Hub, case_id: str, action: str) -> int:
    scope = await hub.scope()
    async with hub.db.session(scope.tenant_ids) as session:
        found = await session.scalar(
            select(func.count()).where(Event.case_id == uuid.UUID(case_id), Event.action == action)
        )
    return int(found or 0)


async def test_dispatcher_dispatches_and_the_town_accepts(hub: Hub) -> None:
    case = await hotline_case(hub)
    number = case["number"]
    people = await laiji_people(hub)
    member = next(iter(people.values()))
    await account(hub, "d1", "DISPATCHER", display_name="王调度")
    await account(hub, "op1", "OPERATOR", ["laiji"], display_name="来集网格办小刘")
    async with client(hub) as http:
        await sign_in(http, "d1")
        page = await http.get(f"/console/cases/{number}")
        assert page.status_code == 200
        assert "已登记" in page.text and 'id="form-dispatch"' in page.text
        assert PHONE in page.text  # a dispatcher reads the full number (the API's rule)
        options = await http.get(
            f"/console/cases/{number}/dispatch-options", params={"tenant_code": "laiji"}
        )
        assert member["id"] in options.text and member["gridCell"]["id"] in options.text
        done = await http.post(
            f"/console/cases/{number}/actions/dispatch",
            data={
                "csrf_token": csrf_of(page.text),
                "tenant_code": "laiji",
                "grid_cell_id": member["gridCell"]["id"],
                "assignee_id": member["id"],
                "note": "请速查",
            },
        )
        assert done.status_code == 303, done.text
        after = await http.get(done.headers["location"])
        assert "已转办" in after.text and "王调度" in after.text and "请速查" in after.text
        notice = await http.get(f"/console/cases/{number}/notice")
        assert "转办通知单" in notice.text and member["name"] in notice.text
        assert "print.css" in notice.text
    async with client(hub) as http:
        await sign_in(http, "op1")
        page = await http.get(f"/console/cases/{number}")
        assert PHONE not in page.text and "138****5678" in page.text  # masked for a town
        assert 'id="form-accept"' in page.text and 'id="form-dispatch"' in page.text
        done = await post_form(
            http, f"/console/cases/{number}", f"/console/cases/{number}/actions/accept"
        )
        assert done.status_code == 303
        after = await http.get(f"/console/cases/{number}")
        assert "办理中" in after.text and "来集网格办小刘" in after.text


async def test_another_towns_case_is_404(hub: Hub) -> None:
    case = await hotline_case(hub, tenantCode="laiji")
    await account(hub, "op.chaohua", "OPERATOR", ["chaohua"])
    async with client(hub) as http:
        await sign_in(http, "op.chaohua")
        for url in (f"/console/cases/{case['number']}", f"/console/cases/{case['number']}/notice"):
            page = await http.get(url)
            assert page.status_code == 404 and "页面不存在" in page.text
            assert case["number"] not in page.text
        queue = await http.get("/console/cases")
        assert case["number"] not in queue.text
        token = csrf_of(queue.text)
        posted = await http.post(
            f"/console/cases/{case['number']}/actions/urge",
            data={"csrf_token": token, "note": "x"},
        )
        assert posted.status_code == 404
    assert await events(hub, case["id"], "URGE") == 0


async def test_bad_forms_answer_in_chinese_and_write_nothing(hub: Hub) -> None:
    case = await hotline_case(hub)
    number = case["number"]
    await account(hub, "sup", "SUPERVISOR")
    await account(hub, "disp", "DISPATCHER")
    async with client(hub) as http:
        await sign_in(http, "sup")
        url = f"/console/cases/{number}"
        too_long = await post_form(http, url, f"{url}/actions/urge", note="催" * 4001)
        assert too_long.status_code == 422
        assert "说明不能超过 4000 个字符" in too_long.text
        empty = await post_form(http, url, f"{url}/actions/urge", note="  ")
        assert empty.status_code == 422 and "说明不能为空" in empty.text
    assert await events(hub, case["id"], "URGE") == 0
    async with client(hub) as http:
        await sign_in(http, "disp")
        url = f"/console/cases/{number}"
        no_town = await post_form(http, url, f"{url}/actions/dispatch", tenant_code="")
        assert no_town.status_code == 422 and "乡镇不能为空" in no_town.text
        bad_time = await post_form(
            http, url, f"{url}/actions/dispatch", tenant_code="laiji", due_at="明天"
        )
        assert bad_time.status_code == 422 and "办理期限格式不正确" in bad_time.text
        past = await post_form(
            http, url, f"{url}/actions/dispatch", tenant_code="laiji", due_at="2020-01-01T08:00"
        )
        assert past.status_code == 422 and "办理期限须晚于当前时间" in past.text
        wrong_step = await post_form(http, url, f"{url}/actions/accept")
        assert wrong_step.status_code == 409 and "案件状态为登记，不能签收" in wrong_step.text
        unknown = await post_form(http, url, f"{url}/actions/launch")
        assert unknown.status_code == 404
    assert await events(hub, case["id"], "DISPATCH") == 0


async def test_roles_see_the_actions_they_may_take(hub: Hub) -> None:
    case = await hotline_case(hub)
    number = case["number"]
    await account(hub, "v", "VIEWER")
    await account(hub, "s", "SUPERVISOR")
    async with client(hub) as http:
        await sign_in(http, "v")
        page = await http.get(f"/console/cases/{number}")
        assert page.status_code == 200 and "没有可办理的操作" in page.text
        assert not re.search(r'id="form-', page.text)
        refused = await post_form(
            http, f"/console/cases/{number}", f"/console/cases/{number}/actions/urge", note="快"
        )
        assert refused.status_code == 403 and "您的角色无权督办案件" in refused.text
    async with client(hub) as http:
        await sign_in(http, "s")
        page = await http.get(f"/console/cases/{number}")
        assert 'id="form-urge"' in page.text and 'id="form-dispatch"' not in page.text
        done = await post_form(
            http, f"/console/cases/{number}", f"/console/cases/{number}/actions/urge", note="快办"
        )
        assert done.status_code == 303
    assert await events(hub, case["id"], "URGE") == 1


async def test_the_queue_filters_and_pages(hub: Hub) -> None:
    laiji = await hotline_case(hub, tenantCode="laiji", title="来集夜间扬尘")
    chaohua = await hotline_case(hub, tenantCode="chaohua", title="超化异味", category="AIR")
    await account(hub, "d", "DISPATCHER")
    async with client(hub) as http:
        await sign_in(http, "d")
        town = await http.get("/console/cases", params={"town": "laiji"})
        assert laiji["number"] in town.text and chaohua["number"] not in town.text
        cat = await http.get("/console/cases", params={"category": "AIR"})
        assert chaohua["number"] in cat.text and laiji["number"] not in cat.text
        text = await http.get("/console/cases", params={"text": "超化"})
        assert chaohua["number"] in text.text and laiji["number"] not in text.text
        status = await http.get("/console/cases", params={"status": "CLOSED"})
        assert laiji["number"] not in status.text
        bad = await http.get("/console/cases", params={"status": "NOPE"})
        assert bad.status_code == 422 and "无效" in bad.text
        long = await http.get("/console/cases", params={"text": "长" * 201})
        assert long.status_code == 422 and "检索词不能超过 200 个字符" in long.text
        unknown = await http.get("/console/cases", params={"town": "atlantis"})
        assert unknown.status_code == 422 and "没有编码为" in unknown.text
        hx = await http.get("/console/cases", params={"town": "laiji"}, headers={"HX-Request": "1"})
        assert 'id="queue"' in hx.text


async def test_a_town_account_sees_only_its_town_in_the_queue(hub: Hub) -> None:
    laiji = await hotline_case(hub, tenantCode="laiji")
    chaohua = await hotline_case(hub, tenantCode="chaohua")
    await account(hub, "op", "OPERATOR", ["laiji"])
    async with client(hub) as http:
        await sign_in(http, "op")
        queue = await http.get("/console/cases")
        assert laiji["number"] in queue.text and chaohua["number"] not in queue.text


async def test_graphiql_and_the_console_name_no_other_host(hub: Hub) -> None:
    page = await hub.http.get("/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200 and "graphiql.min.js" in page.text
    assert not re.search(r"(src|href)=\"(https?:)?//", page.text)
    assert "unpkg" not in page.text and "cdn" not in page.text.lower()
    for asset in re.findall(r"(?:src|href)=\"(/console/static/[^\"]+)\"", page.text):
        got = await hub.http.get(asset)
        assert got.status_code == 200, asset
    login = await hub.http.get("/console/login")
    assert not re.search(r"(src|href)=\"(https?:)?//", login.text)
    # And the browser is told so: whatever a vendored script names, only this host is loaded.
    for answer in (page, login):
        policy = answer.headers["content-security-policy"]
        assert policy.startswith("default-src 'self' ") and "connect-src 'self'" in policy
        assert "http" not in policy and "*" not in policy
    api = await hub.http.get("/healthz")
    assert "content-security-policy" not in api.headers  # JSON needs none
    for asset in ("vendor/htmx/htmx.min.js", "vendor/echarts/echarts.min.js", "console.css"):
        assert (await hub.http.get(f"/console/static/{asset}")).status_code == 200


async def test_the_queue_pages_by_cursor(hub: Hub, monkeypatch: Any) -> None:
    import hub.console.cases as pages

    monkeypatch.setattr(pages, "PAGE_SIZE", 2)
    made = [
        (await hotline_case(hub, title=f"第{i}件", description=f"第{i}件事", category=c))["number"]
        for i, c in enumerate(("DUST", "WATER", "NOISE"))
    ]
    assert len(set(made)) == 3
    await account(hub, "pager", "ADMIN")
    async with client(hub) as http:
        await sign_in(http, "pager")
        first = await http.get("/console/cases")
        assert made[2] in first.text and made[1] in first.text and made[0] not in first.text
        link = re.search(r'href="(/console/cases\?after=[^"]+)">下一页', first.text)
        assert link, first.text
        second = await http.get(link.group(1).replace("&amp;", "&"))
        assert made[0] in second.text and made[2] not in second.text
        assert "回到第一页" in second.text
        forged = await http.get("/console/cases", params={"after": "not-a-cursor"})
        assert forged.status_code == 422 and "游标无效" in forged.text
