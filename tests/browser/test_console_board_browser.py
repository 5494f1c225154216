"""The command centre's board and the monitoring pages in headless Chromium with every outside
host blocked: the board draws from the hub alone, a case registered through the API changes its
figures without a reload (through the caseEvents socket), and after a lost connection it
reconnects by itself and catches up. Prints the board's first paint and the live update's delay
after the commit (figures for the notes, not asserts)."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from connectors.hj212.devices import data_packet
from hub.demo import world
from tests.browser.conftest import LiveConsole, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]
SHOTS = os.environ.get("SANWANG_SCREENSHOTS")  # a directory: save the docs' screenshots there
CHINA = ZoneInfo("Asia/Shanghai")
STATION = next(p for p in world.POINTS if p.kind == "AIR_STATION" and p.tenant == "laiji")

READY = "window.sanwangBoard && window.sanwangBoard.renders > 0 && window.sanwangBoard.live"


def hotline(page: Any) -> int:
    return int(page.locator('#board-intake [data-channel="HOTLINE"] b').inner_text())


def now_local() -> str:
    return datetime.now(CHINA).isoformat(timespec="seconds")


def test_the_board_updates_live_and_catches_up_after_a_gap(
    live_console: LiveConsole, offline: Any
) -> None:
    url = live_console.url
    browser = offline()
    page = browser.page()
    sign_in(page, url, "b-dispatcher")
    page.set_viewport_size({"width": 1600, "height": 900})
    response = page.goto(f"{url}/console/board")
    assert response is not None and response.status == 200
    page.wait_for_function(READY, timeout=20_000)
    page.wait_for_selector("#board-map canvas")
    first_paint = page.evaluate("window.sanwangBoard.firstPaintMs")
    assert page.locator("#board-towns tbody tr").count() > 1
    assert page.locator("#board-live").inner_text() == "实时"

    # A case registered through the API shows without a reload.
    before, renders = hotline(page), page.evaluate("window.sanwangBoard.renders")
    live_console.register(n=101, receivedAt=now_local())
    committed = time.time() * 1000
    page.wait_for_function(
        f"Number(document.querySelector('#board-intake [data-channel=\"HOTLINE\"] b')"
        f".textContent) > {before}",
        timeout=10_000,
    )
    rendered = page.evaluate("window.sanwangBoard.lastRenderAt")
    delay = rendered - committed  # after the registration's HTTP answer
    since_event = rendered - page.evaluate("window.sanwangBoard.lastEventAt")
    assert hotline(page) == before + 1
    assert page.evaluate("window.sanwangBoard.events") >= 1
    assert page.evaluate("window.sanwangBoard.renders") > renders
    assert page.evaluate("performance.getEntriesByType('navigation')[0].type") == "navigate"

    # The socket drops and cannot come back for a while (no token): a case registered meanwhile
    # shows once it reconnects by itself, without a reload.
    page.route("**/console/board/socket-token", lambda route: route.abort())
    connects = page.evaluate("window.sanwangBoard.connects")
    page.evaluate("window.sanwangBoard.drop()")
    page.wait_for_function("!window.sanwangBoard.live")
    assert page.locator("#board-live").inner_text() != "实时"
    gap = hotline(page)
    caught = live_console.register(
        n=102,
        receivedAt=now_local(),
        callerName="张先生",
        callerPhone="13900001111",
        description="超化镇水泥厂夜间排放污水，河水发黑",
        address="超化镇黄固寺村",
        category="WATER",
    )
    assert caught.get("duplicateOf") is None, caught
    page.wait_for_timeout(500)
    assert hotline(page) == gap  # nothing arrives while the socket is down
    page.unroute("**/console/board/socket-token")
    page.wait_for_function(
        f"window.sanwangBoard.live && window.sanwangBoard.connects > {connects}", timeout=40_000
    )
    page.wait_for_function(
        f"Number(document.querySelector('#board-intake [data-channel=\"HOTLINE\"] b')"
        f".textContent) > {gap}",
        timeout=10_000,
    )
    print(
        f"\nboard first paint: {first_paint} ms; live update drawn {since_event:.0f} ms after "
        f"the case event's time (before its commit), {delay:.0f} ms after the HTTP answer"
    )
    if SHOTS:
        page.wait_for_timeout(300)
        page.screenshot(path=str(Path(SHOTS) / "console-board.png"))


def test_the_monitoring_pages_load_from_the_hub_alone(
    live_console: LiveConsole, offline: Any
) -> None:
    url = live_console.url
    day = datetime.now(CHINA).date() - timedelta(days=1)
    start = datetime(day.year, day.month, day.day, tzinfo=CHINA)
    values = [(40.0 + 30 * abs(12 - h) / 12, 80.0 + 20 * (h % 5)) for h in range(24)]
    body = b"".join(
        data_packet(STATION, {"a34004": a, "a34002": b}, start + timedelta(hours=h), h, cn="2061")
        for h, (a, b) in enumerate(values)
    )
    body += data_packet(STATION, {"a34004": 75.0}, datetime.now(UTC), 99)
    answer = httpx.post(
        f"{url}/ingest/hj212",
        content=body,
        headers={
            "Content-Type": "text/plain",
            "Authorization": f"Bearer {live_console.token('MONITOR')}",
        },
    )
    assert answer.status_code == 200, answer.text
    page = offline().page()
    sign_in(page, url, "b-admin")
    page.set_viewport_size({"width": 1366, "height": 900})
    for path, heading in (
        ("/console/monitoring", "在线监测"),
        ("/console/monitoring/air", "空气质量指数（AQI）"),
        ("/console/monitoring/cameras", "排口摄像头"),
        ("/console/monitoring/quarantine", "隔离的报文与事件"),
    ):
        response = page.goto(url + path)
        assert response is not None and response.status == 200, path
        page.wait_for_load_state("networkidle")
        assert page.locator("h1").first.inner_text() == heading
    page.goto(f"{url}/console/monitoring")
    page.click(f'tr[data-mn="{STATION.mn}"] td a')
    page.wait_for_url(lambda u: "/console/monitoring/points/" in u)
    page.locator("input[name=day]").fill(day.isoformat())
    page.locator("#chart-form button[type=submit]").click()
    page.wait_for_selector("#chart canvas")
    assert "小时数据 24 条" in page.content()
    if SHOTS:
        page.screenshot(path=str(Path(SHOTS) / "console-monitoring.png"))
