"""Latency of the command centre's figures (/console/board/data.json) on a filled database.

    python -m tests.perf.bench_board \\
        --url postgresql+asyncpg://postgres@127.0.0.1:5432/sanwang_perf [--runs 20] [--screens 50]

Fill the database first with ``python -m tests.perf.generate`` (100k cases). Requests go
through create_app and httpx's ASGITransport as a city-wide DISPATCHER and a town OPERATOR
(JWTs, the kiosk's way). "cold": every request after a case change (the shared figures are
recomputed); "warm": within FIGURES_TTL with no change (served from the shared computation);
"screens": N screens asking at once right after a change (one computation answers them all).
Milliseconds, p50 and p95.

Then the others' cost of the screens: a town office's Cases(first: 50) through /graphql,
timed alone and then while SCREENS live screens refresh after every case change (a change
every second, as a busy intake makes them; each screen re-fetches its figures as the page does
on a caseEvents message), in one process. Budget (issue 15): the others' p50 moves by at most
20%.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import httpx

from hub.app import create_app
from hub.auth import issue_jwt
from hub.config import Settings
from hub.db import Database
from hub.events import changes
from hub.runtime import Runtime
from tests.operations import op

SECRET = "bench-board-secret-not-for-production-use"


def summary(name: str, times: list[float]) -> str:
    times = sorted(times)
    p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
    return f"{name:<28} p50 {statistics.median(times):7.1f} ms   p95 {p95:7.1f} ms   n={len(times)}"


async def main(url: str, runs: int, screens: int) -> None:
    settings = Settings(database_url=url, secret_key=SECRET, _env_file=None)
    db = Database(url)
    app = create_app(Runtime.start(settings, db))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://hub.bench") as http:
        for who, roles, towns in (
            ("dispatcher", ["DISPATCHER"], []),
            ("operator laiji", ["OPERATOR"], ["laiji"]),
        ):
            headers = {"Authorization": f"Bearer {issue_jwt(SECRET, 'bench', roles, towns)}"}

            async def get(headers: dict[str, str] = headers) -> float:
                start = time.perf_counter()
                answer = await http.get("/console/board/data.json", headers=headers)
                assert answer.status_code == 200, answer.text
                return (time.perf_counter() - start) * 1000

            await get()
            cold, warm = [], []
            for _ in range(runs):
                changes.bump()
                cold.append(await get())
                warm.append(await get())
            print(summary(f"{who}: cold", cold))
            print(summary(f"{who}: warm", warm))
            together = []
            for _ in range(max(3, runs // 4)):
                changes.bump()
                start = time.perf_counter()
                await asyncio.gather(*(get() for _ in range(screens)))
                together.append((time.perf_counter() - start) * 1000)
            print(summary(f"{who}: {screens} screens at once", together))
        await others_with_screens(http, runs, screens)
    await db.dispose()


async def others_with_screens(http: httpx.AsyncClient, runs: int, screens: int) -> None:
    office = {"Authorization": f"Bearer {issue_jwt(SECRET, 'o', ['OPERATOR'], ['chaohua'])}"}
    wall = {"Authorization": f"Bearer {issue_jwt(SECRET, 'w', ['DISPATCHER'], [])}"}
    body = {"query": op("Cases"), "variables": {"first": 50}, "operationName": "Cases"}

    async def page() -> float:
        start = time.perf_counter()
        answer = await http.post("/graphql", json=body, headers=office)
        assert answer.status_code == 200, answer.text
        return (time.perf_counter() - start) * 1000

    alone = [await page() for _ in range(runs * 3)]
    stop = asyncio.Event()
    changed = asyncio.Condition()

    async def intake() -> None:  # a case change every second wakes every screen
        while not stop.is_set():
            await asyncio.sleep(1.0)
            changes.bump()
            async with changed:
                changed.notify_all()

    async def screen() -> None:
        while not stop.is_set():
            async with changed:
                await changed.wait()
            await http.get("/console/board/data.json", headers=wall)

    tasks = [asyncio.create_task(intake())] + [
        asyncio.create_task(screen()) for _ in range(screens)
    ]
    busy = [await page() for _ in range(runs * 3)]
    stop.set()
    async with changed:
        changed.notify_all()
    await asyncio.gather(*tasks)
    print(summary("others' Cases(first: 50), alone", alone))
    print(summary(f"  ... with {screens} live screens", busy))
    ratio = statistics.median(busy) / statistics.median(alone)
    print(f"others' p50 with the screens / alone: {ratio:.2f}x (budget 1.20x)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--screens", type=int, default=50)
    args = parser.parse_args()
    asyncio.run(main(args.url, args.runs, args.screens))
