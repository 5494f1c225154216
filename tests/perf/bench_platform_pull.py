"""Pulling assignments from the platform simulator over loopback HTTP into a fresh hub
database: every assignment through the intake (one transaction each: the case, its report,
event, audit entry, feed row, and its first status in the outbox).

    python -m tests.perf.bench_platform_pull \
        --url postgresql+asyncpg://postgres@127.0.0.1:5432/sanwang_perf_pull [--assignments 10000]

The database is dropped, created, migrated and seeded first (PostgreSQL; or a sqlite+aiosqlite
URL for a file). Prints assignments/s and the total. Budget: 10,000 in at most 60 s.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

from sqlalchemy import func, select

from connectors.platform import install
from connectors.platform.adapter import HttpPlatform
from connectors.platform.pull import pull_once
from connectors.platform.settings import PlatformSettings
from connectors.platform.simulator import Simulator, serving
from hub.auth import system_scope
from hub.cases.model import ExternalRef
from hub.config import Settings
from hub.db import Database
from hub.demo.seed import seed_demo
from hub.migrations import upgrade
from hub.runtime import Runtime
from tests.perf.generate import prepare_database

BUDGET_SECONDS = 60.0


async def run(url: str, n: int, page: int) -> tuple[float, int, dict[str, int]]:
    settings = Settings(database_url=url, secret_key="perf", _env_file=None)
    db = Database(url, pool_size=4)
    install(Runtime.start(settings, db))
    await seed_demo(db)
    sim = Simulator(seed=1)
    for _ in range(n):
        sim.assign()
    outcomes: dict[str, int] = {}
    try:
        async with serving(sim) as base:
            psettings = PlatformSettings(
                url=base, page_size=page, max_pages_per_run=10**6, _env_file=None
            )
            platform = HttpPlatform(psettings)
            started, cpu = time.perf_counter(), time.process_time()
            result = await pull_once(db, settings, psettings, platform)
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
            await platform.aclose()
        if result.error:
            raise SystemExit(f"the pull failed: {result.error}")
        outcomes = result.outcomes
        scope = await system_scope(db)
        async with db.session(scope.tenant_ids) as session:
            cases = await session.scalar(select(func.count()).select_from(ExternalRef))
    finally:
        await db.dispose()
    print(f"CPU of this process (hub and simulator) during the pull: {cpu:.1f} s")
    return elapsed, int(cases or 0), outcomes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--assignments", type=int, default=10_000)
    parser.add_argument("--page", type=int, default=500)
    parser.add_argument("--no-fail", action="store_true")
    args = parser.parse_args()
    if args.url.startswith("postgresql"):
        asyncio.run(prepare_database(args.url, fresh=True))
    elif args.url.startswith("sqlite"):
        Path(args.url.split("///", 1)[1]).unlink(missing_ok=True)
    else:
        raise SystemExit("--url must be a PostgreSQL or SQLite URL")
    upgrade(args.url)
    elapsed, cases, outcomes = asyncio.run(run(args.url, args.assignments, args.page))
    print(
        f"pulled {args.assignments:,} assignments (pages of {args.page}) in {elapsed:.1f} s: "
        f"{args.assignments / elapsed:,.0f} assignments/s; {cases:,} cases; outcomes {outcomes}"
    )
    budget = BUDGET_SECONDS * args.assignments / 10_000
    verdict = "met" if elapsed <= budget and cases == args.assignments else "MISSED"
    print(f"budget {budget:.0f} s: {verdict}")
    if verdict != "met" and not args.no_fail:
        sys.exit(1)


if __name__ == "__main__":
    main()
