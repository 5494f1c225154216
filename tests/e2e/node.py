"""Node clients of the hub (tests/e2e/js): installed with `npm ci` from the committed lock file,
run against a live `sanwang serve`. Node and npm are required: CI has them, and a missing one
fails these tests rather than skipping them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from hub.auth import issue_jwt
from tests.processes import free_port

JS = Path(__file__).resolve().parent / "js"
ROOT = JS.parents[2]
SECRET = "e2e-node-clients-a-key-of-32-bytes-at-least"


def npm_ci() -> None:
    """node_modules from package-lock.json, unless it is already there and newer."""
    for tool in ("node", "npm"):
        assert shutil.which(tool), (
            f"{tool} is needed by the GraphQL client tests (apt install nodejs npm)"
        )
    modules, lock = JS / "node_modules", JS / "package-lock.json"
    if modules.is_dir() and modules.stat().st_mtime >= lock.stat().st_mtime:
        return
    done = subprocess.run(
        ["npm", "ci", "--no-audit", "--no-fund"],
        cwd=JS,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"npm ci failed:\n{done.stdout}\n{done.stderr}"


def node(script: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["node", script, *args], cwd=JS, capture_output=True, text=True, timeout=timeout
    )


@dataclass
class LiveHub:
    url: str  # http://127.0.0.1:PORT

    def token(self, role: str = "ADMIN", tenants: list[str] | None = None) -> str:
        return issue_jwt(SECRET, f"e2e-{role.lower()}", [role], tenants or [])


@pytest.fixture
def live_hub(tmp_path: Path) -> Iterator[LiveHub]:
    """`sanwang serve` on a free port over a fresh SQLite file (migrated and seeded by --demo's
    seed, without the demo's simulators)."""
    npm_ci()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SANWANG_")}
    env.update(
        SANWANG_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}",
        SANWANG_SECRET_KEY=SECRET,
        PYTHONPATH=str(ROOT),
    )
    seeded = subprocess.run(
        [sys.executable, "-m", "hub.cli", "demo", "--no-month"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert seeded.returncode == 0, seeded.stdout + seeded.stderr
    port = free_port()
    log = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "hub.cli", "serve", "--port", str(port), "--hj212-port", "0"],
        cwd=tmp_path,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_healthy(url, proc, tmp_path / "serve.log")
        yield LiveHub(url)
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        log.close()


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"sanwang serve exited:\n{log.read_text()}"
        try:
            if httpx.get(f"{url}/healthz").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"sanwang serve did not come up:\n{log.read_text()}")
