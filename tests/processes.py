"""Child processes for end-to-end tests: `sanwang` commands, private redis-servers, their logs."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.sinks import Sink

MACHINE_REDIS = "redis://127.0.0.1:6379/0"
ROOT = Path(__file__).resolve().parents[1]


class Proc:
    """A `sanwang worker` / `sanwang scheduler` / redis-server child, its output in a file."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path, name: str) -> None:
        self.log = cwd / f"{name}-{uuid.uuid4().hex[:6]}.log"
        with self.log.open("w") as out:
            self.popen = subprocess.Popen(
                args, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL: no chance to finish or hand anything back."""
        self.popen.kill()
        self.popen.wait(10)

    async def stop(self, timeout: float = 30, sig: signal.Signals = signal.SIGTERM) -> int:
        """SIGTERM (or `sig`) and wait (off the loop: the sink must keep answering); 0 is a
        clean stop."""
        if self.popen.poll() is None:
            self.popen.send_signal(sig)
            try:
                await asyncio.to_thread(self.popen.wait, timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                raise AssertionError(f"did not stop on {sig.name}:\n{self.output()}") from None
        return self.popen.returncode


def sanwang(command: str, env: dict[str, str], cwd: Path) -> Proc:
    """`sanwang COMMAND [ARGS]`, e.g. "worker" or "serve --port 8001"."""
    args = command.split()
    # PYTHONPATH: this checkout's code, whatever the venv has installed.
    env = {**env, "PYTHONPATH": str(ROOT)}
    return Proc([sys.executable, "-m", "hub.cli", *args], env, cwd, args[0])


def run_sanwang(
    cwd: Path, *args: str, env: dict[str, str] | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """`sanwang ARGS` to its end, its output captured; `check`: fail the test unless exit 0.
    `env` is laid over this process's environment."""
    done = subprocess.run(
        [sys.executable, "-m", "hub.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=180,
        # PYTHONPATH: this checkout's code, whatever the venv has installed.
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
    )
    if check and done.returncode != 0:
        raise AssertionError(f"sanwang {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done


def redis_server(port: int, cwd: Path) -> Proc:
    args = ["redis-server", "--port", str(port), "--bind", "127.0.0.1"]
    args += ["--save", "", "--appendonly", "no", "--daemonize", "no"]
    proc = Proc(args, dict(os.environ), cwd, f"redis-{port}")
    client = redis.Redis(port=port)
    for _ in range(100):
        with contextlib.suppress(redis.ConnectionError):
            if client.ping():
                return proc
        if proc.popen.poll() is not None:
            break
        time.sleep(0.05)
    raise AssertionError(f"redis-server did not start:\n{proc.output()}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def job_env(
    db_url: str, broker_url: str, namespace: str, sink: Sink, **more: Any
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SANWANG_")}
    env.update(
        SANWANG_DATABASE_URL=db_url,
        SANWANG_BROKER_URL=broker_url,
        SANWANG_BROKER_NAMESPACE=namespace,
        SANWANG_NOTIFY_URL=sink.url,
        SANWANG_SECRET_KEY="e2e-outbox",
        SANWANG_RELAY_INTERVAL_SECONDS="0.2",
        SANWANG_OUTBOX_BACKOFF_SECONDS="0.1",
        SANWANG_OUTBOX_BACKOFF_MAX_SECONDS="0.5",
    )
    env.update({f"SANWANG_{k.upper()}": str(v) for k, v in more.items()})
    return env


@pytest.fixture
def namespace() -> Iterator[str]:
    """A Redis namespace of this test alone; its keys are removed afterwards."""
    name = f"sanwang-test-{uuid.uuid4().hex[:10]}"
    yield name
    client = redis.Redis.from_url(MACHINE_REDIS)
    keys = list(client.scan_iter(f"{name}*"))
    if keys:
        client.delete(*keys)


@contextlib.asynccontextmanager
async def processes() -> AsyncIterator[list[Proc]]:
    """Children started in the block are stopped at its end (their logs shown on failure)."""
    started: list[Proc] = []
    try:
        yield started
    except BaseException:
        for p in started:
            print(f"--- {p.log.name}\n{p.output()}")
        raise
    finally:
        for p in started:
            if p.popen.poll() is None:
                p.popen.kill()
                p.popen.wait(10)
