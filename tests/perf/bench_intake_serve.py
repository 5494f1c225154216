"""Intake over a real socket: POST /ingest/hotline or /ingest/platform against `sanwang serve`
(uvicorn, one process) on PostgreSQL with the generated cases, from a client in this process
with N calls in flight on keep-alive connections.

    python -m tests.perf.bench_intake_serve \
        --url postgresql+asyncpg://postgres@127.0.0.1:5432/sanwang_perf_hotline \
        [--path hotline|platform] [--calls 1000] [--concurrency 8] [--sequential 200] \
        [--servers 1] [--port 18700]

The server runs with a Redis broker (``--broker``; jobs and outbox deliveries are not run in
it, as in production where workers are separate processes), the demo world's settings, and
its own secret. Figures: calls/s over the run, p50/p95/p99, the server's CPU per call (from
/proc: the most stable figure on a shared machine) and the load average before the run.
Bodies are built before the run (the hotline simulator's calls, a quarter repeat or
neighbours' calls; the platform simulator's assignments with run-unique ids). ``--servers N``
starts N `serve` processes on ports of their own (as behind a proxy) and spreads the calls in
flight over them; the server CPU is then the sum of theirs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from connectors.hotline.simulator import CallMaker
from connectors.platform.simulator import Simulator
from hub.auth import issue_jwt
from tests.perf.bench_hotline import BUDGET_P95_MS, BUDGET_RATE, SECRET, Run, next_call, report
from tests.processes import free_port


def start(
    url: str, broker: str, workers: int, port: int | None = None
) -> tuple[subprocess.Popen[bytes], int]:
    port = port or free_port()
    env = {
        **os.environ,
        "SANWANG_DATABASE_URL": url,
        "SANWANG_SECRET_KEY": SECRET,
        "SANWANG_BROKER_URL": broker,
        "SANWANG_BROKER_NAMESPACE": f"bench-intake-{uuid.uuid4().hex[:8]}",
        "SANWANG_LOG_LEVEL": "WARNING",
        "SANWANG_DB_POOL_SIZE": "20",
    }
    args = [sys.executable, "-m", "hub.cli", "serve", "--port", str(port), "--hj212-port", "0"]
    proc = subprocess.Popen(
        args, env=env, cwd=Path.cwd(), stdout=subprocess.DEVNULL, stderr=sys.stderr
    )
    for _ in range(600):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                return proc, port
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("the hub did not start")


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def backend_cpu(url: str) -> dict[int, float]:
    """CPU seconds of each PostgreSQL backend connected to this database (the server runs on
    this machine; nobody else uses the benchmark's database)."""
    import asyncpg

    from tests.perf.generate import asyncpg_dsn

    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        pids = await conn.fetch(
            "select pid from pg_stat_activity"
            " where datname = current_database() and pid <> pg_backend_pid()"
        )
    finally:
        await conn.close()
    found = {}
    for row in pids:
        with contextlib.suppress(OSError):  # gone meanwhile
            found[row["pid"]] = cpu_seconds(row["pid"])
    return found


def servers_cpu(procs: list[subprocess.Popen[bytes]]) -> float:
    return sum(cpu_seconds(p.pid) for p in procs)


def db_cpu_between(before: dict[int, float], after: dict[int, float]) -> float:
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())


def bodies(path: str, n: int, seed: int) -> list[dict[str, Any]]:
    if path == "hotline":
        maker = CallMaker(random.Random(seed), callers=400)
        return [next_call(maker) for _ in range(n)]
    sim, run = Simulator(seed=seed), uuid.uuid4().hex[:6].upper()
    return [sim.new_assignment(platformCaseId=f"ZZ-BENCH-{run}-{i:06d}") for i in range(n)]


async def load(ports: list[int], path: str, token: str, todo: list[dict[str, Any]], n: int) -> Run:
    run = Run([], {}, 0.0, 0)
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    for body in todo:
        queue.put_nowait(body)
    limits = httpx.Limits(max_connections=n, max_keepalive_connections=n)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(timeout=60, limits=limits) as http:

        async def worker(port: int) -> None:
            url = f"http://127.0.0.1:{port}/ingest/{path}"
            while not queue.empty():
                body = queue.get_nowait()
                started = time.perf_counter()
                response = await http.post(url, json=body, headers=headers)
                run.latencies_ms.append((time.perf_counter() - started) * 1000)
                status = response.status_code
                run.statuses[status] = run.statuses.get(status, 0) + 1
                if status in (200, 201) and response.json().get("duplicateOf"):
                    run.merged += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker(ports[i % len(ports)]) for i in range(n)))
        run.seconds = time.perf_counter() - started
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--path", choices=("hotline", "platform"), default="hotline")
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--sequential", type=int, default=200)
    parser.add_argument("--servers", type=int, default=1, help="serve processes")
    parser.add_argument("--broker", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--seed", type=int, default=random.randrange(1 << 30))
    parser.add_argument("--port", type=int, help="the first server's port (else any free one)")
    args = parser.parse_args()
    role = "HOTLINE" if args.path == "hotline" else "PLATFORM"
    token = issue_jwt(SECRET, f"perf-{args.path}", [role], [], hours=2)
    servers = [
        start(args.url, args.broker, 1, args.port + i if args.port else None)
        for i in range(args.servers)
    ]
    procs, ports = [p for p, _ in servers], [port for _, port in servers]
    try:
        for port in ports:
            asyncio.run(load([port], args.path, token, bodies(args.path, 30, args.seed + port), 1))
        print(f"load average before: {os.getloadavg()[0]:.1f}; seed {args.seed}", flush=True)
        for name, count, n, seed in (
            ("one call at a time", args.sequential, 1, args.seed + 1),
            (f"{args.concurrency} in flight", args.calls, args.concurrency, args.seed + 2),
        ):
            if not count:
                continue
            todo = bodies(args.path, count, seed)
            cpu, db_before = servers_cpu(procs), asyncio.run(backend_cpu(args.url))
            run = asyncio.run(load(ports, args.path, token, todo, n))
            run.cpu_seconds = servers_cpu(procs) - cpu
            db_ms = db_cpu_between(db_before, asyncio.run(backend_cpu(args.url))) * 1000 / count
            figures = report(f"{args.path}: {name}", run)
            total = (figures["python_cpu_ms_per_call"] or 0) + db_ms
            print(
                f"   server CPU {figures['python_cpu_ms_per_call']} ms/call, PostgreSQL backends"
                f" {db_ms:.1f} ms/call: {2000 / total:.0f} calls/s on 2 idle cores at most;"
                f" load average now {os.getloadavg()[0]:.1f}",
                flush=True,
            )
            if n > 1:
                missed = figures["calls_per_s"] < BUDGET_RATE or figures["p95_ms"] > BUDGET_P95_MS
                print("budgets (>= 200 calls/s, p95 <= 50 ms):", "MISSED" if missed else "met")
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(10)


if __name__ == "__main__":
    main()
