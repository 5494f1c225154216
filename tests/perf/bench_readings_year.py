"""A year of minute data in the partitioned readings table: bytes per row, the growth per year
of a county (300 points x 10 pollutants x every minute), and the `readings` query on it.

    python -m tests.perf.bench_readings_year \
        [--url postgresql+asyncpg://postgres@127.0.0.1:5432/sanwang_readings_year] \
        [--points 2] [--pollutants 10] [--runs 50]

A fresh database, migrated and seeded (the demo world); the month partitions of the past 12
months are made by the partition job's own code (``hub.monitoring.partitions``); ``--points``
points x ``--pollutants`` x one MINUTE value a minute for the 12 months are inserted through the
parent table (as the writer does). Then: rows, bytes of the month partitions (heap, primary key,
TOAST; ``pg_total_relation_size``) per row, extrapolated to a county; EXPLAIN of the service's
query for a day, a week and 31 days of one pollutant at one point (which partitions it reads);
and its wall time through ``hub.monitoring.service.readings`` under the app role and row-level
security, p50 and p95 of ``--runs`` runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from hub.auth import scope_for
from hub.db import Database
from hub.migrations import upgrade
from hub.monitoring import episodes, partitions
from hub.monitoring.model import Interval
from hub.monitoring.service import readings
from hub.tenancy.service import directory
from tests.perf.generate import prepare_database, seed

COUNTY_POINTS = 300
COUNTY_POLLUTANTS = 10
MINUTES_A_YEAR = 365 * 24 * 60
CODES = ["a34013", "a21026", "a21002", "a19001", "a01011", "a01012", "a01013", "a01014",
         "a00000", "a21005", "a24088", "a34001"]  # fmt: skip


def relations(plan: object) -> list[str]:
    found: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if "Relation Name" in node:
                found.append(node["Relation Name"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(json.loads(plan) if isinstance(plan, str) else plan)
    return found


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/sanwang_readings_year"
    )
    parser.add_argument("--points", type=int, default=2)
    parser.add_argument("--pollutants", type=int, default=10)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument(
        "--reuse", action="store_true", help="keep the database of an earlier run: no loading"
    )
    args = parser.parse_args()
    if not args.reuse:
        await prepare_database(args.url, fresh=True)
        await asyncio.to_thread(upgrade, args.url)
        await seed(args.url)
    db = Database(args.url)
    try:
        end = datetime.now(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        start = datetime(end.year - 1, end.month, 1, tzinfo=UTC)
        codes = CODES[: args.pollutants]
        async with db.engine.begin() as conn:
            for month in partitions.months_between(start.date(), end.date()):
                await partitions.ensure_month(conn, month)
            rows = (
                await conn.execute(
                    text("select id, tenant_id from monitoring_points limit :n"), {"n": args.points}
                )
            ).all()
        started = time.perf_counter()
        for point, tenant in [] if args.reuse else rows:
            for code in codes:  # one transaction per series: bounded memory, steady progress
                async with db.engine.begin() as conn:
                    await conn.execute(
                        text(
                            "insert into readings (point_id, pollutant, interval, at, tenant_id, "
                            "value, flag) select :p, :c, 'MINUTE', g, :t, "
                            "round((20 + 10 * sin(extract(epoch from g) / 3600))::numeric, 2), "
                            "'N' from generate_series(cast(:s as timestamptz), "
                            "cast(:e as timestamptz) - interval '1 minute', '1 minute') g"
                        ),
                        {"p": point, "c": code, "t": tenant, "s": start, "e": end},
                    )
        loaded = time.perf_counter() - started
        if args.reuse:
            async with db.engine.connect() as conn:
                rows = (
                    await conn.execute(
                        text("select distinct point_id, tenant_id from readings limit :n"),
                        {"n": args.points},
                    )
                ).all()
        async with db.engine.begin() as conn:
            await conn.execute(text("analyze readings"))
            count = await conn.scalar(text("select count(*) from readings"))
            size = await conn.scalar(
                text(
                    "select sum(pg_total_relation_size(inhrelid)) from pg_inherits "
                    "where inhparent = 'readings'::regclass"
                )
            )
            heap = await conn.scalar(
                text(
                    "select sum(pg_relation_size(inhrelid)) from pg_inherits "
                    "where inhparent = 'readings'::regclass"
                )
            )
            attached = await partitions.months(conn)
        per_row = size / count
        county_rows = COUNTY_POINTS * COUNTY_POLLUTANTS * MINUTES_A_YEAR
        print(
            f"loaded {count:,} rows ({args.points} points x {len(codes)} pollutants x every "
            f"minute, {start:%Y-%m} to {end:%Y-%m}, {len(attached)} month partitions) in "
            f"{loaded:.0f} s"
        )
        print(
            f"size: {size / 2**20:,.0f} MiB in all ({heap / 2**20:,.0f} MiB heap, the rest the "
            f"primary key): {per_row:.1f} bytes per row ({heap / count:.1f} heap)"
        )
        print(
            f"a county, {COUNTY_POINTS} points x {COUNTY_POLLUTANTS} pollutants x every minute: "
            f"{county_rows:,} rows a year, {county_rows * per_row / 2**30:,.0f} GiB a year "
            f"({county_rows / 12:,.0f} rows, {county_rows * per_row / 12 / 2**30:,.1f} GiB a month "
            f"partition); {county_rows / MINUTES_A_YEAR / 60:,.0f} rows/s sustained"
        )
        scope = scope_for(episodes.MONITORING, await directory(db))
        point = rows[0][0]
        middle = partitions.add_months(start.date(), 6)
        month_end = datetime(middle.year, middle.month, 1, tzinfo=UTC)
        windows = (
            ("a day (1,440 rows)", month_end - timedelta(days=12), 1),
            ("6 days across a month's end (8,640 rows)", month_end - timedelta(days=3), 6),
        )
        for label, first, span in windows:
            window = (first, first + timedelta(days=span))
            sql = (
                "select * from readings where point_id = :p and pollutant = :c and at >= :s "
                "and at < :e and interval = 'MINUTE' order by at, interval"
            )
            bound = {"p": point, "c": codes[0], "s": window[0], "e": window[1]}
            async with db.engine.connect() as conn:
                plan = await conn.scalar(text("explain (format json) " + sql), bound)
                analyzed = await conn.scalar(text("explain (analyze, format json) " + sql), bound)
            scanned = sorted(set(relations(plan)))
            sql_ms = (
                json.loads(analyzed)[0]["Execution Time"]
                if isinstance(analyzed, str)
                else analyzed[0]["Execution Time"]
            )
            times = []
            cpu = []
            got = 0
            for _ in range(args.runs):
                async with db.session(scope.tenant_ids) as session:
                    t0, c0 = time.perf_counter(), time.process_time()
                    found = await readings(
                        session, scope, str(point), codes[0], *window, Interval.MINUTE
                    )
                    times.append(time.perf_counter() - t0)
                    cpu.append(time.process_time() - c0)
                    got = len(found)
            times.sort()
            print(
                f"readings of {label}, {got} rows: partitions read {scanned}; the SQL alone "
                f"{sql_ms:.1f} ms (EXPLAIN ANALYZE); through service.readings (app role, RLS, "
                f"plain rows) p50 {statistics.median(times) * 1000:.1f} ms, "
                f"p95 {times[int(len(times) * 0.95) - 1] * 1000:.1f} ms, "
                f"this process's CPU p50 {statistics.median(cpu) * 1000:.1f} ms"
            )
    finally:
        await db.dispose()


if __name__ == "__main__":
    asyncio.run(main())
