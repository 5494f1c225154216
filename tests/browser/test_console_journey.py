"""Issue 15's journey in headless Chromium, every outside host blocked: a hotline call comes in;
the command centre's dispatcher signs in and dispatches it to a laiji grid member; the member
accepts it on the phone view and submits the result with a photo; a supervisor approves it; the
caller looks the case up on /lookup with its number and query code, and reads its status in
words, never a name or a phone."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.browser.conftest import PASSWORD, LiveConsole, _cli, sign_in
from tests.browser.test_console_phone_browser import PHONE, gql
from tests.operations import op

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _photo(tmp_path: Path) -> Path:
    path = tmp_path / "site.jpg"
    out = io.BytesIO()
    Image.new("RGB", (80, 60), "slategray").save(out, "JPEG")
    path.write_bytes(out.getvalue())
    return path


def test_a_hotline_case_from_the_call_to_the_callers_lookup(
    live_console: LiveConsole, offline: Any, tmp_path: Path
) -> None:
    live, url = live_console, live_console.url
    members = gql(live, "ADMIN", op("Members"), {"tenantCode": "laiji", "active": True})["members"]
    member = [m for m in members if m["externalId"] and m["gridCell"]][-1]
    _cli(
        live.env, live.home, "user", "create", "--name", "j-member", "--role", "member",
        "--tenant", "laiji", "--member", member["externalId"], "--display-name", member["name"],
        stdin=PASSWORD + "\n",
    )  # fmt: skip
    _cli(
        live.env, live.home, "user", "create", "--name", "j-supervisor", "--role", "supervisor",
        "--display-name", "督查科（旅程测试）", stdin=PASSWORD + "\n",
    )  # fmt: skip
    call = live.register(n=41, description="来集镇王庄村石料厂粉尘大，晚上也在生产")
    number, code = call["caseNumber"], call["queryCode"]
    assert code and len(code) == 6

    # 1. The dispatcher dispatches it to the member's cell and the member.
    dispatcher = offline().page()
    sign_in(dispatcher, url, "b-dispatcher")
    dispatcher.goto(f"{url}/console/cases/{number}")
    form = dispatcher.locator("#form-dispatch")
    with dispatcher.expect_response(lambda r: "dispatch-options" in r.url):
        form.locator("select[name=tenant_code]").select_option("laiji")
    dispatcher.wait_for_function("document.querySelectorAll('#dispatch-member option').length > 1")
    labels = form.locator("#dispatch-member option").all_inner_texts()
    pick = next(i for i, text in enumerate(labels) if text.startswith(member["name"]))
    form.locator("#dispatch-member").select_option(index=pick)
    form.locator("button[type=submit]").click()
    dispatcher.wait_for_selector("p.flash")
    assert dispatcher.locator("#case-status").inner_text() == "已转办"

    # 2. The member accepts it on the phone and submits the result with a photo.
    phone = offline().page()
    phone.set_viewport_size(PHONE)
    sign_in(phone, url, "j-member")
    phone.goto(f"{url}/console/m/")
    phone.click(f"text={number}")
    phone.wait_for_url(f"{url}/console/m/cases/{number}")
    phone.click("#form-accept button[type=submit]")
    phone.wait_for_selector("p.flash")
    phone.fill("#form-submit textarea[name=result]", "已责令石料厂停产，洒水降尘，夜间不再生产")
    phone.set_input_files("#form-submit input[type=file]", str(_photo(tmp_path)))
    phone.wait_for_function("document.querySelector('#form-submit [data-photos]').textContent")
    phone.click("#form-submit button[type=submit]")
    phone.wait_for_selector("p.flash:has-text('已提交审核')")

    # 3. The supervisor approves it.
    supervisor = offline().page()
    sign_in(supervisor, url, "j-supervisor")
    supervisor.goto(f"{url}/console/cases/{number}")
    assert supervisor.locator("#case-status").inner_text() == "待审核"
    supervisor.locator("#form-review textarea[name=note]").fill("现场照片清楚，同意办结")
    supervisor.locator("#form-review button[type=submit]").click()
    supervisor.wait_for_selector("p.flash")
    assert supervisor.locator("#case-status").inner_text() == "已办结"
    timeline = supervisor.locator("ol.timeline").inner_text()
    assert member["name"] in timeline and "督查科（旅程测试）" in timeline

    # 4. The caller looks it up with the number and the code the operator read out.
    caller = offline().page()
    caller.goto(f"{url}/lookup")
    caller.fill("#number", number)
    caller.fill("#code", code)
    caller.click("button[type=submit]")
    caller.wait_for_selector("p.status")
    assert caller.locator("p.status").inner_text() == "已办结"
    page = caller.content()
    for secret in ("李女士", "13812345678", member["name"], "督查科", "同意办结"):
        assert secret not in page, f"the public page shows {secret!r}"
    caller.fill("#number", number)
    caller.fill("#code", "AAAAAA" if code != "AAAAAA" else "BBBBBB")
    caller.click("button[type=submit]")
    caller.wait_for_load_state()
    assert caller.locator("p.status").count() == 0, "a wrong code shows no case"
