"""The change feed read from its beginning by a client paging with first: 500, through the
real ASGI app (auth, strawberry, SQLAlchemy, asyncpg, PostgreSQL).

    URL=postgresql+asyncpg://postgres@127.0.0.1:5432/sanwang_perf_feed
    python -m tests.perf.generate --url $URL --cases 100000 --fresh
    python -m tests.perf.bench_feed --url $URL

The generator COPYs cases past the application, so their feed rows are written here first
(as migration 0003 backfills them: in the order they last changed). Then a city-wide ADMIN
pages through caseChanges(first: 500) until hasNextPage is false, checking that every case
comes exactly once. Prints pages, changes, total seconds, changes/s and page latencies.
Budget: 100,000 changes in at most 10 s.

Then the same feed through the bulk route (`GET /sync/changes`, JSON lines, one request):
budget 100,000 changes in at most 5 s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import asyncpg
import httpx
import orjson

from hub.app import create_app
from hub.auth import issue_jwt
from hub.config import Settings
from hub.runtime import Runtime
from tests.operations import op
from tests.perf.generate import asyncpg_dsn
from tests.perf.servers import children, hub_env, start_hub

SECRET = "perf-secret-key-not-for-production"
BUDGET_SECONDS = 10.0
BULK_BUDGET_SECONDS = 5.0
PAGE = 500


async def backfill(url: str) -> int:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        added = await conn.execute(
            "insert into case_feed (case_id, tenant_id, seq, txid, changed_at) "
            "select id, tenant_id, nextval('case_feed_seq'), 0, updated_at from ("
            "  select c.* from cases c where not exists "
            "  (select 1 from case_feed f where f.case_id = c.id) order by updated_at, id"
            ") as ordered"
        )
        await conn.execute("vacuum analyze case_feed")
        return int(added.split()[-1])
    finally:
        await conn.close()


async def read_feed(url: str) -> tuple[int, int, list[float], float]:
    settings = Settings(database_url=url, secret_key=SECRET, _env_file=None)
    app = create_app(Runtime.start(settings))
    token = issue_jwt(SECRET, "perf-feed", ["ADMIN"], [])
    headers = {"Authorization": f"Bearer {token}"}
    query = op("CaseChanges")
    seen: set[str] = set()
    pages, times, after = 0, [], None
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://hub") as http:
        started, cpu = time.perf_counter(), time.process_time()
        while True:
            t0 = time.perf_counter()
            response = await http.post(
                "/graphql",
                json={
                    "query": query,
                    "variables": {"after": after, "first": PAGE},
                    "operationName": "CaseChanges",
                },
                headers=headers,
            )
            times.append(time.perf_counter() - t0)
            body = response.json()
            if "errors" in body:
                raise SystemExit(f"errors: {body['errors']}")
            feed = body["data"]["caseChanges"]
            pages += 1
            for edge in feed["edges"]:
                if edge["node"]["id"] in seen:
                    raise SystemExit(f"case {edge['node']['id']} came twice")
                seen.add(edge["node"]["id"])
            after = feed["pageInfo"]["endCursor"] or after
            if not feed["pageInfo"]["hasNextPage"]:
                break
        total = time.perf_counter() - started
    print(f"CPU of the hub process while paging: {time.process_time() - cpu:.1f} s")
    return pages, len(seen), times, total


async def read_bulk(url: str) -> tuple[int, float, float]:
    """Every change through GET /sync/changes in one streamed response from a real
    `sanwang serve` process over loopback; (changes, s, the server's CPU s)."""
    token = issue_jwt(SECRET, "perf-feed", ["ADMIN"], [])
    seen: set[str] = set()
    with tempfile.TemporaryDirectory() as tmp, children() as running:
        hub = start_hub(Path(tmp), hub_env(url, SECRET))
        running.append(hub)
        async with httpx.AsyncClient(base_url=hub.url, timeout=120) as http:
            started, cpu = time.perf_counter(), hub.cpu_seconds()
            async with http.stream(
                "GET", "/sync/changes", headers={"Authorization": f"Bearer {token}"}
            ) as response:
                ended = False
                async for line in response.aiter_lines():
                    row = orjson.loads(line)
                    if row.get("end"):
                        ended = True
                        continue
                    if row["id"] in seen:
                        raise SystemExit(f"case {row['id']} came twice")
                    seen.add(row["id"])
            total = time.perf_counter() - started
            server_cpu = hub.cpu_seconds() - cpu
        if not ended:
            raise SystemExit("the stream ended without its closing line")
    return len(seen), total, server_cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="postgresql+asyncpg://postgres@host/db")
    parser.add_argument("--no-fail", action="store_true")
    parser.add_argument("--bulk-only", action="store_true", help="only GET /sync/changes")
    args = parser.parse_args()
    if not args.url.startswith("postgresql"):
        raise SystemExit("--url must be a PostgreSQL URL")
    added = asyncio.run(backfill(args.url))
    print(f"feed rows written for {added:,} generated cases")
    total = budget = 0.0
    if not args.bulk_only:
        total, budget = page_through(args.url)
    bulk, bulk_total, bulk_cpu = asyncio.run(read_bulk(args.url))
    bulk_budget = BULK_BUDGET_SECONDS * bulk / 100_000
    bulk_verdict = "met" if bulk_total <= bulk_budget else "MISSED"
    print(
        f"GET /sync/changes (sanwang serve, loopback HTTP): {bulk:,} changes in "
        f"{bulk_total:.2f} s ({bulk / bulk_total:,.0f} changes/s, {bulk_cpu:.1f} s CPU in the "
        f"server); budget {bulk_budget:.1f} s: {bulk_verdict}; load average {_load()}"
    )
    if (total > budget or bulk_total > bulk_budget) and not args.no_fail:
        sys.exit(1)


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def page_through(url: str) -> tuple[float, float]:
    pages, changes, times, total = asyncio.run(read_feed(url))
    ms = sorted(t * 1000 for t in times)
    print(
        f"caseChanges(first: {PAGE}): {changes:,} changes in {pages} pages, {total:.2f} s "
        f"({changes / total:,.0f} changes/s); page p50 {statistics.median(ms):.1f} ms, "
        f"p95 {ms[int(len(ms) * 0.95) - 1]:.1f} ms, max {ms[-1]:.1f} ms"
    )
    budget = BUDGET_SECONDS * changes / 100_000
    verdict = "met" if total <= budget else "MISSED"
    print(f"budget {budget:.1f} s for {changes:,} changes: {verdict}")
    return total, budget


if __name__ == "__main__":
    main()
