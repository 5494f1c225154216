"""The grid member's phone view in headless Chromium at 360x740, every outside host blocked:
a member signs in, accepts a case dispatched to them, submits it with a photo, starts a patrol,
records a finding with a photo from the (file) camera, ends the patrol, writes the diary."""

from __future__ import annotations

import io
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from tests.browser.conftest import PASSWORD, LiveConsole, _cli, sign_in
from tests.operations import op

pytestmark = [pytest.mark.browser, pytest.mark.slow]
SHOTS = os.environ.get("SANWANG_SCREENSHOTS")
PHONE = {"width": 360, "height": 740}


def gql(live: LiveConsole, role: str, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    answer = httpx.post(
        f"{live.url}/graphql",
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {live.token(role)}"},
    )
    body = answer.json()
    assert not body.get("errors"), body
    return dict(body["data"])


def photo_file(tmp_path: Path) -> Path:
    path = tmp_path / "photo.jpg"
    out = io.BytesIO()
    Image.new("RGB", (64, 48), "seagreen").save(out, "JPEG")
    path.write_bytes(out.getvalue())
    return path


def test_a_member_works_a_case_and_a_patrol_on_the_phone(
    live_console: LiveConsole, offline: Any, tmp_path: Path
) -> None:
    live, url = live_console, live_console.url
    members = gql(live, "ADMIN", op("Members"), {"tenantCode": "laiji", "active": True})["members"]
    member = next(m for m in members if m["externalId"] and m["gridCell"])
    _cli(
        live.env, live.home, "user", "create", "--name", "b-member", "--role", "member",
        "--tenant", "laiji", "--member", member["externalId"], "--display-name", member["name"],
        stdin=PASSWORD + "\n",
    )  # fmt: skip
    number = live.register(n=31, description="来集镇河道有大量漂浮垃圾")["caseNumber"]
    found = gql(
        live,
        "ADMIN",
        "query($t: String){ cases(filter: {text: $t}){ edges { node { id } } } }",
        {"t": number},
    )
    case_id = found["cases"]["edges"][0]["node"]["id"]
    done = gql(
        live,
        "DISPATCHER",
        op("DispatchCase"),
        {
            "caseId": case_id,
            "input": {
                "tenantCode": "laiji",
                "gridCellId": member["gridCell"]["id"],
                "assigneeId": member["id"],
            },
        },
    )
    assert done["dispatchCase"]["__typename"] == "CaseResult", done
    photo = photo_file(tmp_path)

    browser = offline()
    browser.context.set_default_timeout(15_000)
    page = browser.page()
    page.set_viewport_size(PHONE)
    sign_in(page, url, "b-member")
    page.goto(f"{url}/console/m/")
    assert member["name"] in page.locator("p.who").inner_text()
    page.click(f"text={number}")
    page.wait_for_url(f"{url}/console/m/cases/{number}")
    page.click("#form-accept button[type=submit]")
    page.wait_for_selector("p.flash")
    assert page.locator("p.flash").inner_text() == "已签收"
    page.fill("#form-submit textarea[name=result]", "已组织打捞，河面已清理")
    page.set_input_files("#form-submit input[type=file]", str(photo))
    page.wait_for_function("document.querySelector('#form-submit [data-photos]').textContent")
    page.click("#form-submit button[type=submit]")
    page.wait_for_selector("p.flash:has-text('已提交审核')")
    assert page.locator("p.flash").inner_text() == "已提交审核"
    assert "待审核" in page.content()

    page.goto(f"{url}/console/m/")
    page.click("#form-start button[type=submit]")
    page.wait_for_selector("#form-finding")
    assert page.locator("p.flash").inner_text() == "已出发巡查"
    page.fill("#form-finding input[name=title]", "桥下堆放建筑垃圾")
    page.select_option("#form-finding select[name=category]", "SOLID_WASTE")
    page.fill("#form-finding textarea[name=description]", "约五立方米，未覆盖")
    page.set_input_files("#form-finding input[type=file]", str(photo))
    page.wait_for_function("document.querySelector('#form-finding [data-photos]').textContent")
    assert "已上传 1 张照片" in page.locator("#form-finding [data-photos]").inner_text()
    if SHOTS:
        page.screenshot(path=str(Path(SHOTS) / "console-phone.png"), full_page=True)
    page.click("#form-finding button[type=submit]")
    page.wait_for_selector("p.flash:has-text('案件编号')")
    assert "案件编号" in page.locator("p.flash").inner_text()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page is {width} px wide on a 360 px screen"
    page.fill("#form-end textarea[name=summary]", "巡查河道两公里")
    page.click("#form-end button[type=submit]")
    page.wait_for_selector("#form-start")
    assert page.locator("p.flash").inner_text() == "巡查已结束"

    page.click("a[href='/console/m/diary']")
    page.wait_for_url(f"{url}/console/m/diary")
    entries = page.locator("ol.timeline").inner_text()
    assert "桥下堆放建筑垃圾" in entries and "签收" in entries
    page.fill("#form-diary textarea", "上午打捞河道垃圾，下午巡查发现建筑垃圾一处。")
    page.click("#form-diary button[type=submit]")
    page.wait_for_selector("p.flash")
    assert page.locator("p.flash").inner_text() == "今日日记已保存"


def test_a_resend_after_a_lost_signal_is_not_doubled(
    live_console: LiveConsole, offline: Any
) -> None:
    """The first try of the start form is lost (the network drops it): the script resends the
    same body, tells the person in Chinese, and one patrol is started."""
    url = live_console.url
    browser = offline()
    page = browser.page()
    page.set_viewport_size(PHONE)
    sign_in(page, url, "b-member")
    page.goto(f"{url}/console/m/")
    if page.locator("#form-end").count():  # a patrol left open by the test before
        page.fill("#form-end textarea[name=summary]", "结束")
        page.click("#form-end button[type=submit]")
        page.wait_for_selector("#form-start")
    dropped: list[str] = []

    def drop_first(route: Any) -> None:
        if not dropped:
            dropped.append(route.request.post_data or "")
            route.abort("internetdisconnected")
        else:
            route.continue_()

    page.route("**/console/m/patrols", drop_first)
    page.click("#form-start button[type=submit]")
    page.wait_for_selector("#form-finding")
    assert dropped and page.locator("p.flash").inner_text() == "已出发巡查"
    now = datetime.now(UTC)
    patrols = gql(
        live_console,
        "ADMIN",
        'query($f: DateTime!, $t: DateTime!){ patrols(tenantCode: "laiji", from: $f, to: $t)'
        "{ id status } }",
        {"f": (now - timedelta(days=1)).isoformat(), "t": (now + timedelta(days=1)).isoformat()},
    )
    assert sum(1 for p in patrols["patrols"] if p["status"] == "OPEN") == 1
