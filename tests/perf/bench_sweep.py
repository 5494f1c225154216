"""The card sweep over a million open cases, as the periodic job runs it.

    python -m tests.perf.bench_sweep \
        --url postgresql+asyncpg://postgres@127.0.0.1:5432/sanwang_sweep \
        [--cases 1000000] [--fresh] [--crossing 1000] [--idle-runs 5] [--chunk 50000] \
        [--seed 7] [--profile] [--no-fail]

With ``--fresh`` (or when the database has no case_hops yet) the database is (re)created,
migrated (hub.migrations.upgrade), given the demo world (seed_demo), and ``--cases`` open cases
are bulk loaded with COPY (asyncpg copy_records_to_table, binary) through the URL's own
connection, which must be a superuser (COPY past RLS; foreign-key triggers skipped while
loading, every id written refers to a row that exists). Each case is DISPATCHED (its hop in
ACCEPT, not accepted yet) or HANDLING (its hop in HANDLE) and has exactly one open case_hops
row: ended_at NULL, yellow_at 7-60 days ahead and red_at 1-5 days after it, nothing carded.
Cases are spread over the seven towns unevenly (generate.TOWN_WEIGHTS). The plain indexes of
cases and case_hops are dropped during the COPY and built again after it (primary and unique
keys stay); VACUUM ANALYZE last. A load killed half-way leaves them missing: rerun with --fresh.

Then the sweep is measured exactly as ``hub.supervision.jobs.sweep_cards`` runs it: the system
scope, then for every tenant of the directory a ``Database.session(scope.tenant_ids,
write=True)`` (the app role and the tenant ids are set per transaction, so RLS applies),
``await sweep(session, tenant_id, now, tz=...)`` and a commit:

  0. a settling sweep, untimed, that cards whatever crossed since the load (a rerun days later);
  (a) ``--idle-runs`` sweeps with nothing crossed: the common case, which must only look into
      the sweep indexes and find nothing (the first run is cold: connections, prepared
      statements);
  (b) ``--crossing`` hops (the soonest due, spread evenly over the seven towns) get a yellow_at
      in the past (a superuser UPDATE), and the sweep that cards them is timed;
  (c) a second sweep right after, which must issue no card.

Printed for each: wall time, cards issued, SQL statements sent, and per-tenant times. The yellow
UPDATE the sweep sends (captured from the engine) is EXPLAINed (ANALYZE, BUFFERS) for the busiest
town, inside the app's own transaction setup and rolled back: with nothing crossed, with the
hops crossed (before (b)), and under plan_cache_mode = force_generic_plan (asyncpg prepares
statements, so after five runs PostgreSQL may switch to a generic plan). Each plan must use
ix_case_hops_yellow_sweep and no sequential scan. ``--profile`` runs pyinstrument
(``.venv/bin/pip install pyinstrument``) over sweep (b).

Exit status 1 when a sweep is over the budget (2 s over the whole city), when sweep (c) issued
a card, or when a plan does not use the sweep index; ``--no-fail`` to ignore.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import random
import re
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
from sqlalchemy import event

import hub.notify  # noqa: F401  (imported at worker start, not inside the timed sweep)
from hub.auth import system_scope
from hub.cases.enums import CaseStatus, Channel, Priority, channel_bit
from hub.config import Settings
from hub.db import Database, utcnow
from hub.migrations import upgrade
from hub.supervision.model import Level, Phase
from hub.supervision.service import sweep
from hub.tenancy.service import directory, forget_directory
from tests.perf.generate import (
    CATEGORY_WEIGHTS,
    CHANNEL_WEIGHTS,
    PROBLEMS,
    TOWN_WEIGHTS,
    World,
    _chooser,
    asyncpg_dsn,
    load_world,
    prepare_database,
    seed,
)

BUDGET_S = 2.0
DAY = 86_400.0
HOUR = 3_600.0
SWEEP_INDEX = "ix_case_hops_yellow_sweep"
BUSIEST_TOWN = "laiji"  # TOWN_WEIGHTS[0]

CASE_COLUMNS = (
    "id",
    "tenant_id",
    "number",
    "title",
    "description",
    "status",
    "category",
    "priority",
    "card",
    "channel_mask",
    "report_count",
    "needs_feedback",
    "grid_cell_id",
    "assignee_id",
    "address",
    "latitude",
    "longitude",
    "created_at",
    "updated_at",
    "accept_due_at",
    "due_at",
)
HOP_COLUMNS = (
    "id",
    "tenant_id",
    "case_id",
    "seq",
    "level",
    "member_id",
    "phase",
    "phase_started_at",
    "yellow_at",
    "red_at",
    "suspended",
    "yellow_carded",
    "red_carded",
    "card",
    "opened_at",
    "accepted_at",
)


# --- the load ---------------------------------------------------------------------------------


class OpenCases:
    """Open cases and their one open hop, chunk by chunk; deterministic for a given seed."""

    def __init__(self, w: World, seed: int, now: datetime, prefix: str, tz: ZoneInfo) -> None:
        self.w, self.now, self.prefix, self.tz = w, now, prefix, tz
        self.rnd = random.Random(seed)
        self.pick_town = _chooser(TOWN_WEIGHTS, self.rnd)
        self.pick_channel = _chooser(CHANNEL_WEIGHTS, self.rnd)
        self.pick_category = _chooser(CATEGORY_WEIGHTS, self.rnd)

    def uid(self) -> uuid.UUID:
        return uuid.UUID(int=self.rnd.getrandbits(128), version=4)

    def chunk(self, count: int) -> tuple[list[tuple], list[tuple]]:
        rnd, now, w = self.rnd, self.now, self.w
        cases: list[tuple] = []
        hops: list[tuple] = []
        for _ in range(count):
            town = w.towns[self.pick_town()]
            tid = town.tenant_id
            cell_id, cell_name = town.cells[int(rnd.random() * len(town.cells))]
            gridman = town.gridmen.get(cell_id)
            member = gridman or town.staff[int(rnd.random() * len(town.staff))]
            level = Level.GRID if gridman else Level.TOWN
            accepting = rnd.random() < 0.3
            phase = Phase.ACCEPT if accepting else Phase.HANDLE
            status = CaseStatus.DISPATCHED if accepting else CaseStatus.HANDLING
            opened = now - timedelta(seconds=3 * DAY * rnd.random())
            created = opened - timedelta(seconds=HOUR * rnd.random())
            started = opened if accepting else opened + (now - opened) * rnd.random()
            # Far enough ahead that a rerun days later still finds nothing crossed.
            yellow = now + timedelta(seconds=(7 + 53 * rnd.random()) * DAY)
            red = yellow + timedelta(seconds=(1 + 4 * rnd.random()) * DAY)
            category = self.pick_category()
            problems = PROBLEMS[category]
            title = problems[int(rnd.random() * len(problems))]
            channel = self.pick_channel()
            lon0, lat0, lon1, lat1 = town.box
            case_id = self.uid()
            cases.append(
                (
                    case_id,
                    tid,
                    self.number(created),
                    title,
                    f"{town.name}{cell_name}群众反映：{title}",
                    status.value,
                    category.value,
                    Priority.URGENT.value if rnd.random() < 0.08 else Priority.NORMAL.value,
                    "NONE",
                    channel_bit(channel),
                    1,
                    channel in (Channel.HOTLINE, Channel.PLATFORM, Channel.OTHER),
                    cell_id,
                    member[0],
                    f"{town.name}{cell_name}",
                    round(lat0 + (lat1 - lat0) * rnd.random(), 6),
                    round(lon0 + (lon1 - lon0) * rnd.random(), 6),
                    created,
                    started,
                    yellow if accepting else None,
                    red,
                )
            )
            hops.append(
                (
                    self.uid(),
                    tid,
                    case_id,
                    1,
                    level.value,
                    member[0],
                    phase.value,
                    started,
                    yellow,
                    red,
                    False,
                    False,
                    False,
                    "NONE",
                    opened,
                    None if accepting else started,
                )
            )
        return cases, hops

    def number(self, created: datetime) -> str:
        scope = f"{self.prefix}-{created.astimezone(self.tz).year}"
        value = self.w.counters.get(scope, 0) + 1
        self.w.counters[scope] = value
        return f"{scope}-{value:06d}"


async def load(url: str, n: int, chunk: int, seed_value: int) -> float:
    """COPY n open cases with their hops; returns the seconds it took (VACUUM ANALYZE too)."""
    settings = Settings(database_url=url, _env_file=None)
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        if not await conn.fetchval("select rolsuper from pg_roles where rolname = current_user"):
            raise SystemExit("the bench needs a superuser connection (COPY past RLS)")
        w = await load_world(conn)
        before = await conn.fetchval("select count(*) from case_hops where ended_at is null")
        print(f"{before:,} open hops already there; adding {n:,} open cases with one hop each")
        await conn.execute("set session_replication_role = replica")  # no FK triggers
        await conn.execute("set synchronous_commit = off")
        gen = OpenCases(
            w, seed_value, utcnow(), settings.case_number_prefix, ZoneInfo(settings.timezone)
        )
        sizes = [min(chunk, n - a) for a in range(0, n, chunk)]
        started = time.perf_counter()
        # Plain indexes are dropped while loading and built again after (much faster than
        # keeping them up to date row by row); constraints (primary and unique keys) stay.
        indexes = await conn.fetch(
            "select i.relname as name, pg_get_indexdef(i.oid) as ddl from pg_index x"
            " join pg_class i on i.oid = x.indexrelid join pg_class t on t.oid = x.indrelid"
            " where t.relname = any($1::text[]) and t.relnamespace = 'public'::regnamespace"
            " and not exists (select from pg_constraint c where c.conindid = i.oid)",
            ["cases", "case_hops"],
        )
        for ix in indexes:
            await conn.execute(f'drop index "{ix["name"]}"')
        print(
            f"dropped {len(indexes)} indexes while loading: "
            + ", ".join(i["name"] for i in indexes)
        )
        try:
            await _copy(conn, gen, sizes, n, started)
        finally:
            t0 = time.perf_counter()
            await conn.execute("set maintenance_work_mem = '256MB'")
            for ix in indexes:
                await conn.execute(ix["ddl"])
            print(f"built {len(indexes)} indexes again in {time.perf_counter() - t0:.1f}s")
        await conn.execute("set session_replication_role = origin")
        for scope, value in w.counters.items():
            await conn.execute(
                "insert into case_counters (scope, value) values ($1, $2)"
                " on conflict (scope) do update"
                " set value = greatest(case_counters.value, excluded.value)",
                scope,
                value,
            )
        t0 = time.perf_counter()
        for table in ("cases", "case_hops"):
            await conn.execute(f"vacuum (analyze) {table}")
        print(f"vacuum analyze cases, case_hops: {time.perf_counter() - t0:.1f}s")
        return time.perf_counter() - started
    finally:
        await conn.close()


async def _copy(
    conn: asyncpg.Connection, gen: OpenCases, sizes: list[int], n: int, started: float
) -> None:
    loop = asyncio.get_running_loop()
    wait_time = copy_time = 0.0
    done = 0
    pending = loop.run_in_executor(None, gen.chunk, sizes[0]) if sizes else None
    for k, size in enumerate(sizes):
        t0 = time.perf_counter()
        cases, hops = await pending
        if k + 1 < len(sizes):  # the next chunk is built while the server copies this one
            pending = loop.run_in_executor(None, gen.chunk, sizes[k + 1])
        t1 = time.perf_counter()
        async with conn.transaction():
            await conn.copy_records_to_table("cases", records=cases, columns=CASE_COLUMNS)
            await conn.copy_records_to_table("case_hops", records=hops, columns=HOP_COLUMNS)
        t2 = time.perf_counter()
        wait_time += t1 - t0
        copy_time += t2 - t1
        done += size
        elapsed = t2 - started
        print(
            f"  {done:>9,}/{n:,} cases  {2 * done / elapsed:>8,.0f} rows/s  "
            f"{done / elapsed:>7,.0f} cases/s  "
            f"(waiting for rows {wait_time:.1f}s, copy {copy_time:.1f}s)",
            flush=True,
        )
    copied = time.perf_counter() - started
    print(f"copied {2 * n:,} rows in {copied:.1f}s ({2 * n / max(copied, 1e-9):,.0f} rows/s)")


# --- moving hops past their yellow threshold ----------------------------------------------------


async def cross(url: str, count: int) -> dict[str, int]:
    """Give ``count`` open hops (the soonest due of each town, evenly over the seven towns) a
    yellow_at in the past, as time passing would. Superuser, outside the app."""
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        towns = await conn.fetch("select id, code from tenants where kind = 'TOWN' order by code")
        now = datetime.now(UTC)
        moved: dict[str, int] = {}
        share, extra = divmod(count, len(towns))
        async with conn.transaction():
            for i, town in enumerate(towns):
                quota = share + (1 if i < extra else 0)
                status = await conn.execute(
                    """
                    update case_hops set yellow_at = $2 - random() * interval '1 hour'
                     where id in (
                        select id from case_hops
                         where tenant_id = $1 and ended_at is null and not yellow_carded
                           and yellow_at > $2
                         order by yellow_at
                         limit $3)
                    """,
                    town["id"],
                    now,
                    quota,
                )
                moved[town["code"]] = int(status.split()[-1])
        return moved
    finally:
        await conn.close()


async def has_hops(url: str) -> bool:
    try:
        conn = await asyncpg.connect(asyncpg_dsn(url))
    except (asyncpg.InvalidCatalogNameError, OSError):
        return False
    try:
        exists = await conn.fetchval("select to_regclass('case_hops') is not null")
        return bool(exists) and bool(await conn.fetchval("select exists(select from case_hops)"))
    finally:
        await conn.close()


async def counts(url: str) -> dict[str, int]:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        row = await conn.fetchrow(
            "select (select count(*) from case_hops where ended_at is null) as open_hops,"
            " (select count(*) from case_hops) as hops, (select count(*) from cases) as cases,"
            " (select count(*) from case_cards) as cards"
        )
        return dict(row)
    finally:
        await conn.close()


# --- the sweep, as the periodic job runs it ------------------------------------------------------


@dataclass
class Statements:
    """Counts what the engine sends, and keeps the first yellow sweep UPDATE with its params."""

    count: int = 0
    yellow_update: tuple[str, Any] | None = None
    kinds: dict[str, int] = field(default_factory=dict)

    def __call__(self, _conn, _cursor, statement: str, parameters: Any, _ctx, _many) -> None:
        self.count += 1
        head = " ".join(statement.split()[:3]).lower()
        self.kinds[head] = self.kinds.get(head, 0) + 1
        if self.yellow_update is None and statement.startswith(
            "UPDATE case_hops SET yellow_carded"
        ):
            self.yellow_update = (statement, parameters)

    def reset(self) -> None:
        self.count = 0
        self.kinds = {}


@dataclass
class SweepRun:
    label: str
    seconds: float
    issued: int
    statements: int
    per_tenant: list[tuple[str, float, int]]
    kinds: dict[str, int]


async def sweep_city(db: Database, stmts: Statements, label: str) -> SweepRun:
    """hub.supervision.jobs.sweep_cards with a stopwatch: one transaction per tenant."""
    stmts.reset()
    t0 = time.perf_counter()
    scope = await system_scope(db)
    now = utcnow()
    per_tenant = []
    issued = 0
    for tenant in (await directory(db)).tenants:
        t1 = time.perf_counter()
        async with db.session(scope.tenant_ids, write=True) as session:
            n = await sweep(session, tenant.id, now, tz=ZoneInfo("Asia/Shanghai"))
            await session.commit()
        per_tenant.append((tenant.code, time.perf_counter() - t1, n))
        issued += n
    return SweepRun(
        label, time.perf_counter() - t0, issued, stmts.count, per_tenant, dict(stmts.kinds)
    )


def show(run: SweepRun) -> None:
    print(
        f"{run.label}: {run.seconds * 1000:,.1f} ms, {run.issued:,} cards issued, "
        f"{run.statements:,} statements"
    )
    print(
        "    per tenant: "
        + ", ".join(f"{code} {s * 1000:.1f}ms/{n}" for code, s, n in run.per_tenant)
    )
    if run.issued:
        top = sorted(run.kinds.items(), key=lambda kv: -kv[1])[:8]
        print("    statements by kind: " + ", ".join(f"{k!r} x{v}" for k, v in top))


async def explain(
    db: Database, stmts: Statements, town: uuid.UUID, label: str, *, generic: bool = False
) -> list[str]:
    """EXPLAIN (ANALYZE, BUFFERS) of the sweep's yellow UPDATE for one town, in the app's own
    transaction (app role, tenant ids: RLS applies), then rolled back: nothing is marked."""
    assert stmts.yellow_update is not None, "no yellow sweep UPDATE seen yet"
    statement, params = stmts.yellow_update
    # Re-bind the UPDATE's own tenant and time (it was captured for whichever tenant came first).
    params = list(params)
    params[int(re.search(r"case_hops\.tenant_id = \$(\d+)", statement)[1]) - 1] = town
    params[int(re.search(r"case_hops\.yellow_at <= \$(\d+)", statement)[1]) - 1] = utcnow()
    scope = await system_scope(db)
    async with db.session(scope.tenant_ids, write=True) as session:
        conn = await session.connection()  # begins: set_config(role, tenant ids)
        raw = (await conn.get_raw_connection()).driver_connection
        if not generic:  # planned with the values, as a custom plan is
            rows = await raw.fetch(f"explain (analyze, buffers) {statement}", *params)
        else:  # a prepared statement's generic plan, as the plan cache may pick after 5 runs
            await raw.execute("set local plan_cache_mode = force_generic_plan")
            await raw.execute(f"prepare bench_sweep_update as {statement}")
            values = ", ".join(_literal(p) for p in params)
            rows = await raw.fetch(
                f"explain (analyze, buffers) execute bench_sweep_update({values})"
            )
            await raw.execute("deallocate bench_sweep_update")
        await session.rollback()
    plan = [r[0] for r in rows]
    print(f"EXPLAIN (ANALYZE, BUFFERS) yellow sweep UPDATE, {BUSIEST_TOWN}, {label}:")
    for line in plan:
        print("    " + line)
    return plan


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, uuid.UUID):
        return f"'{value}'::uuid"
    if isinstance(value, datetime):
        return f"'{value.isoformat()}'::timestamptz"
    raise TypeError(f"no literal for {value!r}")


def plan_ok(plan: list[str]) -> bool:
    text = "\n".join(plan)
    return SWEEP_INDEX in text and "Seq Scan" not in text


async def profiled(fn: Callable[[], Any]) -> Any:
    try:
        from pyinstrument import Profiler
    except ImportError:
        print("--profile: pyinstrument is not installed (.venv/bin/pip install pyinstrument)")
        return await fn()
    profiler = Profiler(async_mode="enabled", interval=0.0005)
    profiler.start()
    try:
        return await fn()
    finally:
        profiler.stop()
        print(profiler.output_text(unicode=True, color=False, show_all=False))


async def measure(args: argparse.Namespace) -> int:
    failures: list[str] = []
    db = Database(args.url)
    stmts = Statements()
    event.listen(db.engine.sync_engine, "before_cursor_execute", stmts)
    try:
        forget_directory(db)
        found = await directory(db)
        town = found.by_code[BUSIEST_TOWN].id

        settle = await sweep_city(db, stmts, "0. settling sweep (untimed)")
        if settle.issued:
            print(f"settling sweep carded {settle.issued:,} hops that crossed since the load")

        idle: list[SweepRun] = []
        for i in range(args.idle_runs):
            idle.append(await sweep_city(db, stmts, f"(a) idle sweep {i + 1}"))
        print()
        for run in idle:
            show(run)
        idle_s = [r.seconds for r in idle]
        steady = statistics.median(idle_s[1:]) if len(idle_s) > 1 else idle_s[0]
        print(
            f"(a) nothing crossed: cold {idle_s[0] * 1000:.1f} ms, "
            f"steady median {steady * 1000:.1f} ms, max {max(idle_s) * 1000:.1f} ms"
        )
        if any(r.issued for r in idle):
            failures.append("an idle sweep issued cards")
        if max(idle_s) > BUDGET_S:
            failures.append(f"idle sweep {max(idle_s):.2f}s > {BUDGET_S}s")

        print()
        plans = {"idle": await explain(db, stmts, town, "nothing crossed")}
        plans["idle, generic"] = await explain(
            db, stmts, town, "nothing crossed, force_generic_plan", generic=True
        )

        print()
        t0 = time.perf_counter()
        moved = await cross(args.url, args.crossing)
        print(
            f"moved {sum(moved.values()):,} hops past yellow in {time.perf_counter() - t0:.2f}s: "
            + ", ".join(f"{k} {v}" for k, v in moved.items())
        )
        print()
        plans["crossed"] = await explain(db, stmts, town, f"{moved.get(BUSIEST_TOWN, 0)} crossed")

        print()
        crossing = (
            await profiled(lambda: sweep_city(db, stmts, "(b) crossing sweep"))
            if args.profile
            else await sweep_city(db, stmts, "(b) crossing sweep")
        )
        show(crossing)
        if crossing.issued != sum(moved.values()):
            failures.append(f"sweep (b) issued {crossing.issued}, expected {sum(moved.values())}")
        if crossing.seconds > BUDGET_S:
            failures.append(f"crossing sweep {crossing.seconds:.2f}s > {BUDGET_S}s")
        again = await sweep_city(db, stmts, "(c) second sweep")
        show(again)
        if again.issued:
            failures.append(f"sweep (c) issued {again.issued} cards")
        if again.seconds > BUDGET_S:
            failures.append(f"second sweep {again.seconds:.2f}s > {BUDGET_S}s")

        for name, plan in plans.items():
            if not plan_ok(plan):
                failures.append(f"the {name} plan does not use {SWEEP_INDEX}")
        print()
        print(
            f"summary: idle {steady * 1000:.1f} ms (cold {idle_s[0] * 1000:.1f} ms); "
            f"crossing {crossing.seconds * 1000:,.1f} ms for {crossing.issued:,} cards "
            f"({crossing.statements:,} statements, "
            f"{crossing.seconds / max(crossing.issued, 1) * 1000:.2f} ms/card); "
            f"second {again.seconds * 1000:.1f} ms, {again.issued} cards; "
            f"sweep index used: {all(plan_ok(p) for p in plans.values())}"
        )
    finally:
        await db.dispose()
    for f in failures:
        print("FAIL:", f)
    if not failures:
        print(f"OK: every sweep within {BUDGET_S}s, and the sweep index is used")
    return 1 if failures and not args.no_fail else 0


async def run(args: argparse.Namespace) -> int:
    print(f"{platform.node()}: {platform.python_version()}, {_cpus()} CPUs")
    print("state:", ", ".join(f"{k} {v:,}" for k, v in (await counts(args.url)).items()))
    return await measure(args)


def _cpus() -> int:
    import os

    return os.cpu_count() or 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="postgresql+asyncpg://postgres@host/db")
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--fresh", action="store_true", help="drop, create, migrate, seed, load")
    parser.add_argument("--crossing", type=int, default=1000, help="hops moved past yellow")
    parser.add_argument("--idle-runs", type=int, default=5)
    parser.add_argument("--chunk", type=int, default=50_000, help="cases per COPY transaction")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--profile", action="store_true", help="pyinstrument over sweep (b)")
    parser.add_argument("--no-fail", action="store_true", help="exit 0 even over the budget")
    args = parser.parse_args()
    if not args.url.startswith("postgresql"):
        raise SystemExit("--url must be a PostgreSQL URL (postgresql+asyncpg://...)")
    if args.crossing < 0 or args.cases < 0 or args.idle_runs < 1:
        raise SystemExit("--cases and --crossing must be >= 0, --idle-runs >= 1")
    if args.fresh or not asyncio.run(has_hops(args.url)):
        t0 = time.perf_counter()
        asyncio.run(prepare_database(args.url, args.fresh))
        upgrade(args.url)  # sync: alembic's env.py runs its own event loop
        asyncio.run(seed(args.url))
        prepared = time.perf_counter() - t0
        print(f"created, migrated and seeded in {prepared:.1f}s")
        loaded = asyncio.run(load(args.url, args.cases, args.chunk, args.seed))
        print(f"load: {args.cases:,} open cases in {loaded:.1f}s (+{prepared:.1f}s setup)")
    sys.exit(asyncio.run(run(args)))


if __name__ == "__main__":
    main()
