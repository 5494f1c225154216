"""Browser tests: Playwright driving Debian's Chromium (never `playwright install`: nothing is
downloaded), headless, against a real `sanwang serve`, with every request that leaves the hub
aborted and counted as a failure.

Chromium comes from the Debian package (`.ci/run` installs it); where none can be found these
tests are skipped with a message saying how to get it (SANWANG_CHROMIUM names another binary).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub.auth import issue_jwt
from tests.e2e.node import _wait_healthy
from tests.processes import ROOT, free_port

SECRET = "browser-test-secret-not-for-production"
PASSWORD = "browser test password"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]
# Accounts the tests sign in with: login -> (role, towns)
ACCOUNTS = {
    "b-dispatcher": ("dispatcher", [], "浏览器测试调度员"),
    "b-operator": ("operator", ["laiji"], "来集镇网格办（测试）"),
    "b-admin": ("admin", [], "浏览器测试管理员"),
}


def chromium_path() -> str | None:
    found = os.environ.get("SANWANG_CHROMIUM") or shutil.which("chromium")
    return found if found and Path(found).exists() else None


def pytest_collection_modifyitems(config: Any, items: list[pytest.Item]) -> None:
    if chromium_path() is not None:
        return
    skip = pytest.mark.skip(
        reason="browser tests need Chromium: `apt-get install -y chromium` (Debian; .ci/run does "
        "it) or set SANWANG_CHROMIUM to a Chromium binary"
    )
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(skip)


@dataclass
class LiveConsole:
    url: str
    env: dict[str, str]
    home: Path
    blocked: list[str] = field(default_factory=list)

    def token(self, role: str, tenants: list[str] | None = None) -> str:
        return issue_jwt(SECRET, f"browser-{role.lower()}", [role], tenants or [])

    def register(self, **fields: Any) -> dict[str, Any]:
        """A hotline case through the ingest route, as the 12369 call system sends it."""
        body = {
            "callId": f"12369-BROWSER-{fields.pop('n', 1)}",
            "receivedAt": "2026-12-04T09:30:00+08:00",
            "callerName": "李女士",
            "callerPhone": "13812345678",
            "description": "耐火材料厂夜间扬尘严重，附近居民无法开窗",
            "address": "来集镇李家村",
            "category": "DUST",
            **fields,
        }
        answer = httpx.post(
            f"{self.url}/ingest/hotline",
            json=body,
            headers={"Authorization": f"Bearer {self.token('HOTLINE')}"},
        )
        assert answer.status_code in (200, 201), answer.text
        return answer.json()


def _cli(env: dict[str, str], home: Path, *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "hub.cli", *args],
        cwd=home,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def live_console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveConsole]:
    """`sanwang serve` on a free port over a fresh SQLite file seeded with the demo world
    (without its simulators), with console accounts made by `sanwang user create`."""
    if chromium_path() is None:
        pytest.skip("no Chromium")
    home = tmp_path_factory.mktemp("console")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SANWANG_")}
    env.update(
        SANWANG_DATABASE_URL=f"sqlite+aiosqlite:///{home / 'hub.db'}",
        SANWANG_SECRET_KEY=SECRET,
        PYTHONPATH=str(ROOT),
    )
    _cli(env, home, "demo", "--no-month")
    for login, (role, towns, name) in ACCOUNTS.items():
        args = ["user", "create", "--name", login, "--role", role, "--display-name", name]
        for town in towns:
            args += ["--tenant", town]
        _cli(env, home, *args, stdin=PASSWORD + "\n")
    port = free_port()
    log = (home / "serve.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "hub.cli", "serve", "--port", str(port), "--hj212-port", "0"],
        cwd=home,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_healthy(url, proc, home / "serve.log")
        yield LiveConsole(url, env, home)
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        log.close()


@pytest.fixture(scope="module")
def browser(live_console: LiveConsole) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(
            executable_path=chromium_path(), headless=True, args=CHROMIUM_FLAGS
        )
        try:
            yield launched
        finally:
            launched.close()


class Offline:
    """A browser context that may talk to the hub only: any other request is aborted and
    recorded (the test fails on it), and so is any script error on a page."""

    def __init__(self, browser: Any, origin: str) -> None:
        self.origin = origin
        self.outside: list[str] = []
        self.errors: list[str] = []
        self.context = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai")
        self.context.route("**/*", self._route)

    def _route(self, route: Any) -> None:
        url = route.request.url
        if url.startswith(self.origin + "/") or url == self.origin or url.startswith("data:"):
            route.continue_()
        else:
            self.outside.append(url)
            route.abort()

    def page(self) -> Any:
        page = self.context.new_page()
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        return page

    def check(self) -> None:
        assert not self.outside, f"requests left the hub: {self.outside}"
        assert not self.errors, f"script errors: {self.errors}"

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def offline(browser: Any, live_console: LiveConsole) -> Iterator[Any]:
    made: list[Offline] = []

    def make() -> Offline:
        found = Offline(browser, live_console.url)
        made.append(found)
        return found

    yield make
    try:
        for each in made:
            each.check()
    finally:
        for each in made:
            each.close()


def sign_in(page: Any, url: str, login: str, password: str = PASSWORD) -> None:
    page.goto(f"{url}/console/login")
    page.fill("input[name=login]", login)
    page.fill("input[name=password]", password)
    page.locator("section.login > form button[type=submit]").click()
    page.wait_for_url(f"{url}/console/cases")
