"""12369 intake under load: POST /ingest/hotline latency and sustained throughput on PostgreSQL
with a year of cases already stored.

    python -m tests.perf.generate \
        --url postgresql+asyncpg://postgres@127.0.0.1:5432/sanwang_perf_hotline --fresh
    python -m tests.perf.bench_hotline \
        --url postgresql+asyncpg://postgres@127.0.0.1:5432/sanwang_perf_hotline \
        [--runs 300] [--calls 2000] [--concurrency 16] [--processes 1] [--seed 7] [--json FILE]

Calls come from the simulator's templates (connectors.hotline.simulator.CallMaker): located by
town, by point, by an address naming a village or by an enterprise's everyday name, about the
demo world's plants; some are repeat calls and neighbours' calls, so the whole path is measured:
auth, parsing, the classifier, source matching, routing (grid index, gazetteer), the duplicate
search (source, repeat caller, nearby cases), the case number, the case, report, event, audit
entry and change-feed rows, in one transaction.

1. Latency: ``--runs`` calls one at a time through ``create_app`` and httpx's ASGITransport (no
   sockets), after 30 warm-up calls; p50/p95/p99 in ms. Budget: p95 <= 50 ms.
2. Throughput: ``--calls`` calls with ``--concurrency`` in flight, in ``--processes`` processes
   (each its own app and connection pool, as `uvicorn --workers N` would run); calls/s over the
   whole run, and the latency under load. Budget: >= 200 calls/s.
Each run's callers are new numbers (``--seed`` repeats a run's calls exactly, but then the
callers of an earlier run are still on their open cases and nearly every call joins one).
After the runs: the cases stored and the case-number counters (numbers are unique; a
rolled-back registration leaves a gap).

Prints figures; exit status 1 when a budget is missed (``--no-fail`` to ignore).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import platform
import random
import statistics
import sys
import time
from dataclasses import dataclass
from typing import Any

import httpx

from connectors.hotline.simulator import CallMaker
from hub.app import create_app
from hub.auth import issue_jwt
from hub.config import Settings
from hub.db import Database
from hub.runtime import Runtime

SECRET = "perf-secret-key-not-for-production"
BUDGET_P95_MS = 50.0
BUDGET_RATE = 200.0
WARMUP = 30


@dataclass
class Run:
    latencies_ms: list[float]
    statuses: dict[int, int]
    seconds: float
    merged: int
    cpu_seconds: float = 0.0  # this process' CPU time over the run (the app and the client)

    def pct(self, p: float) -> float:
        ordered = sorted(self.latencies_ms)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]

    @property
    def rate(self) -> float:
        return len(self.latencies_ms) / self.seconds if self.seconds else 0.0


def settings_for(url: str) -> Settings:
    return Settings(database_url=url, secret_key=SECRET, db_pool_size=20, _env_file=None)


def next_call(maker: CallMaker) -> dict[str, Any]:
    """A new call three times in four; else someone phoning about a recent one again."""
    if maker.made and maker.rnd.random() < 0.25:
        earlier = maker.rnd.choice(maker.made[-50:])
        return maker.again(earlier, same_caller=maker.rnd.random() < 0.5)
    return maker.call()


async def post(http: httpx.AsyncClient, token: str, body: dict[str, Any], run: Run) -> None:
    started = time.perf_counter()
    response = await http.post(
        "/ingest/hotline", json=body, headers={"Authorization": f"Bearer {token}"}
    )
    run.latencies_ms.append((time.perf_counter() - started) * 1000)
    run.statuses[response.status_code] = run.statuses.get(response.status_code, 0) + 1
    if response.status_code in (200, 201) and response.json()["duplicateOf"]:
        run.merged += 1


async def session(url: str, seed: int, calls: int, concurrency: int, warmup: int) -> Run:
    """One app (one process' worth): warm up, then ``calls`` calls, ``concurrency`` at a time."""
    settings = settings_for(url)
    db = Database(url, app_role=settings.app_role, pool_size=settings.db_pool_size)
    app = create_app(Runtime.start(settings, db))
    token = issue_jwt(SECRET, "perf-call-system", ["HOTLINE"], [], hours=2)
    maker = CallMaker(random.Random(seed), callers=400)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://hub", timeout=60) as h:
            scratch = Run([], {}, 0.0, 0)
            for _ in range(warmup):
                await post(h, token, next_call(maker), scratch)
            run = Run([], {}, 0.0, 0)
            bodies = [next_call(maker) for _ in range(calls)]
            queue: asyncio.Queue = asyncio.Queue()
            for body in bodies:
                queue.put_nowait(body)

            async def worker() -> None:
                while not queue.empty():
                    await post(h, token, queue.get_nowait(), run)

            started, cpu = time.perf_counter(), time.process_time()
            await asyncio.gather(*(worker() for _ in range(concurrency)))
            run.seconds = time.perf_counter() - started
            run.cpu_seconds = time.process_time() - cpu
            return run
    finally:
        await db.dispose()


def _process(args: tuple[str, int, int, int, int], out: Any) -> None:
    run = asyncio.run(session(*args))
    out.put((run.latencies_ms, run.statuses, run.seconds, run.merged))


def throughput(url: str, seed: int, calls: int, concurrency: int, processes: int) -> Run:
    """``processes`` apps at once, each posting its share; the rate over the longest."""
    if processes == 1:
        return asyncio.run(session(url, seed, calls, concurrency, WARMUP))
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    share = calls // processes
    procs = [
        ctx.Process(target=_process, args=((url, seed + i, share, concurrency, WARMUP), out))
        for i in range(processes)
    ]
    for p in procs:
        p.start()
    results = [out.get() for _ in procs]
    for p in procs:
        p.join()
    total = Run([], {}, max(r[2] for r in results), sum(r[3] for r in results))
    for latencies, statuses, _, _ in results:
        total.latencies_ms += latencies
        for status, n in statuses.items():
            total.statuses[status] = total.statuses.get(status, 0) + n
    return total


async def stored(url: str) -> tuple[int, str]:
    """Cases and the counter's current values (after the runs)."""
    import asyncpg

    from tests.perf.generate import asyncpg_dsn

    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        cases = await conn.fetchval("select count(*) from cases")
        counters = await conn.fetch("select scope, value from case_counters order by scope")
        return cases, ", ".join(f"{r['scope']}={r['value']}" for r in counters)
    finally:
        await conn.close()


def report(name: str, run: Run) -> dict[str, Any]:
    figures = {
        "calls": len(run.latencies_ms),
        "p50_ms": round(run.pct(50), 1),
        "p95_ms": round(run.pct(95), 1),
        "p99_ms": round(run.pct(99), 1),
        "mean_ms": round(statistics.fmean(run.latencies_ms), 1) if run.latencies_ms else None,
        "calls_per_s": round(run.rate, 1),
        "statuses": run.statuses,
        "joined_an_open_case": run.merged,
        "python_cpu_ms_per_call": round(run.cpu_seconds * 1000 / max(1, len(run.latencies_ms)), 1)
        if run.cpu_seconds
        else None,
    }
    print(
        f"{name:<28} {figures['calls']:>6} calls  p50 {figures['p50_ms']:>6.1f} ms  "
        f"p95 {figures['p95_ms']:>6.1f} ms  p99 {figures['p99_ms']:>6.1f} ms  "
        f"{figures['calls_per_s']:>7.1f} calls/s  statuses {run.statuses}  "
        f"joined {run.merged}"
        + (
            f"  python CPU {figures['python_cpu_ms_per_call']} ms/call"
            if figures["python_cpu_ms_per_call"]
            else ""
        ),
        flush=True,
    )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--runs", type=int, default=300, help="sequential calls (latency)")
    parser.add_argument("--calls", type=int, default=2000, help="calls of the throughput run")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--seed", type=int, default=random.randrange(1 << 30))
    parser.add_argument("--json", help="write the figures here")
    parser.add_argument("--no-fail", action="store_true")
    args = parser.parse_args()
    if not args.url.startswith("postgresql"):
        raise SystemExit("--url must be a PostgreSQL URL with the generated cases")
    print(
        f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} cores; "
        f"{asyncio.run(stored(args.url))[0]:,} cases stored; seed {args.seed}",
        flush=True,
    )
    figures: dict[str, Any] = {}
    sequential = asyncio.run(session(args.url, args.seed, args.runs, 1, WARMUP))
    figures["sequential"] = report("one call at a time", sequential)
    loaded = throughput(args.url, args.seed + 100, args.calls, args.concurrency, args.processes)
    figures["throughput"] = report(f"{args.concurrency} in flight x {args.processes} proc", loaded)
    cases, counters = asyncio.run(stored(args.url))
    print(f"after the runs: {cases:,} cases; counters {counters}")
    missed = []
    if figures["sequential"]["p95_ms"] > BUDGET_P95_MS:
        missed.append(f"p95 {figures['sequential']['p95_ms']} ms > {BUDGET_P95_MS} ms")
    if figures["throughput"]["calls_per_s"] < BUDGET_RATE:
        missed.append(f"{figures['throughput']['calls_per_s']} calls/s < {BUDGET_RATE}")
    bad = {s: n for s, n in loaded.statuses.items() if s not in (200, 201)}
    if bad:
        missed.append(f"failed calls: {bad}")
    print("budgets:", "met" if not missed else "MISSED: " + "; ".join(missed))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(figures, f, indent=2)
    if missed and not args.no_fail:
        sys.exit(1)


if __name__ == "__main__":
    main()
