"""`sanwang platform reconcile` and `python -m connectors.platform.simulator` as a user runs
them: real processes, the simulator on a real loopback port."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.processes import free_port

ROOT = Path(__file__).resolve().parents[2]


def env(db_url: str, **platform: str) -> dict[str, str]:
    found = {k: v for k, v in os.environ.items() if not k.startswith("SANWANG_")}
    found["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), found.get("PYTHONPATH")]))
    found["SANWANG_DATABASE_URL"] = db_url
    found.update({f"SANWANG_PLATFORM_{k.upper()}": v for k, v in platform.items()})
    return found


def run(args: list[str], environ: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=environ, capture_output=True, text=True, timeout=120
    )


def reconcile(db_url: str, cwd: Path, *more: str, **platform: str):
    return run(["-m", "hub.cli", "platform", "reconcile", *more], env(db_url, **platform), cwd)


def test_reconcile_without_a_platform_url_says_so(db_url: str, tmp_path: Path) -> None:
    done = reconcile(db_url, tmp_path)
    assert done.returncode == 2 and "SANWANG_PLATFORM_URL" in done.stderr


def test_reconcile_with_an_unreachable_platform_fails_clearly(db_url: str, tmp_path: Path):
    url = f"http://127.0.0.1:{free_port()}"
    done = reconcile(db_url, tmp_path, url=url, connect_timeout_seconds="0.5")
    assert done.returncode == 1 and "cannot be reached" in done.stderr, done.stderr


def test_reconcile_rejects_unknown_options(db_url: str, tmp_path: Path) -> None:
    done = reconcile(db_url, tmp_path, "--repair-everything")
    assert done.returncode == 2 and "--repair-everything" in done.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--port", "70000"], "--port"), (["--assign", "-1"], "--assign"), (["--port", "x"], "port")],
)
def test_the_simulator_refuses_bad_arguments(tmp_path: Path, args: list[str], message: str):
    done = run(["-m", "connectors.platform.simulator", *args], env("sqlite://"), tmp_path)
    assert done.returncode == 2 and message in done.stderr


def test_reconcile_against_a_simulator_process_repairs_then_finds_nothing(
    db_url: str, tmp_path: Path
) -> None:
    port = free_port()
    args = [
        sys.executable,
        "-m",
        "connectors.platform.simulator",
        "--port",
        str(port),
        "--assign",
        "3",
        "--token",
        "tok",
    ]
    with (tmp_path / "sim.log").open("w") as log:
        sim = subprocess.Popen(args, cwd=tmp_path, env=env(db_url), stdout=log, stderr=log)
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                httpx.get(f"{url}/_sim/state", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        assert "platform simulator at" in (tmp_path / "sim.log").read_text()
        dry = reconcile(db_url, tmp_path, "--dry-run", url=url, token="tok")
        assert dry.returncode == 0, dry.stderr
        assert dry.stdout.count("differs:") == 3 and "would take" in dry.stdout

        done = reconcile(db_url, tmp_path, url=url, token="tok")
        assert done.returncode == 0, done.stderr
        assert done.stdout.count("repaired:") == 3 and "registered XM-" in done.stdout
        # The new cases' first statuses wait in the outbox (no worker runs here).
        again = reconcile(db_url, tmp_path, url=url, token="tok")
        assert again.stdout.count("in flight:") == 3 and "repaired:" not in again.stdout
        denied = reconcile(db_url, tmp_path, url=url, token="wrong")
        assert denied.returncode == 1 and "401" in denied.stderr
    finally:
        sim.terminate()
        sim.wait(10)


def test_serve_demo_shows_assignments_arriving_and_statuses_going_back(tmp_path: Path) -> None:
    port = free_port()
    environ = {k: v for k, v in env("").items() if k != "SANWANG_DATABASE_URL"}
    environ["SANWANG_PLATFORM_DEMO_ASSIGNMENT_SECONDS"] = "1"
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
            "0",
        ],
        cwd=tmp_path,
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    try:
        url = None
        deadline = time.monotonic() + 90
        while url is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            lines.append(line)
            if line.startswith("platform simulator at "):
                url = line.split()[3].rstrip(":")
        assert url, "".join(lines)
        statuses: dict[str, list] = {}
        while time.monotonic() < deadline:
            state = httpx.get(f"{url}/_sim/state", timeout=5).json()
            statuses = {k: [r["status"] for r in v] for k, v in state["cases"].items()}
            if any("DISPATCHED" in s for s in statuses.values()):
                break
            time.sleep(0.5)
        assert any(s[:2] == ["RECEIVED", "DISPATCHED"] for s in statuses.values()), statuses
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, "".join(lines) + out
