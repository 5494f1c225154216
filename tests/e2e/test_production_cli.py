"""Every `sanwang` command as an operator runs it in production, each a real process on a fresh,
empty database (PostgreSQL when SANWANG_TEST_DATABASE_URL is set, SQLite always), in the order
the README gives: migrate, demo, token create, serve, worker and scheduler on a real broker,
platform reconcile against a platform on loopback, audit verify, export-schema.

`user create` is not there: the hub has no such command yet.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import Backend
from tests.processes import ROOT, Proc, free_port, processes, run_sanwang, sanwang

PLATFORM_TOKEN = "e2e-platform"
ASSIGNED = 2  # assignments waiting on the platform before reconcile runs


@pytest.fixture
def empty_url(backend: Backend, tmp_path: Path) -> Iterator[str]:
    url = backend.empty_url(tmp_path)
    yield url
    backend.drop(url)


def production_env(db_url: str, namespace: str, platform_url: str) -> dict[str, str]:
    """What an operator's environment holds: no embedded defaults, a real broker of this test
    alone (a Redis database number and a namespace), the platform's address."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SANWANG_")}
    env.update(
        PYTHONPATH=str(ROOT),
        SANWANG_DATABASE_URL=db_url,
        SANWANG_SECRET_KEY="e2e-production",
        SANWANG_BROKER_URL="redis://127.0.0.1:6379/0",
        SANWANG_BROKER_NAMESPACE=namespace,
        SANWANG_RELAY_INTERVAL_SECONDS="0.2",
        SANWANG_PLATFORM_URL=platform_url,
        SANWANG_PLATFORM_TOKEN=PLATFORM_TOKEN,
    )
    return env


def wait_until(
    check: Callable[[], bool], what: str, procs: list[Proc], timeout: float = 60
) -> None:
    """Poll `check` until it is true; fail early when a child has died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except httpx.TransportError:
            pass
        dead = [p for p in procs if p.popen.poll() is not None]
        assert not dead, f"{dead[0].log.name} exited {dead[0].popen.returncode}: {what}"
        time.sleep(0.2)
    raise AssertionError(f"timed out: {what}")


def platform_simulator(port: int, env: dict[str, str], cwd: Path) -> Proc:
    args = [sys.executable, "-m", "connectors.platform.simulator", "--port", str(port)]
    args += ["--assign", str(ASSIGNED), "--token", PLATFORM_TOKEN]
    return Proc(args, env, cwd, "platform-simulator")


def sim_statuses(url: str) -> dict[str, list[str]]:
    state = httpx.get(f"{url}/_sim/state", timeout=5).json()
    return {case: [r["status"] for r in got] for case, got in state["cases"].items()}


@pytest.mark.slow  # a dozen Python processes, each importing the hub: about half a minute
async def test_every_command_in_production_order_on_a_fresh_database(
    empty_url: str, tmp_path: Path, namespace: str
) -> None:
    sim_port, http_port = free_port(), free_port()
    platform_url = f"http://127.0.0.1:{sim_port}"
    env = production_env(empty_url, namespace, platform_url)

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run_sanwang(tmp_path, *args, env=env, check=check)

    # Nothing is applied for the operator: a command needing the schema says so first.
    before = run("token", "create", "--name", "early", "--role", "ADMIN", check=False)
    if not empty_url.startswith("sqlite"):  # SQLite migrates on its own, as serve does
        assert before.returncode == 1 and "sanwang migrate" in before.stderr, before.stderr

    assert re.search(r"database at revision \w+", run("migrate").stdout)
    assert "demo world seeded: tenants +" in run("demo", "--no-month").stdout
    made = run("token", "create", "--name", "指挥中心", "--role", "ADMIN").stdout
    token = made.strip().splitlines()[-1]
    assert re.fullmatch(r"sw_[A-Za-z0-9_-]{40,}", token), made

    async with processes() as procs:
        procs.append(platform_simulator(sim_port, env, tmp_path))
        procs.append(serve := sanwang(f"serve --port {http_port} --hj212-port 0", env, tmp_path))
        base = f"http://127.0.0.1:{http_port}"
        wait_until(lambda: httpx.get(f"{platform_url}/_sim/state").is_success, "platform", procs)
        wait_until(lambda: httpx.get(f"{base}/readyz").json() == {"status": "ok"}, "readyz", procs)
        me = httpx.post(
            f"{base}/graphql",
            json={"query": "{ me { roles tenants { code } } }"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert me.status_code == 200, me.text
        assert me.json()["data"]["me"]["roles"] == ["ADMIN"]
        assert len(me.json()["data"]["me"]["tenants"]) > 1, "city-wide: every town"

        # Reconcile registers the platform's assignments; their first statuses wait in the
        # outbox until the worker and the scheduler deliver them.
        repaired = run("platform", "reconcile")
        assert repaired.stdout.count("repaired:") == ASSIGNED, repaired.stdout + repaired.stderr
        assert all(not s for s in sim_statuses(platform_url).values())

        procs.append(worker := sanwang("worker", env, tmp_path))
        procs.append(scheduler := sanwang("scheduler", env, tmp_path))
        wait_until(lambda: all(sim_statuses(platform_url).values()), "statuses delivered", procs)
        assert "worker running" in worker.output()
        assert "scheduler running" in scheduler.output()
        for proc in (worker, scheduler):
            assert await proc.stop() == 0, proc.output()
        # Ctrl-C, as the README's operator does (on SIGTERM uvicorn shuts down as cleanly, then
        # re-raises the signal: exit -15, which systemd counts as a clean stop).
        assert await serve.stop(sig=signal.SIGINT) == 0, serve.output()
        assert "Application shutdown complete" in serve.output()
        assert "Traceback" not in serve.output() + worker.output() + scheduler.output()

    verified = run("audit", "verify").stdout
    assert "intact" in verified and "BROKEN" not in verified
    assert run("export-schema").stdout == (ROOT / "graphql/schema.graphql").read_text()
