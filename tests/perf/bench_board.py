"""Latency of the command centre's figures (/console/board/data.json) on a filled database.

    python -m tests.perf.bench_board \\
        --url postgresql+asyncpg://postgres@127.0.0.1:5432/sanwang_perf [--runs 20] [--screens 50]

Fill the database first with ``python -m tests.perf.generate`` (100k cases). Requests go
through create_app and httpx's ASGITransport as a city-wide DISPATCHER and a town OPERATOR
(JWTs, the kiosk's way). "cold": every request after a case change (the shared figures are
recomputed); "warm": within FIGURES_TTL with no change (served from the shared computation);
"screens": N screens asking at once right after a change (one computation answers them all).
Milliseconds, p50 and p95.
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
from hub.console.board import generation
from hub.db import Database
from hub.runtime import Runtime

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
                generation.bump()
                cold.append(await get())
                warm.append(await get())
            print(summary(f"{who}: cold", cold))
            print(summary(f"{who}: warm", warm))
            together = []
            for _ in range(max(3, runs // 4)):
                generation.bump()
                start = time.perf_counter()
                await asyncio.gather(*(get() for _ in range(screens)))
                together.append((time.perf_counter() - start) * 1000)
            print(summary(f"{who}: {screens} screens at once", together))
    await db.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--screens", type=int, default=50)
    args = parser.parse_args()
    asyncio.run(main(args.url, args.runs, args.screens))
