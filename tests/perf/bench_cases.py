"""Latency of the case list and detail through the real ASGI app, against hand-written SQL.

    python -m tests.perf.bench_cases \
        --url postgresql+asyncpg://postgres@127.0.0.1:5432/sanwang_perf \
        [--runs 200] [--warmup 30] [--town chaohua] [--profile] [--seed 7] [--verbose] \
        [--json FILE] [--no-fail]

Fill the database first with ``python -m tests.perf.generate``. Requests go through
create_app(Settings(...)) and httpx's ASGITransport (no sockets, no server: the whole Python
stack of a request - auth, strawberry, the resolvers, SQLAlchemy, asyncpg - and PostgreSQL),
one at a time, as a city-wide DISPATCHER and as a town OPERATOR (JWTs). Each operation is warmed
up, then timed ``--runs`` times; p50/p95/p99 in milliseconds.

The SQL baseline fetches the same data with one hand-written query per request on a plain
asyncpg connection, in a transaction that first runs the same set_config (role and tenant ids)
as the app, so that row-level security costs the same; when the GraphQL operation selects
totalCount the baseline runs the count(*) as a second query. ratio = GraphQL p50 / SQL p50.

Then the SQL statements each request sends (before_cursor_execute on the app's engine) are
counted for Cases(first: 5) and Cases(first: 100): they must be equal (no per-row queries).
``--profile`` runs pyinstrument (``.venv/bin/pip install pyinstrument``) over Cases(first: 50).
Exit status 1 when a statement count differs or a budget is missed (``--no-fail`` to ignore).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
from sqlalchemy import event

from hub.app import create_app
from hub.auth import issue_jwt
from hub.cases.enums import channels_of
from hub.config import Settings
from hub.db import TENANT_SETTING, Database
from hub.pagination import decode_cursor
from hub.roles import Role
from hub.runtime import Runtime
from hub.tenancy.service import directory
from tests.operations import op
from tests.perf.generate import asyncpg_dsn

SECRET = "perf-secret-key-not-for-production"
BUDGET_P50_MS = 25.0
BUDGET_RATIO = 4.0
PAGE_DEPTH = 5  # the "after" benchmark reads page 5 (after 200 cases)
FILTER = {"status": ["DISPATCHED", "HANDLING"], "categories": ["AIR", "DUST"]}

CASES = op("Cases")
CASES_NO_TOTAL = CASES.replace("totalCount\n", "", 1)
assert CASES_NO_TOTAL != CASES, "the Cases operation no longer selects totalCount"
CASE_DETAIL = op("CaseDetail")


# --- the hand-written SQL ---------------------------------------------------------------------

PAGE_SQL = """
select c.id, c.number, c.title, c.status, c.category, c.priority, c.card, c.channel_mask,
       c.created_at, c.due_at, c.report_count, t.code as tenant_code, t.name as tenant_name,
       g.id as grid_cell_id, g.name as grid_cell_name, m.id as assignee_id,
       m.name as assignee_name, s.id as source_id, s.name as source_name
  from cases c
  join tenants t on t.id = c.tenant_id
  left join grid_cells g on g.id = c.grid_cell_id
  left join members m on m.id = c.assignee_id
  left join sources s on s.id = c.source_id
 where {where}
 order by c.created_at desc, c.id desc
 limit {limit}"""

COUNT_SQL = "select count(*) from cases c where {where}"

DETAIL_SQL = """
select c.*, t.code as tenant_code, t.name as tenant_name,
  (select coalesce(json_agg(json_build_object(
      'id', r.id, 'channel', r.channel, 'externalId', r.external_id,
      'receivedAt', r.received_at, 'summary', r.description, 'name', r.reporter_name,
      'phone', r.reporter_phone, 'anonymous', r.anonymous) order by r.received_at, r.id), '[]')
     from reports r where r.case_id = c.id) as reports,
  (select coalesce(json_agg(json_build_object(
      'at', e.at, 'action', e.action, 'fromStatus', e.from_status, 'toStatus', e.to_status,
      'note', e.note, 'actorId', e.actor_id, 'actorName', e.actor_name)
      order by e.at, e.id), '[]')
     from case_events e where e.case_id = c.id) as timeline,
  (select coalesce(json_agg(json_build_object(
      'kind', l.kind, 'id', o.id, 'number', o.number, 'status', o.status)), '[]')
     from case_links l join cases o on o.id = l.other_case_id where l.case_id = c.id) as links,
  (select coalesce(json_agg(json_build_object('system', x.system, 'externalId', x.external_id)),
                   '[]')
     from case_external_refs x where x.case_id = c.id) as external_refs
  from cases c join tenants t on t.id = c.tenant_id
 where c.id = $1"""


@dataclass(frozen=True)
class SqlRequest:
    """One request's worth of hand-written SQL: the page (or the case), and maybe a count."""

    sql: str
    args: tuple[Any, ...]
    count_sql: str | None = None
    count_args: tuple[Any, ...] = ()


def cases_sql(
    tenant_ids: tuple[uuid.UUID, ...],
    first: int,
    *,
    after: tuple[datetime, uuid.UUID] | None = None,
    flt: dict[str, list[str]] | None = None,
    total: bool = False,
) -> SqlRequest:
    # The explicit tenant filter (as a hand-written query would have it) lets the planner use
    # the tenant indexes; row-level security still applies on top, as it does for the app.
    where, args = ["c.tenant_id = any($1::uuid[])"], [list(tenant_ids)]
    for column, key in (("status", "status"), ("category", "categories")):
        if flt and flt.get(key):
            args.append(flt[key])
            where.append(f"c.{column} = any(${len(args)}::varchar[])")
    filter_args = tuple(args)
    filter_where = " and ".join(where)
    if after is not None:
        args += list(after)
        where.append(f"(c.created_at, c.id) < (${len(args) - 1}, ${len(args)})")
    page = PAGE_SQL.format(where=" and ".join(where), limit=first + 1)
    count = COUNT_SQL.format(where=filter_where) if total else None
    return SqlRequest(page, tuple(args), count, filter_args)


class SqlBaseline:
    """A plain asyncpg connection that sees what the role sees, as the app's sessions do."""

    def __init__(self, conn: asyncpg.Connection, role: str, tenant_ids: tuple[uuid.UUID, ...]):
        self.conn, self.role = conn, role
        self.ids = "{" + ",".join(str(i) for i in tenant_ids) + "}"

    async def run(self, req: SqlRequest) -> tuple[list[asyncpg.Record], int | None]:
        async with self.conn.transaction():
            await self.conn.execute(
                "select set_config('role', $1, true), set_config($2, $3, true)",
                self.role,
                TENANT_SETTING,
                self.ids,
            )
            rows = await self.conn.fetch(req.sql, *req.args)
            total = None
            if req.count_sql:
                total = await self.conn.fetchval(req.count_sql, *req.count_args)
        return rows, total


# --- measuring --------------------------------------------------------------------------------


@dataclass
class Stats:
    samples: list[float] = field(default_factory=list)  # milliseconds
    cpu_ms: float = float("nan")  # this process's CPU time per call (app and client together)

    def pct(self, p: int) -> float:
        if len(self.samples) < 2:
            return self.samples[0] if self.samples else float("nan")
        return statistics.quantiles(self.samples, n=100, method="inclusive")[p - 1]

    @property
    def p50(self) -> float:
        return statistics.median(self.samples)


async def measure(call: Callable[[], Awaitable[Any]], runs: int, warmup: int) -> Stats:
    for _ in range(warmup):
        await call()
    stats = Stats()
    cpu0 = time.process_time()
    for _ in range(runs):
        t0 = time.perf_counter()
        await call()
        stats.samples.append((time.perf_counter() - t0) * 1000)
    stats.cpu_ms = (time.process_time() - cpu0) / runs * 1000
    return stats


@dataclass
class Bench:
    http: httpx.AsyncClient
    db: Database
    key: str

    async def gql(self, token: str, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        response = await self.http.post(
            "/graphql",
            json={"query": query, "variables": variables},
            headers={"Authorization": f"Bearer {token}"},
        )
        payload = response.json()
        if response.status_code != 200 or payload.get("errors"):
            raise RuntimeError(f"{response.status_code}: {str(payload)[:500]}")
        return payload["data"]


@dataclass
class Row:
    operation: str
    role: str
    gql: Stats
    sql: Stats | None


@dataclass
class Caller:
    label: str
    token: str
    roles: frozenset[Role]
    tenant_codes: tuple[str, ...]
    baseline: SqlBaseline | None = None
    visible: tuple[uuid.UUID, ...] = ()
    case_ids: list[str] = field(default_factory=list)


async def check_same_data(bench: Bench, who: Caller, first: int) -> None:
    """The baseline must answer what GraphQL answers (same ids, same order, same total)."""
    data = (await bench.gql(who.token, CASES, {"first": first}))["cases"]
    rows, total = await who.baseline.run(cases_sql(who.visible, first, total=True))  # type: ignore[union-attr]
    gql_ids = [e["node"]["id"] for e in data["edges"]]
    sql_ids = [str(r["id"]) for r in rows[:first]]
    if gql_ids != sql_ids or data["totalCount"] != total:
        raise SystemExit(
            f"{who.label}: GraphQL and the SQL baseline disagree (totalCount {data['totalCount']}"
            f" vs {total}; same page: {gql_ids == sql_ids})"
        )
    node, row = data["edges"][0]["node"], rows[0]
    assert node["channels"] == [c.value for c in channels_of(row["channel_mask"])]
    assert node["tenant"]["code"] == row["tenant_code"]


async def cursor_at(bench: Bench, who: Caller, depth: int, query: str) -> str:
    """The endCursor after depth - 1 pages of 50."""
    after = None
    for _ in range(depth - 1):
        variables = {"first": 50} | ({"after": after} if after else {})
        after = (await bench.gql(who.token, query, variables))["cases"]["pageInfo"]["endCursor"]
    assert after is not None
    return after


def position(key: str, cursor: str) -> tuple[datetime, uuid.UUID]:
    at, case_id = decode_cursor(key, cursor)
    return datetime.fromisoformat(at), uuid.UUID(case_id)


async def bench_role(bench: Bench, who: Caller, runs: int, warmup: int, seed: int) -> list[Row]:
    base = who.baseline
    assert base is not None
    await check_same_data(bench, who, 50)
    rows: list[Row] = []

    async def both(
        name: str, query: str, variables: dict[str, Any], sql: SqlRequest | None
    ) -> None:
        g = await measure(lambda: bench.gql(who.token, query, variables), runs, warmup)
        s = await measure(lambda: base.run(sql), runs, warmup) if sql else None
        rows.append(Row(name, who.label, g, s))
        print(f"  {who.label:<17} {name:<34} p50 {g.p50:7.2f} ms", flush=True)

    await both("Cases(first:50)", CASES, {"first": 50}, cases_sql(who.visible, 50, total=True))
    await both(
        "Cases(first:50) no totalCount", CASES_NO_TOTAL, {"first": 50}, cases_sql(who.visible, 50)
    )
    deep = await cursor_at(bench, who, PAGE_DEPTH, CASES_NO_TOTAL)
    at = position(bench.key, deep)
    await both(
        f"Cases(first:50, after p{PAGE_DEPTH})",
        CASES,
        {"first": 50, "after": deep},
        cases_sql(who.visible, 50, after=at, total=True),
    )
    await both(
        f"  ... no totalCount, after p{PAGE_DEPTH}",
        CASES_NO_TOTAL,
        {"first": 50, "after": deep},
        cases_sql(who.visible, 50, after=at),
    )
    await both(
        "Cases(filter status+categories)",
        CASES,
        {"first": 50, "filter": FILTER},
        cases_sql(who.visible, 50, flt=FILTER, total=True),
    )

    rnd = random.Random(seed)
    ids = who.case_ids

    async def detail() -> None:
        case_id = ids[int(rnd.random() * len(ids))]
        found = (await bench.gql(who.token, CASE_DETAIL, {"id": case_id}))["case"]
        assert found is not None and found["id"] == case_id

    async def detail_sql() -> None:
        case_id = uuid.UUID(ids[int(rnd.random() * len(ids))])
        rows_, _ = await base.run(SqlRequest(DETAIL_SQL, (case_id,)))
        assert rows_

    g = await measure(detail, runs, warmup)
    s = await measure(detail_sql, runs, warmup)
    rows.append(Row("CaseDetail(random case)", who.label, g, s))
    print(f"  {who.label:<17} {'CaseDetail(random case)':<34} p50 {g.p50:7.2f} ms", flush=True)
    return rows


# --- statements per request -------------------------------------------------------------------


class StatementCounter:
    def __init__(self, db: Database) -> None:
        self.statements: list[str] = []
        self.engine = db.engine.sync_engine
        event.listen(self.engine, "before_cursor_execute", self._seen)

    def _seen(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        self.statements.append(statement)

    def close(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self._seen)


async def count_statements(
    bench: Bench, who: Caller, query: str, variables: dict[str, Any]
) -> list[str]:
    await bench.gql(who.token, query, variables)  # warm (statement cache, pool)
    await directory(bench.db)  # fresh directory: no reload inside the counted request
    counter = StatementCounter(bench.db)
    try:
        await bench.gql(who.token, query, variables)
    finally:
        counter.close()
    return counter.statements


# --- profiling --------------------------------------------------------------------------------


async def profile(bench: Bench, who: Caller, runs: int) -> None:
    try:
        from pyinstrument import Profiler
    except ImportError:
        print("--profile: pyinstrument is not installed (.venv/bin/pip install pyinstrument)")
        return
    for query, label in ((CASES, "Cases(first:50)"), (CASES_NO_TOTAL, "no totalCount")):
        profiler = Profiler(interval=0.0002, async_mode="enabled")
        profiler.start()
        for _ in range(runs):
            await bench.gql(who.token, query, {"first": 50})
        profiler.stop()
        print(f"\n=== pyinstrument: {runs} x {label} as {who.label} ===")
        tree = profiler.output_text(time="percent_of_total")
        print("\n".join(tree.splitlines()[:70]))
        print(f"--- top functions by own time ({label}) ---")
        flat = profiler.output_text(flat=True, time="percent_of_total")
        print("\n".join(line for line in flat.splitlines()[:40] if line.strip()))


# --- the report -------------------------------------------------------------------------------


def print_table(rows: list[Row]) -> None:
    head = (
        f"{'operation':<36}{'role':<18}{'p50':>8}{'p95':>8}{'p99':>8}{'CPU':>7}"
        f"{'SQL p50':>9}{'SQL p95':>9}{'ratio':>7}"
    )
    print("\n" + head + "\n" + "-" * len(head))
    for r in rows:
        g = r.gql
        sql = (
            f"{r.sql.p50:>9.2f}{r.sql.pct(95):>9.2f}{g.p50 / r.sql.p50:>6.1f}x"
            if r.sql
            else f"{'':>9}{'':>9}{'':>7}"
        )
        print(
            f"{r.operation:<36}{r.role:<18}{g.p50:>8.2f}{g.pct(95):>8.2f}{g.pct(99):>8.2f}"
            f"{g.cpu_ms:>7.2f}{sql}"
        )
    print(
        "(milliseconds; CPU = this process's CPU time per request - the app, httpx and asyncpg -"
        "\n which other load on the machine disturbs far less than wall time;"
        " ratio = GraphQL p50 / SQL p50)"
    )


async def run(args: argparse.Namespace) -> int:
    settings = Settings(database_url=args.url, secret_key=SECRET, _env_file=None)
    db = Database(args.url, app_role=settings.app_role, pool_size=settings.db_pool_size)
    app = create_app(Runtime.start(settings, db))
    key = settings.signing_key()
    conn = await asyncpg.connect(asyncpg_dsn(args.url))
    failures: list[str] = []
    try:
        n_cases = await conn.fetchval("select count(*) from cases")
        if not n_cases:
            raise SystemExit("no cases: run python -m tests.perf.generate first")
        found = await directory(db)
        if args.town not in found.by_code:
            raise SystemExit(f"unknown town {args.town!r}")
        people = [
            Caller("DISPATCHER", issue_jwt(key, "perf-dispatcher", ["DISPATCHER"], []),
                  frozenset({Role.DISPATCHER}), ()),
            Caller(f"OPERATOR/{args.town}",
                  issue_jwt(key, "perf-operator", ["OPERATOR"], [args.town]),
                  frozenset({Role.OPERATOR}), (args.town,)),
        ]  # fmt: skip
        for who in people:
            visible = found.visible(who.roles, who.tenant_codes)
            who.visible = visible
            who.baseline = SqlBaseline(conn, settings.app_role, visible)
            sample = await conn.fetch(
                "select id from cases where tenant_id = any($1::uuid[])"
                " order by random() limit 1000",
                list(visible),
            )
            who.case_ids = [str(r["id"]) for r in sample]
        print(
            f"{n_cases:,} cases; {args.runs} runs after {args.warmup} warm-up requests; "
            f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; "
            f"Python {platform.python_version()}; "
            f"{await conn.fetchval('select version()')}".split(" on ")[0]
        )
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub.perf") as http:
            bench = Bench(http, db, key)
            rows: list[Row] = []
            for i, who in enumerate(people):
                rows += await bench_role(bench, who, args.runs, args.warmup, args.seed + i)
            print_table(rows)

            print("\nSQL statements per request (before_cursor_execute on db.engine):")
            for who in people:
                counts = {}
                for first in (5, 100):
                    stmts = await count_statements(bench, who, CASES, {"first": first})
                    counts[first] = stmts
                detail = await count_statements(bench, who, CASE_DETAIL, {"id": who.case_ids[0]})
                same = len(counts[5]) == len(counts[100])
                print(
                    f"  {who.label:<20} Cases(first:5) {len(counts[5])}  "
                    f"Cases(first:100) {len(counts[100])}  "
                    f"{'equal' if same else 'DIFFERENT'}   CaseDetail {len(detail)}"
                )
                if not same:
                    failures.append(f"{who.label}: statements differ for first 5 vs 100")
                if args.verbose:
                    for s in counts[5] + ["--- CaseDetail ---"] + detail:
                        print("      " + " ".join(s.split())[:160])

            print(
                f"\nBudget: Cases(first:50) p50 <= {BUDGET_P50_MS:g} ms and <= "
                f"{BUDGET_RATIO:g}x the hand-written SQL"
            )
            for r in rows:
                if r.operation != "Cases(first:50)":
                    continue
                ratio = r.gql.p50 / r.sql.p50 if r.sql else float("nan")
                ok_abs, ok_ratio = r.gql.p50 <= BUDGET_P50_MS, ratio <= BUDGET_RATIO
                print(
                    f"  {r.role:<20} p50 {r.gql.p50:6.2f} ms {'ok' if ok_abs else 'MISSED'};"
                    f"  ratio {ratio:4.1f}x {'ok' if ok_ratio else 'MISSED'}"
                )
                if not (ok_abs and ok_ratio):
                    failures.append(f"{r.role}: Cases(first:50) budget missed")

            if args.profile:
                await profile(bench, people[0], args.profile_runs)
            if args.json:
                with open(args.json, "w") as fh:
                    json.dump(
                        {
                            "at": datetime.now(UTC).isoformat(),
                            "cases": n_cases,
                            "runs": args.runs,
                            "rows": [
                                {
                                    "operation": r.operation,
                                    "role": r.role,
                                    "p50": r.gql.p50,
                                    "p95": r.gql.pct(95),
                                    "p99": r.gql.pct(99),
                                    "cpu": r.gql.cpu_ms,
                                    "sql_p50": r.sql.p50 if r.sql else None,
                                    "sql_p95": r.sql.pct(95) if r.sql else None,
                                }
                                for r in rows
                            ],
                        },
                        fh,
                        indent=2,
                    )
    finally:
        await conn.close()
        await db.dispose()
    for f in failures:
        print("FAIL:", f)
    return 1 if failures and not args.no_fail else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="postgresql+asyncpg://postgres@host/db")
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--town", default="chaohua", help="the OPERATOR's town")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--profile", action="store_true", help="pyinstrument over Cases")
    parser.add_argument("--profile-runs", type=int, default=200)
    parser.add_argument("--verbose", action="store_true", help="print the counted statements")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--no-fail", action="store_true", help="exit 0 even if a budget is missed")
    args = parser.parse_args()
    sys.exit(asyncio.run(run(args)))


if __name__ == "__main__":
    main()
