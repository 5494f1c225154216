"""The `sanwang` command as a user runs it: real processes, a real port."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from connectors.hj212 import parse
from connectors.hj212.devices import data_packet
from hub.demo import world
from tests.processes import free_port
from tests.processes import run_sanwang as sanwang

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh working directory: the embedded default keeps sanwang.db and its key here."""
    for name in ("SANWANG_DATABASE_URL", "SANWANG_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def test_export_schema_equals_the_committed_sdl(home: Path) -> None:
    assert sanwang(home, "export-schema").stdout == (ROOT / "graphql/schema.graphql").read_text()


def test_token_create_prints_the_token_alone_on_the_last_line(home: Path) -> None:
    sanwang(home, "migrate")
    sanwang(home, "demo", "--no-month")
    done = sanwang(home, "token", "create", "--name", "指挥中心", "--role", "dispatcher")
    token = done.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"sw_[A-Za-z0-9_-]{40,}", token)
    refused = sanwang(home, "token", "create", "--name", "x", "--role", "member", check=False)
    assert refused.returncode == 1 and "--tenant" in refused.stderr
    unknown = sanwang(home, "token", "create", "--name", "x", "--role", "boss", check=False)
    assert unknown.returncode == 1 and "未知的角色" in unknown.stderr
    town = sanwang(
        home, "token", "create", "--name", "来集", "--role", "OPERATOR", "--tenant", "laiji"
    )
    assert town.stdout.strip().splitlines()[-1].startswith("sw_")


def test_serve_demo_answers_with_printed_tokens_and_stops_on_ctrl_c(home: Path) -> None:
    port, hj212_port = free_port(), free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hub.cli",
            "serve",
            "--demo",
            "--no-month",
            "--port",
            str(port),
            "--hj212-port",
            str(hj212_port),
        ],
        cwd=home,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            lines.append(line)
            if "GraphiQL" in line:
                break
        tokens = dict(re.findall(r"^\s+([A-Z]+)\s+(\S+\.\S+\.\S+)$", "".join(lines), re.M))
        assert {"ADMIN", "DISPATCHER", "OPERATOR", "MEMBER", "HOTLINE"} <= tokens.keys()
        _wait_healthy(base)
        headers = {"Authorization": f"Bearer {tokens['OPERATOR']}"}
        me = httpx.post(
            f"{base}/graphql", json={"query": "{ me { roles tenants { code } } }"}, headers=headers
        ).json()
        assert me["data"]["me"] == {"roles": ["OPERATOR"], "tenants": [{"code": "laiji"}]}
        assert httpx.get(f"{base}/readyz").json() == {"status": "ok"}
        assert "sanwang_http_requests" in httpx.get(f"{base}/metrics").text
        assert httpx.post(f"{base}/graphql", json={"query": "{ me { id } }"}).status_code == 401
        page = httpx.get(f"{base}/graphql", headers={"Accept": "text/html"})
        assert page.status_code == 200 and "graphiql" in page.text.lower()
        _demo_devices_report(base, tokens["MONITOR"])
        _a_device_is_answered(hj212_port)
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, "".join(lines) + out
    again = sanwang(home, "demo", "--no-month")
    assert "tenants +0" in again.stdout, "the demo world is seeded once"


def _demo_devices_report(base: str, token: str) -> None:
    """The demo devices send over the real TCP port: points come online with values."""
    query = {"query": "{ monitoringPoints { mn online latest { pollutant value } } }"}
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        points = httpx.post(
            f"{base}/graphql", json=query, headers={"Authorization": f"Bearer {token}"}
        ).json()["data"]["monitoringPoints"]
        if sum(1 for p in points if p["online"] and p["latest"]) >= len(points) // 2:
            return
        time.sleep(0.5)
    raise AssertionError(f"demo devices did not report: {points}")


def _a_device_is_answered(port: int) -> None:
    point = world.POINTS[0]
    packet = data_packet(point, {"a34013": 3.0}, datetime.now(UTC).replace(microsecond=0), 1)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(b"garbage" + packet)
        reply = conn.makefile("rb").readline()
    assert parse(reply).cn == "9014" and parse(reply).qn == parse(packet).qn


def _wait_healthy(base: str) -> None:
    for _ in range(100):
        try:
            if httpx.get(f"{base}/healthz").json() == {"status": "ok"}:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError("the hub did not come up")


def test_serve_demo_runs_the_hotline_simulator(home: Path) -> None:
    """A newcomer sees calls arrive, join cases, get resolved and called back."""
    port = free_port()
    # PYTHONPATH: this checkout's code, whatever the venv has installed.
    env = {**os.environ, "SANWANG_HOTLINE_DEMO_CALL_SECONDS": "0.5", "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "hub.cli", "serve", "--demo", "--no-month", "--port", str(port)],
        cwd=home,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    wanted = {
        "hotline simulator: a 12369 call every",
        "-> 201",
        "the town office resolved",
        "called back for",
    }
    try:
        deadline = time.monotonic() + 90
        while wanted and time.monotonic() < deadline:
            line = proc.stdout.readline()
            lines.append(line)
            wanted = {w for w in wanted if w not in line}
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    assert not wanted, "".join(lines) + out
    assert proc.returncode == 0, "".join(lines) + out
    said = "".join(lines)
    assert len(re.findall(r"hotline simulator: a 12369 call every", said)) == 1
    assert not re.search(r"(?<!\d)1[3-9]\d{9}(?!\d)", said), "a caller's number in the log"
