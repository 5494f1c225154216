"""Outfall video under load: POST /ingest/video with 50 kB JPEG snapshots on PostgreSQL.

    createdb -h 127.0.0.1 -U postgres sanwang_perf_video
    python -m tests.perf.bench_video \
        --url postgresql+asyncpg://postgres@127.0.0.1:5432/sanwang_perf_video \
        [--events 3000] [--concurrency 32] [--processes 2] [--cameras 60] [--size 50000]
        [--socket [--servers 1] [--clients 2]]

Setup (idempotent): migrations, the demo world, ``--cameras`` cameras at its enterprises, and
200 distinct drawn JPEGs of about ``--size`` bytes (Pillow) so that storage is measured, then
deduplicated by hash across the run. Every event carries a base64 snapshot; the mix is what a
county's recorders send: 40 % night motion and 25 % OTHER (recorded on the camera), 20 % black
smoke (the first opens a case per camera, the rest add to it), 15 % low-confidence discharge
(recorded). The whole path is measured: auth, parsing, base64 and the JPEG check, the seen
check, the attachment row and blob (once per sha256), the event row, the camera, the case, the
links with their audit entries, in one transaction.

1. Latency: 200 events one at a time after 30 warm-up ones: p50/p95/p99 ms.
2. Throughput: ``--events`` with ``--concurrency`` in flight in ``--processes`` processes
   (each its own app and pool, as ``uvicorn --workers N`` would run): events/s and p95 under
   load. Budget (issue 17): 500 events/s, p95 < 100 ms.
3. ``--socket``: over loopback TCP instead, as recorders post: ``--servers`` uvicorn processes
   (the app as ``sanwang serve`` runs it) and ``--clients`` client processes with
   ``--concurrency`` in flight each; the mix is what recorders send most (30 % heartbeats
   without a snapshot, 25 % night motion, 15 % OTHER, 10 % low-confidence discharge, 20 % black
   smoke, nearly all repeats into the open case; 5 % redeliveries answered 200; 80 % of the
   snapshots one of 10 identical pictures). Besides events/s and p50/p95/p99 it prints the CPU
   per event of the hub's processes and of the database's backends (from /proc: on a shared,
   noisy machine the stable figure) and the load average.
After: events, attachments and blobs stored (blobs <= distinct pictures).

Prints figures only (no asserts, no exit status from budgets).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import multiprocessing
import os
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from connectors.video.simulator import draw_snapshot
from hub.app import create_app
from hub.auth import issue_jwt
from hub.config import Settings
from hub.db import Database
from hub.runtime import Runtime

SECRET = "perf-secret-key-not-for-production"
PICTURES = 200
MIX = (("MOTION_AT_NIGHT", 0.9, 40), ("OTHER", None, 25), ("BLACK_SMOKE", 0.9, 20),
       ("DISCHARGE", 0.3, 15))  # fmt: skip


def settings_for(url: str, folder: str) -> Settings:
    return Settings(
        database_url=url, secret_key=SECRET, db_pool_size=20, attachments_dir=Path(folder),
        _env_file=None,
    )  # fmt: skip


async def setup(url: str, cameras: int, folder: str) -> list[str]:
    from sqlalchemy import select

    from connectors.video.simulator import register_demo_cameras
    from hub.auth import system_scope
    from hub.cameras.model import Camera
    from hub.demo.seed import seed_demo
    from hub.migrations import upgrade_async

    await upgrade_async(url)
    db = Database(url)
    try:
        await seed_demo(db)
        await register_demo_cameras(db, limit=cameras)
        scope = await system_scope(db)
        async with db.session(scope.tenant_ids) as session:
            return list(await session.scalars(select(Camera.camera_id)))
    finally:
        await db.dispose()


def pictures(size: int) -> list[str]:
    at = datetime(2026, 12, 4, tzinfo=UTC)
    found = []
    for n in range(PICTURES):
        data = draw_snapshot(f"CAM-{n}", "BLACK_SMOKE", at + timedelta(seconds=n), size=size)
        found.append(base64.b64encode(data).decode())
    return found


def bodies(seed: int, count: int, cameras: list[str], pics: list[str]) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    kinds = [k for k, _, w in MIX for _ in range(w)]
    confidence = {k: c for k, c, _ in MIX}
    now = datetime.now(UTC)
    made = []
    for n in range(count):
        kind = rng.choice(kinds)
        body: dict[str, Any] = {
            "eventId": f"PERF-{seed}-{n}-{rng.getrandbits(32):08x}",
            "cameraId": rng.choice(cameras),
            "at": (now - timedelta(seconds=count - n)).isoformat(),
            "kind": kind,
            "text": "压力测试",
            "snapshot": rng.choice(pics),
        }
        if confidence[kind] is not None:
            body["confidence"] = confidence[kind]
        made.append(body)
    return made


async def session(
    url: str, folder: str, seed: int, count: int, concurrency: int, cameras: list[str],
    pics: list[str], warmup: int,
) -> tuple[list[float], dict[int, int], float]:  # fmt: skip
    settings = settings_for(url, folder)
    db = Database(url, app_role=settings.app_role, pool_size=settings.db_pool_size)
    app = create_app(Runtime.start(settings, db))
    token = issue_jwt(SECRET, f"perf-recorder-{seed}", ["MONITOR"], [], hours=2)
    headers = {"Authorization": f"Bearer {token}"}
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub", timeout=60) as h:
            for body in bodies(seed + 1000, warmup, cameras, pics):
                await h.post("/ingest/video", json=body, headers=headers)
            queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
            for body in bodies(seed, count, cameras, pics):
                queue.put_nowait(body)

            async def worker() -> None:
                while not queue.empty():
                    body = queue.get_nowait()
                    started = time.perf_counter()
                    answer = await h.post("/ingest/video", json=body, headers=headers)
                    latencies.append((time.perf_counter() - started) * 1000)
                    statuses[answer.status_code] = statuses.get(answer.status_code, 0) + 1

            started = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(concurrency)))
            return latencies, statuses, time.perf_counter() - started
    finally:
        await db.dispose()


def _process(args: tuple[Any, ...], out: Any) -> None:
    out.put(asyncio.run(session(*args)))


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] if ordered else 0.0


def show(name: str, latencies: list[float], statuses: dict[int, int], seconds: float) -> None:
    rate = len(latencies) / seconds if seconds else 0.0
    print(
        f"{name}: {len(latencies)} events in {seconds:.1f} s = {rate:.0f}/s; "
        f"p50 {pct(latencies, 50):.1f} ms, p95 {pct(latencies, 95):.1f} ms, "
        f"p99 {pct(latencies, 99):.1f} ms; statuses {dict(sorted(statuses.items()))}"
    )


async def stored(url: str, folder: str) -> str:
    import asyncpg

    from tests.perf.generate import asyncpg_dsn

    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        events = await conn.fetchval("select count(*) from camera_events")
        rows = await conn.fetchval("select count(*) from attachments")
        hashes = await conn.fetchval("select count(distinct sha256) from attachments")
        cases = await conn.fetchval("select count(*) from camera_episodes")
    finally:
        await conn.close()
    blobs = sum(1 for p in Path(folder).rglob("*") if p.is_file())
    return (
        f"stored: {events} camera events, {cases} alarm episodes, {rows} attachment rows "
        f"({hashes} distinct sha256), {blobs} blobs on disk (<= {PICTURES} pictures)"
    )


# --- over a real socket ---------------------------------------------------------------------


def socket_bodies(
    seed: int, count: int, cameras: list[str], pics: list[str], now: datetime
) -> list[dict[str, Any]]:
    """What recorders send most: heartbeats (no snapshot) and events recorded on the camera,
    repeats of alarms already open, redeliveries; few new alarms. Snapshots: most are one of a
    handful of identical pictures (a still scene), some distinct."""
    rng = random.Random(seed)
    mix = [k for k, w in SOCKET_MIX for _ in range(w)]
    made: list[dict[str, Any]] = []
    for n in range(count):
        if made and rng.random() < 0.05:  # a redelivery: 200 with the first answer
            made.append(dict(rng.choice(made)))
            continue
        kind = rng.choice(mix)
        body: dict[str, Any] = {
            "eventId": f"SOCK-{seed}-{n}-{rng.getrandbits(32):08x}",
            "cameraId": rng.choice(cameras),
            "at": (now - timedelta(seconds=count - n)).isoformat(),
            "kind": kind,
        }
        if kind != "HEARTBEAT":
            body["text"] = "压力测试"
            body["snapshot"] = pics[rng.randrange(10)] if rng.random() < 0.8 else rng.choice(pics)
        if kind in ("MOTION_AT_NIGHT", "BLACK_SMOKE"):
            body["confidence"] = 0.9
        elif kind == "DISCHARGE":
            body["confidence"] = 0.3  # below the minimum: recorded
        made.append(body)
    return made


SOCKET_MIX = (("HEARTBEAT", 30), ("MOTION_AT_NIGHT", 25), ("OTHER", 15), ("BLACK_SMOKE", 20),
              ("DISCHARGE", 10))  # fmt: skip


def _serve(url: str, folder: str, port: int) -> None:
    import logging

    import uvicorn

    logging.getLogger("connectors.video").setLevel(logging.WARNING)
    settings = settings_for(url, folder)
    db = Database(url, app_role=settings.app_role, pool_size=settings.db_pool_size)
    # Several servers on one host: the HJ 212 listener is not needed here (its port is one).
    app = create_app(Runtime.start(settings, db, overrides={"hj212": {"port": 0}}))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def _client(
    ports: list[int], seed: int, bodies_: list[dict[str, Any]], concurrency: int, out: Any
) -> None:
    async def run() -> tuple[list[float], dict[int, int], float]:
        token = issue_jwt(SECRET, f"perf-recorder-{seed}", ["MONITOR"], [], hours=2)
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        import json

        payloads = [json.dumps(b).encode() for b in bodies_]
        latencies: list[float] = []
        statuses: dict[int, int] = {}
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        clients = [
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{p}", timeout=120, limits=limits)
            for p in ports
        ]
        queue: asyncio.Queue[tuple[int, bytes]] = asyncio.Queue()
        for n, data in enumerate(payloads):
            queue.put_nowait((n, data))

        async def worker() -> None:
            while not queue.empty():
                n, data = queue.get_nowait()
                client = clients[n % len(clients)]
                started = time.perf_counter()
                answer = await client.post("/ingest/video", content=data, headers=headers)
                latencies.append((time.perf_counter() - started) * 1000)
                statuses[answer.status_code] = statuses.get(answer.status_code, 0) + 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        took = time.perf_counter() - started
        for c in clients:
            await c.aclose()
        return latencies, statuses, took

    out.put(asyncio.run(run()))


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of these processes so far (Linux /proc)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


async def backends(url: str) -> list[int]:
    import asyncpg

    from tests.perf.generate import asyncpg_dsn

    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        rows = await conn.fetch(
            "select pid from pg_stat_activity where datname = current_database() "
            "and pid <> pg_backend_pid()"
        )
    finally:
        await conn.close()
    return [r["pid"] for r in rows]


def over_socket(args: argparse.Namespace, folder: str, cameras: list[str], pics: list[str]) -> None:
    import socket

    ctx = multiprocessing.get_context("spawn")
    ports = []
    for _ in range(args.servers):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            ports.append(s.getsockname()[1])
    servers = [ctx.Process(target=_serve, args=(args.url, folder, p)) for p in ports]
    for s in servers:
        s.start()
    try:
        for server, p in zip(servers, ports, strict=True):
            deadline = time.monotonic() + 300  # starting takes a while on a busy machine
            while True:
                try:
                    httpx.get(f"http://127.0.0.1:{p}/healthz", timeout=2)
                    break
                except httpx.HTTPError:
                    if not server.is_alive() or time.monotonic() > deadline:
                        raise SystemExit(f"the server on port {p} did not start") from None
                    time.sleep(0.2)
        now = datetime.now(UTC)
        warm = socket_bodies(args.seed + 500, 100, cameras, pics, now)
        out = ctx.Queue()
        _client(ports, args.seed + 500, warm, 4, out)
        out.get()
        share = args.events // args.clients
        loads = [
            socket_bodies(args.seed + i, share, cameras, pics, now) for i in range(args.clients)
        ]
        server_pids = [s.pid for s in servers if s.pid is not None]
        pg_before = asyncio.run(backends(args.url))
        cpu0 = cpu_seconds(server_pids)
        pg0 = cpu_seconds(pg_before)
        load0 = os.getloadavg()[0]
        clients = [
            ctx.Process(
                target=_client, args=(ports, args.seed + i, loads[i], args.concurrency, out)
            )
            for i in range(args.clients)
        ]
        for c in clients:
            c.start()
        results = [out.get() for _ in clients]
        for c in clients:
            c.join()
        pg_after = asyncio.run(backends(args.url))
        cpu = cpu_seconds(server_pids) - cpu0
        pg = cpu_seconds(pg_after) - pg0 + cpu_seconds([p for p in pg_after if p not in pg_before])
        load1 = os.getloadavg()[0]
    finally:
        for s in servers:
            s.terminate()
            s.join()
    latencies = [x for r in results for x in r[0]]
    statuses: dict[int, int] = {}
    for r in results:
        for k, v in r[1].items():
            statuses[k] = statuses.get(k, 0) + v
    show(
        f"socket, {args.servers} server(s), {args.clients} clients x {args.concurrency} in flight",
        latencies, statuses, max(r[2] for r in results),
    )  # fmt: skip
    n = max(1, len(latencies))
    print(
        f"CPU per event: hub {cpu / n * 1000:.2f} ms, PostgreSQL backends {pg / n * 1000:.2f} ms; "
        f"load average {load0:.1f} -> {load1:.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--cameras", type=int, default=60)
    parser.add_argument("--size", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=int(time.time()) % 100_000)
    parser.add_argument(
        "--socket", action="store_true",
        help="over loopback TCP: uvicorn servers in subprocesses, clients in others",
    )  # fmt: skip
    parser.add_argument("--servers", type=int, default=1)
    parser.add_argument("--clients", type=int, default=2)
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="bench-video-")
    cameras = asyncio.run(setup(args.url, args.cameras, folder))
    pics = pictures(args.size)
    mean = sum(len(p) for p in pics) * 3 / 4 / len(pics)
    print(f"{len(cameras)} cameras, {len(pics)} pictures of {mean / 1000:.0f} kB on average, "
          f"{os.cpu_count()} cores")  # fmt: skip
    if args.socket:
        over_socket(args, folder, cameras, pics)
        print(asyncio.run(stored(args.url, folder)))
        print("budget (issue 17): 500 events/s, p95 < 100 ms")
        return
    lat, st, sec = asyncio.run(
        session(args.url, folder, args.seed, 200, 1, cameras, pics, warmup=30)
    )
    show("latency, one at a time", lat, st, sec)
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    share = args.events // args.processes
    procs = [
        ctx.Process(
            target=_process,
            args=(
                (args.url, folder, args.seed + 1 + i, share, args.concurrency, cameras, pics, 30),
                out,
            ),
        )
        for i in range(args.processes)
    ]
    for p in procs:
        p.start()
    results = [out.get() for _ in procs]
    for p in procs:
        p.join()
    latencies = [x for r in results for x in r[0]]
    statuses: dict[int, int] = {}
    for r in results:
        for k, v in r[1].items():
            statuses[k] = statuses.get(k, 0) + v
    show(
        f"throughput, {args.processes} processes x {args.concurrency} in flight",
        latencies, statuses, max(r[2] for r in results),
    )  # fmt: skip
    print(asyncio.run(stored(args.url, folder)))
    print("budget (issue 17): 500 events/s, p95 < 100 ms")


if __name__ == "__main__":
    main()
