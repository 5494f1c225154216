"""The response cache (hub/responses.py) over real HTTP: the queue's and the board's queries
against two `sanwang serve` processes on the same database, one without the cache and one with
it, requests alternating between them.

    python -m tests.perf.bench_response_cache \\
        --url postgresql+asyncpg://postgres@127.0.0.1:5432/sanwang_perf [--runs 200] \\
        [--ports 18200,18201]

Fill the database first with ``python -m tests.perf.generate`` (100k cases). Both processes use
the Redis broker (no jobs run in them). Per operation and caller:

- *repeat*: the same request again and again, nothing changing (the cached process answers
  from memory after the first: its head read and the stored bytes);
- *unique*: every request with different variables (a `createdBefore` a microsecond apart), so
  the cached process always misses: what the cache costs when it does not help.

Milliseconds at the client, p50/p95, and the server's CPU per request (from /proc). Then
CLIENTS concurrent clients on each server in turn, the queue and the board, while a case is
registered every second (so the cache is emptied every second): requests per second.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from hub.auth import issue_jwt
from hub.responses import CACHEABLE_DOCUMENTS, _printed
from tests.operations import op
from tests.perf.servers import Child, _wait_ready, hub_env

SECRET = "bench-response-cache-secret-not-for-production"
CALLERS = {
    "DISPATCHER": (["DISPATCHER"], []),
    "OPERATOR chaohua": (["OPERATOR"], ["chaohua"]),
}
Variables = Callable[[int], dict[str, Any]]


def start(workdir: Path, url: str, port: int, name: str, seconds: float) -> Child:
    env = hub_env(url, SECRET, SANWANG_RESPONSE_CACHE_SECONDS=str(seconds))
    log = workdir / f"{name}.log"
    args = [sys.executable, "-m", "hub.cli", "serve", "--port", str(port), "--hj212-port", "0"]
    with log.open("w") as out:
        proc = subprocess.Popen(args, env=env, cwd=workdir, stdout=out, stderr=subprocess.STDOUT)
    return _wait_ready(Child(name, proc, port, log), "/healthz")


def operations() -> list[tuple[str, str, Variables]]:
    board = _printed(CACHEABLE_DOCUMENTS)["SupervisionBoard"]
    base = datetime.now(UTC) + timedelta(days=1)

    def before(i: int) -> str:
        return (base - timedelta(microseconds=i + 1)).isoformat()

    return [
        ("Cases(first: 50)", op("Cases"), lambda i: {"first": 50}),
        (
            "Cases(first: 50) unique",
            op("Cases"),
            lambda i: {"first": 50, "filter": {"createdBefore": before(i)}},
        ),
        ("CaseStats(TENANT)", op("CaseStats"), lambda i: {"groupBy": "TENANT"}),
        (
            "CaseStats(TENANT) unique",
            op("CaseStats"),
            lambda i: {"groupBy": "TENANT", "to": before(i)},
        ),
        ("SupervisionBoard", board, lambda i: {}),
    ]


def p95(times: list[float]) -> float:
    ordered = sorted(times)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]


def measure(
    servers: list[Child], token: str, document: str, variables: Variables, runs: int
) -> list[tuple[list[float], float]]:
    """Each server's client times (ms) and CPU per request (ms), requests alternating."""
    headers = {"Authorization": f"Bearer {token}"}
    times: list[list[float]] = [[] for _ in servers]
    with httpx.Client(timeout=60, headers=headers) as http:
        for server in servers:  # warm: the connection, the directory, the first computation
            http.post(server.url + "/graphql", json={"query": document, "variables": variables(0)})
        cpu = [s.cpu_seconds() for s in servers]
        for i in range(runs):
            for n, server in enumerate(servers):
                body = {"query": document, "variables": variables(i + 1)}
                started = time.perf_counter()
                answer = http.post(server.url + "/graphql", json=body)
                times[n].append((time.perf_counter() - started) * 1000)
                assert answer.status_code == 200 and "errors" not in answer.json(), answer.text
        used = [s.cpu_seconds() - c for s, c in zip(servers, cpu, strict=True)]
    return [(t, u * 1000 / runs) for t, u in zip(times, used, strict=True)]


CLIENTS = 16
SECONDS = 20.0


async def busy(server: Child) -> None:
    """CLIENTS clients asking in a loop while a case is registered every second: requests per
    second, latency and the server's CPU per request, as the caches' hit rate allows."""
    board = _printed(CACHEABLE_DOCUMENTS)["SupervisionBoard"]
    dispatcher = {"Authorization": "Bearer " + issue_jwt(SECRET, "d", ["DISPATCHER"], [])}
    town = {"Authorization": "Bearer " + issue_jwt(SECRET, "o", ["OPERATOR"], ["chaohua"])}
    admin = {"Authorization": "Bearer " + issue_jwt(SECRET, "a", ["ADMIN"], [])}
    asks = [
        (op("Cases"), {"first": 50}, dispatcher),
        (board, {}, town),
        (op("CaseStats"), {"groupBy": "TENANT"}, town),
    ]
    times: list[float] = []
    stop = time.monotonic() + SECONDS
    async with httpx.AsyncClient(base_url=server.url, timeout=120) as http:

        async def client(n: int) -> None:
            while time.monotonic() < stop:
                query, variables, headers = asks[n % len(asks)]
                n += 1
                started = time.perf_counter()
                answer = await http.post(
                    "/graphql", json={"query": query, "variables": variables}, headers=headers
                )
                times.append((time.perf_counter() - started) * 1000)
                assert answer.status_code == 200 and "errors" not in answer.json(), answer.text

        async def intake() -> None:
            n = 0
            while time.monotonic() < stop:
                await asyncio.sleep(1.0)
                n += 1
                case = {
                    "channel": "HOTLINE", "title": f"压测登记 {n}", "category": "DUST",
                    "description": "响应缓存压测：每秒一件", "tenantCode": "chaohua",
                }  # fmt: skip
                answer = await http.post(
                    "/graphql",
                    json={"query": op("RegisterCase"), "variables": {"input": case}},
                    headers=admin,
                )
                assert "CaseResult" in answer.text, answer.text

        outcomes, cpu, began = await counted(http), server.cpu_seconds(), time.monotonic()
        await asyncio.gather(intake(), *(client(n) for n in range(CLIENTS)))
        used, took = server.cpu_seconds() - cpu, time.monotonic() - began
        after = await counted(http)
    print(
        f"cache {server.name:<3}: {len(times) / took:6.1f} req/s, p50"
        f" {statistics.median(times):6.1f} ms, p95 {p95(times):7.1f} ms,"
        f" CPU {used * 1000 / len(times):5.1f} ms per request, load {os.getloadavg()[0]:.1f}"
    )
    if after:
        print("  " + ", ".join(f"{k} {after[k] - outcomes.get(k, 0):.0f}" for k in sorted(after)))


async def counted(http: httpx.AsyncClient) -> dict[str, float]:
    """The cache's outcomes so far, summed over the operations (from /metrics)."""
    found: dict[str, float] = {}
    for line in (await http.get("/metrics")).text.splitlines():
        if line.startswith("sanwang_response_cache_total"):
            outcome = line.split('outcome="')[1].split('"')[0]
            found[outcome] = found.get(outcome, 0) + float(line.rsplit(" ", 1)[1])
    return found


def main(url: str, runs: int, ports: list[int]) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-response-cache-") as tmp:
        workdir = Path(tmp)
        servers = [
            start(workdir, url, ports[0], "off", 0),
            start(workdir, url, ports[1], "on", 5),
        ]
        try:
            print(f"load average before: {os.getloadavg()}")
            print(
                f"{'operation':<26} {'caller':<17} {'off p50/p95 ms':>15} {'on p50/p95 ms':>15}"
                f" {'CPU/req off':>12} {'on':>7}"
            )
            for name, document, variables in operations() if runs else []:
                for who, (roles, towns) in CALLERS.items():
                    token = issue_jwt(SECRET, "bench", roles, towns)
                    (off, cpu_off), (on, cpu_on) = measure(
                        servers, token, document, variables, runs
                    )
                    print(
                        f"{name:<26} {who:<17}"
                        f" {statistics.median(off):7.1f}/{p95(off):6.1f}"
                        f" {statistics.median(on):7.1f}/{p95(on):6.1f}"
                        f" {cpu_off:9.1f} ms {cpu_on:6.1f}"
                    )
            print(f"load average after the sequential part: {os.getloadavg()}")
            print(
                f"\n{CLIENTS} clients for {SECONDS:.0f} s, one server at a time: the queue "
                "(Cases(first: 50), DISPATCHER) and the board (SupervisionBoard, CaseStats(TENANT),"
                " OPERATOR chaohua), a case registered every second (registerCase, ADMIN)"
            )
            for server in servers:
                asyncio.run(busy(server))
            print(f"load average after: {os.getloadavg()}")
        finally:
            for server in servers:
                server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--runs", type=int, default=200, help="0: the concurrent part only")
    parser.add_argument("--ports", default="18200,18201")
    args = parser.parse_args()
    main(args.url, args.runs, [int(p) for p in args.ports.split(",")])
