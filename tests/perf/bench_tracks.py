"""200 phones on patrol, each sending its track points every 10 s (issue 13's budget: p95 under
50 ms).

    python -m tests.perf.bench_tracks                    # a fresh SQLite file
    python -m tests.perf.bench_tracks --url postgresql+asyncpg://postgres@127.0.0.1:5432/sanwang_perf_tracks
        [--phones 200] [--seconds 60] [--every 10]

The database is migrated and seeded with the demo world; PHONES members are saved through
`saveMember` (spread over the towns' village cells) and each starts a patrol through
`startPatrol` with a member-bound token. Then every phone sends `recordTrack` with the fixes of
its last interval (one per 2 s: five points, a short walk) every EVERY seconds, the phones' first
sends spread over the first interval, for SECONDS seconds, concurrently, through the real ASGI
app (auth, strawberry, the geodesic length, SQLAlchemy). Prints requests, errors, p50 / p95 /
p99 / max in ms and the CPU of this process per request. No asserts: figures for the note.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

from hub.app import create_app
from hub.auth import issue_jwt
from hub.config import Settings
from hub.db import Database, utcnow
from hub.demo import world
from hub.demo.seed import seed_demo
from hub.migrations import upgrade_async
from hub.runtime import Runtime
from tests.operations import op

SECRET = "perf-secret-key-not-for-production"
BUDGET_MS = 50.0


async def prepare(url: str) -> None:
    await upgrade_async(url)
    db = Database(url)
    try:
        await seed_demo(db)
    finally:
        await db.dispose()


def cells() -> list[tuple[str, str, tuple[float, float]]]:
    """(town, cell code, a point inside it) of every village cell of the demo world."""
    found = []
    for town in world.TOWNS:
        for n in range(1, 20):
            cell = next((c for c in world.CELLS if c.code == world.cell_code(town.code, n)), None)
            if cell is None:
                break
            lons, lats = zip(*cell.ring[:-1], strict=True)
            found.append((town.code, cell.code, (sum(lats) / len(lats), sum(lons) / len(lons))))
    return found


async def gql(http: httpx.AsyncClient, name: str, token: str, **variables: Any) -> Any:
    response = await http.post(
        "/graphql",
        json={"query": op(name), "variables": variables, "operationName": name},
        headers={"Authorization": f"Bearer {token}"},
    )
    body = response.json()
    if response.status_code != 200 or body.get("errors"):
        raise RuntimeError(f"{name}: {response.status_code} {body}")
    return next(iter(body["data"].values()))


async def phones(http: httpx.AsyncClient, count: int) -> list[tuple[str, str, tuple[float, float]]]:
    """(token, patrol id, start point) of each phone, its member saved and its patrol started."""
    admin = issue_jwt(SECRET, "perf-admin", ["ADMIN"], [])
    places = cells()
    out = []
    for i in range(count):
        town, cell, point = places[i % len(places)]
        saved = await gql(
            http, "SaveMember", admin,
            input={"tenantCode": town, "gridCellCode": cell, "name": f"巡查员{i:03d}",
                   "role": "GRIDMAN", "externalId": f"PERF-T{i:03d}"},
        )  # fmt: skip
        member = saved["member"]["id"]
        token = issue_jwt(SECRET, f"phone-{i}", ["MEMBER"], [town], member=uuid.UUID(member))
        started = await gql(
            http, "StartPatrol", token,
            input={"kind": "ROUTINE", "startedAt": utcnow().isoformat(), "clientId": f"p-{i}"},
        )  # fmt: skip
        out.append((token, started["patrol"]["id"], point))
    return out


async def phone(
    http: httpx.AsyncClient,
    token: str,
    patrol: str,
    start: tuple[float, float],
    until: float,
    every: float,
    times: list[float],
    errors: list[str],
) -> None:
    rng = random.Random(patrol)
    lat, lon = start
    await asyncio.sleep(rng.uniform(0, every))
    while time.perf_counter() < until:
        now = utcnow()
        points = []
        for k in range(5):  # a fix every 2 s since the last send, a few metres apart
            lat += rng.uniform(-0.00005, 0.00005)
            lon += rng.uniform(-0.00005, 0.00005)
            at = now - timedelta(seconds=2 * (4 - k))
            points.append({"latitude": lat, "longitude": lon, "at": at.isoformat()})
        t0 = time.perf_counter()
        try:
            await gql(http, "RecordTrack", token, patrolId=patrol, points=points)
        except Exception as exc:  # counted, and the run goes on
            errors.append(str(exc)[:200])
        times.append(time.perf_counter() - t0)
        await asyncio.sleep(max(0.0, every - (time.perf_counter() - t0)))


async def run(url: str, count: int, seconds: float, every: float) -> None:
    await prepare(url)
    settings = Settings(database_url=url, secret_key=SECRET, _env_file=None)
    app = create_app(Runtime.start(settings))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://hub", timeout=60) as http:
        ready = await phones(http, count)
        times: list[float] = []
        errors: list[str] = []
        until = time.perf_counter() + seconds
        cpu = time.process_time()
        await asyncio.gather(
            *(phone(http, t, p, s, until, every, times, errors) for t, p, s in ready)
        )
        cpu = time.process_time() - cpu
    ms = sorted(t * 1000 for t in times)

    def pct(q: float) -> float:
        return ms[min(len(ms) - 1, int(len(ms) * q))]

    print(
        f"{count} phones, a recordTrack of 5 points every {every:.0f} s for {seconds:.0f} s: "
        f"{len(ms)} requests ({len(ms) / seconds:.1f}/s), {len(errors)} errors; load average "
        f"{os.getloadavg()[0]:.1f}"
    )
    print(
        f"latency ms: p50 {statistics.median(ms):.1f}  p95 {pct(0.95):.1f}  p99 {pct(0.99):.1f}  "
        f"max {ms[-1]:.1f}; CPU of the app per request {cpu / max(1, len(ms)) * 1000:.1f} ms"
    )
    print(f"budget p95 <= {BUDGET_MS:.0f} ms: {'met' if pct(0.95) <= BUDGET_MS else 'MISSED'}")
    for error in errors[:3]:
        print("error:", error)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="a database URL (default: a fresh SQLite file)")
    parser.add_argument("--phones", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--every", type=float, default=10)
    args = parser.parse_args()
    url = args.url or f"sqlite+aiosqlite:///{Path(tempfile.mkdtemp()) / 'tracks.db'}"
    asyncio.run(run(url, args.phones, args.seconds, args.every))


if __name__ == "__main__":
    main()
