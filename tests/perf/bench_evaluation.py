"""monthlyEvaluation over a busy month: 206 members, 100k cases registered in it, their patrols.

    python -m tests.perf.bench_evaluation \
        --url postgresql+asyncpg://postgres@127.0.0.1:5432/sanwang_eval_perf \
        [--cases 100000] [--members 206] [--fresh] [--runs 20] [--seed 2026]

With ``--fresh`` (or when the database holds no case of the month yet) the database is
(re)created, migrated and given the demo world, then loaded through the URL's own connection
(a superuser: COPY past RLS, foreign-key triggers skipped while loading, every id written refers
to a row that exists):

- members: SECONDED members added over the seven towns (generate.TOWN_WEIGHTS) until there are
  ``--members`` in all, every one added a year ago;
- cases: ``--cases`` cases of tests/perf/generate.py's Generator (reports, timeline events,
  statuses, assignees, deadlines), every one registered in the last full local month;
- per member: 12-24 patrols started in the month with 0-3 findings each (a quarter solved on
  site, each on one of the town's cases of the month), a diary text on 15-25 days, 0-3 spot
  checks; a card on 4% of the month's assigned cases (to the assignee); 0-2 ledger items, half
  closed in the month, some carded. VACUUM ANALYZE last.

Then ``monthlyEvaluation`` is measured (no asserts; figures printed): the service call alone
(``hub.evaluation.service.monthly_evaluation`` in a read session, as the resolver runs it) and
the contract's MonthlyEvaluation operation through the whole app (httpx ASGITransport, a JWT),
for ADMIN (the city) and a town's OPERATOR; the SQL statements sent per request with each one's
time; and EXPLAIN (ANALYZE, BUFFERS) of the cases statement inside the app's own transaction
setup (app role, RLS on). Budget: 300 ms for the city.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx
from sqlalchemy import event, text

from hub.app import create_app
from hub.auth import issue_jwt, system_scope
from hub.config import Settings
from hub.db import Database
from hub.evaluation.months import Month
from hub.evaluation.service import monthly_evaluation
from hub.migrations import upgrade
from hub.runtime import Runtime
from tests.operations import op
from tests.perf.generate import (
    CASE_COLUMNS,
    EVENT_COLUMNS,
    LINK_COLUMNS,
    LOADED_TABLES,
    REF_COLUMNS,
    REPORT_COLUMNS,
    TOWN_WEIGHTS,
    Generator,
    asyncpg_dsn,
    load_world,
    prepare_database,
    seed,
    vacuum_analyze,
)

SECRET = "perf-secret-key-not-for-production"
BUDGET_MS = 300.0
DAY = 86_400.0
COLUMNS = {
    "cases": CASE_COLUMNS,
    "reports": REPORT_COLUMNS,
    "case_events": EVENT_COLUMNS,
    "case_external_refs": REF_COLUMNS,
    "case_links": LINK_COLUMNS,
}
PATROL_COLUMNS = (
    "id", "tenant_id", "member_id", "grid_cell_id", "kind", "status", "client_id", "source_ids",
    "started_at", "ended_at", "summary", "track_meters", "point_count", "created_at",
)  # fmt: skip
FINDING_COLUMNS = (
    "id", "tenant_id", "patrol_id", "client_id", "case_id", "resolved_on_site", "data",
    "created_at",
)  # fmt: skip
CARD_COLUMNS = (
    "id", "tenant_id", "case_id", "member_id", "level", "phase", "reason", "automatic",
    "issued_at", "issued_by_id", "issued_by_name",
)  # fmt: skip
DIARY_COLUMNS = ("id", "tenant_id", "member_id", "day", "text", "created_at", "updated_at")
CHECK_COLUMNS = (
    "id", "tenant_id", "member_id", "day", "result", "note", "checked_by", "checked_at",
)  # fmt: skip
LEDGER_COLUMNS = (
    "id", "tenant_id", "number", "kind", "title", "description", "measures", "deadline",
    "responsible_member_id", "status", "percent", "card", "carded_at", "opened_by", "opened_at",
    "closed_by", "closed_at",
)  # fmt: skip


def last_full_month(tz: ZoneInfo) -> Month:
    today = datetime.now(tz).date().replace(day=1) - timedelta(days=1)
    return Month(today.year, today.month)


# --- loading --------------------------------------------------------------------------------------


async def add_members(conn: asyncpg.Connection, target: int, rnd: random.Random) -> int:
    towns = await conn.fetch(
        "select t.id, t.code, c.id as cell from tenants t join grid_cells c"
        " on c.tenant_id = t.id and c.level = 2 where t.kind = 'TOWN' order by t.code"
    )
    have = await conn.fetchval("select count(*) from members")
    await conn.execute("update members set created_at = now() - interval '1 year'")
    rows = []
    weights = list(TOWN_WEIGHTS[: len(towns)])
    for k in range(max(target - have, 0)):
        town = rnd.choices(towns, weights=weights)[0]
        rows.append(
            (uuid.uuid4(), town["id"], f"考核{k:03d}", "SECONDED", None, town["cell"], True,
             f"PERF{k:04d}", datetime.now(UTC) - timedelta(days=365))
        )  # fmt: skip
    if rows:
        await conn.copy_records_to_table(
            "members",
            records=rows,
            columns=(
                "id", "tenant_id", "name", "role", "phone", "grid_cell_id", "active",
                "external_id", "created_at",
            ),
        )  # fmt: skip
    return have + len(rows)


async def load_cases(
    conn: asyncpg.Connection, n: int, month: Month, tz: ZoneInfo, seed_value: int
) -> None:
    """n cases registered in the month: generate.py's rows with creation times in it."""
    start, end = month.bounds(tz)
    w = await load_world(conn)
    gen = Generator(w, n, seed_value, end - timedelta(seconds=1), "XM", tz)
    span = (end - start).total_seconds() - 2
    gen.ages = sorted((span * gen.rnd.random() for _ in range(n)), reverse=True)
    started = time.perf_counter()
    for a in range(0, n, 10_000):
        rows = gen.chunk(a, min(n, a + 10_000))
        async with conn.transaction():
            for table in LOADED_TABLES:
                if rows[table]:
                    await conn.copy_records_to_table(
                        table, records=rows[table], columns=COLUMNS[table]
                    )
        print(f"  {min(n, a + 10_000):>9,}/{n:,} cases  {time.perf_counter() - started:.1f}s")
    for scope, value in w.counters.items():
        await conn.execute(
            "insert into case_counters (scope, value) values ($1, $2) on conflict (scope)"
            " do update set value = greatest(case_counters.value, excluded.value)",
            scope,
            value,
        )


async def load_people_records(
    conn: asyncpg.Connection, month: Month, tz: ZoneInfo, rnd: random.Random
) -> dict[str, int]:
    start, end = month.bounds(tz)
    span = (end - start).total_seconds()
    members = await conn.fetch("select id, tenant_id, grid_cell_id from members where active")
    cases = await conn.fetch(
        "select id, tenant_id, assignee_id, created_at from cases"
        " where created_at >= $1 and created_at < $2",
        start,
        end,
    )
    by_town: dict[uuid.UUID, list[uuid.UUID]] = {}
    for c in cases:
        by_town.setdefault(c["tenant_id"], []).append(c["id"])
    patrols, findings, diaries, checks, ledgers, cards = [], [], [], [], [], []
    days = (month.next_first_day - month.first_day).days
    for m in members:
        town_cases = by_town.get(m["tenant_id"]) or []
        for k in range(rnd.randint(12, 24)):
            pid = uuid.uuid4()
            at = start + timedelta(seconds=span * rnd.random())
            patrols.append(
                (pid, m["tenant_id"], m["id"], m["grid_cell_id"], "ROUTINE", "ENDED",
                 f"p-{pid.hex[:12]}-{k}", "[]", at, at + timedelta(hours=1), "巡查结束",
                 1800.0, 40, at)
            )  # fmt: skip
            for f in range(rnd.choice((0, 0, 1, 1, 2, 3))):
                if not town_cases:
                    break
                findings.append(
                    (uuid.uuid4(), m["tenant_id"], pid, f"f-{f}", rnd.choice(town_cases),
                     rnd.random() < 0.25, "{}", at + timedelta(minutes=10 + f))
                )  # fmt: skip
        for d in rnd.sample(range(days), min(days, rnd.randint(15, 25))):
            day = month.first_day + timedelta(days=d)
            diaries.append(
                (uuid.uuid4(), m["tenant_id"], m["id"], day, "巡查辖区企业两家", end, end)
            )  # fmt: skip
        for d in rnd.sample(range(days), rnd.randint(0, 3)):
            day = month.first_day + timedelta(days=d)
            result = "PASS" if rnd.random() < 0.8 else "FAIL"
            checks.append((uuid.uuid4(), m["tenant_id"], m["id"], day, result, "抽查", "督查", end))
        for k in range(rnd.randint(0, 2)):
            deadline = month.first_day + timedelta(days=rnd.randrange(days))
            closed = rnd.random() < 0.5
            closed_at = start + timedelta(seconds=span * rnd.random()) if closed else None
            card = rnd.choice((None, None, "YELLOW", "RED"))
            ledgers.append(
                (uuid.uuid4(), m["tenant_id"], f"TZ-P-{m['id'].hex[:8]}-{k}", "RECTIFICATION",
                 "限期整改", "整改", "[]", deadline, m["id"], "CLOSED" if closed else "OPEN",
                 100 if closed else 30, card, start + timedelta(days=3) if card else None,
                 "网格办", start - timedelta(days=10), "网格办" if closed else None, closed_at)
            )  # fmt: skip
    for c in cases:
        if c["assignee_id"] and rnd.random() < 0.04:
            level = "RED" if rnd.random() < 0.25 else "YELLOW"
            cards.append(
                (uuid.uuid4(), c["tenant_id"], c["id"], c["assignee_id"], level, "HANDLE",
                 "超期未办结", True, c["created_at"] + timedelta(days=5), "system", "系统")
            )  # fmt: skip
    for table, columns, rows in (
        ("patrols", PATROL_COLUMNS, patrols),
        ("patrol_findings", FINDING_COLUMNS, findings),
        ("work_diaries", DIARY_COLUMNS, diaries),
        ("spot_checks", CHECK_COLUMNS, checks),
        ("ledger_items", LEDGER_COLUMNS, ledgers),
        ("case_cards", CARD_COLUMNS, cards),
    ):
        await conn.copy_records_to_table(table, records=rows, columns=columns)
    for table in ("patrols", "patrol_findings", "work_diaries", "spot_checks", "ledger_items",
                  "case_cards", "members"):  # fmt: skip
        await conn.execute(f"vacuum (analyze) {table}")
    return {
        "patrols": len(patrols),
        "findings": len(findings),
        "diaries": len(diaries),
        "spot checks": len(checks),
        "ledger items": len(ledgers),
        "cards": len(cards),
    }


async def prepare(args: argparse.Namespace, month: Month, tz: ZoneInfo) -> None:
    await prepare_database(args.url, args.fresh)
    await asyncio.to_thread(upgrade, args.url)
    conn = await asyncpg.connect(asyncpg_dsn(args.url))
    try:
        start, end = month.bounds(tz)
        if not await conn.fetchval("select count(*) from tenants"):
            await seed(args.url)
        in_month = await conn.fetchval(
            "select count(*) from cases where created_at >= $1 and created_at < $2", start, end
        )
        if in_month >= args.cases:
            print(f"{in_month:,} cases of {month.text} already there: not loading")
            return
        rnd = random.Random(args.seed)
        await conn.execute("set session_replication_role = replica")
        await conn.execute("set synchronous_commit = off")
        print(f"members: {await add_members(conn, args.members, rnd)}")
        t0 = time.perf_counter()
        await load_cases(conn, args.cases, month, tz, args.seed)
        made = await load_people_records(conn, month, tz, rnd)
        print(
            f"loaded in {time.perf_counter() - t0:.1f}s: "
            + ", ".join(f"{k} {v:,}" for k, v in made.items())
        )
        await conn.execute("set session_replication_role = origin")
        await conn.execute("set synchronous_commit = on")
        await vacuum_analyze(conn)
    finally:
        await conn.close()


# --- measuring ------------------------------------------------------------------------------------


async def timed(
    call: Callable[[], Awaitable[Any]], runs: int, warmup: int = 3
) -> tuple[list[float], float]:
    """Wall milliseconds of each run, and this process's CPU milliseconds per run."""
    for _ in range(warmup):
        await call()
    found = []
    cpu = time.process_time()
    for _ in range(runs):
        t0 = time.perf_counter()
        await call()
        found.append((time.perf_counter() - t0) * 1000)
    return found, (time.process_time() - cpu) * 1000 / runs


def line(label: str, measured: tuple[list[float], float]) -> str:
    ms, cpu = sorted(measured[0]), measured[1]
    p95 = ms[min(len(ms) - 1, int(len(ms) * 0.95))]
    verdict = "within" if statistics.median(ms) < BUDGET_MS else "OVER"
    return (
        f"  {label:<44} min {ms[0]:7.1f}  p50 {statistics.median(ms):7.1f}  p95 {p95:7.1f}  "
        f"max {ms[-1]:7.1f} ms  Python CPU {cpu:6.1f} ms  ({verdict} {BUDGET_MS:.0f} ms at p50)"
    )


async def backend_cpu(url: str, start: datetime, end: datetime, runs: int = 10) -> None:
    """The cases statement's CPU in its PostgreSQL backend (/proc/<pid>/stat), parallel workers
    off so all of it is in that one process: what it costs without the other tenants of this
    machine's two cores (the wall times above include their load)."""
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await conn.execute("set max_parallel_workers_per_gather = 0")
        pid = await conn.fetchval("select pg_backend_pid()")
        tick = os.sysconf("SC_CLK_TCK")

        def cpu() -> float:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / tick

        args = (await conn.fetchval("select array_agg(id) from tenants"), start, end)
        await conn.fetch(CASES_SQL, *args)
        c0, t0 = cpu(), time.perf_counter()
        for _ in range(runs):
            await conn.fetch(CASES_SQL, *args)
        used, wall = (cpu() - c0) * 1000 / runs, (time.perf_counter() - t0) * 1000 / runs
        print(
            f"\ncases statement, one backend, no parallel workers: CPU {used:.0f} ms, wall "
            f"{wall:.0f} ms per run ({runs} runs; /proc is local: the server must run here)"
        )
    finally:
        await conn.close()


async def run(args: argparse.Namespace) -> None:
    tz = ZoneInfo("Asia/Shanghai")
    month = Month(*map(int, args.month.split("-"))) if args.month else last_full_month(tz)
    await prepare(args, month, tz)
    settings = Settings(database_url=args.url, secret_key=SECRET, _env_file=None)
    db = Database(args.url, app_role=settings.app_role, pool_size=settings.db_pool_size)
    app = create_app(Runtime.start(settings, db))
    key = settings.signing_key()
    scope = await system_scope(db)
    conn = await asyncpg.connect(asyncpg_dsn(args.url))
    start, end = month.bounds(tz)
    counts = {
        t: await conn.fetchval(f"select count(*) from {t}")
        for t in ("members", "cases", "patrols", "patrol_findings", "case_cards", "work_diaries")
    }
    in_month = await conn.fetchval(
        "select count(*) from cases where created_at >= $1 and created_at < $2", start, end
    )
    version = (await conn.fetchval("select version()")).split(" on ")[0]
    await conn.close()
    print(
        f"\nmonth {month.text}: {in_month:,} cases registered in it; "
        + ", ".join(f"{k} {v:,}" for k, v in counts.items())
        + f"\n{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; "
        f"Python {platform.python_version()}; {version}"
    )

    async def service_call() -> Any:
        async with db.session(scope.tenant_ids) as session:
            return await monthly_evaluation(session, scope, month.text, None, tz=tz)

    found = await service_call()
    print(f"rows: {len(found.rows)}; top: " + ", ".join(
        f"{r.member.name} {r.score} (#{r.rank})" for r in found.rows[:3]
    ))  # fmt: skip
    print(f"\nmonthlyEvaluation, {args.runs} runs after 3 warm-up:")
    print(line("service call, city (ADMIN scope)", await timed(service_call, args.runs)))
    query = op("MonthlyEvaluation")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://hub.perf") as http:
        for label, token in (
            ("GraphQL MonthlyEvaluation, ADMIN (city)",
             issue_jwt(key, "perf-admin", ["ADMIN"], [])),
            ("GraphQL MonthlyEvaluation, OPERATOR laiji",
             issue_jwt(key, "perf-op", ["OPERATOR"], ["laiji"])),
        ):  # fmt: skip
            headers = {"Authorization": f"Bearer {token}"}
            body = {"query": query, "variables": {"month": month.text}}

            async def request(headers: dict[str, str] = headers, body: Any = body) -> Any:
                response = await http.post("/graphql", json=body, headers=headers)
                payload = response.json()
                assert not payload.get("errors"), payload
                return payload

            payload = await request()
            rows = len(payload["data"]["monthlyEvaluation"]["rows"])
            print(line(f"{label} ({rows} rows)", await timed(request, args.runs)))

    # The statements of one service call, each with its time.
    seen: list[tuple[str, float]] = []
    started: dict[int, float] = {}

    def before(_c: Any, cursor: Any, statement: str, *_: Any) -> None:
        started[id(cursor)] = time.perf_counter()

    def after(_c: Any, cursor: Any, statement: str, *_: Any) -> None:
        seen.append((statement, (time.perf_counter() - started.pop(id(cursor))) * 1000))

    event.listen(db.engine.sync_engine, "before_cursor_execute", before)
    event.listen(db.engine.sync_engine, "after_cursor_execute", after)
    await service_call()
    event.remove(db.engine.sync_engine, "before_cursor_execute", before)
    event.remove(db.engine.sync_engine, "after_cursor_execute", after)
    print(f"\nSQL statements in one service call: {len(seen)}")
    for statement, ms in seen:
        words = " ".join(statement.split())
        print(f"  {ms:7.1f} ms  {words[:110]}")
    await explain(db, scope.tenant_ids, start, end)
    await backend_cpu(args.url, start, end)
    await db.dispose()


CASES_SQL = (
    "select assignee_id, sum(case when resolved_at is not null then 1 else 0 end),"
    " sum(case when resolved_at is not null and (due_at is null or resolved_at <= due_at)"
    " then 1 else 0 end),"
    " sum(case when status in ('REGISTERED','DISPATCHED','HANDLING','UNDER_REVIEW')"
    " and due_at < now() then 1 else 0 end)"
    " from cases where tenant_id = any($1::uuid[]) and created_at >= $2"
    " and created_at < $3 and assignee_id is not null group by assignee_id"
)


async def explain(db: Database, tenant_ids: Any, start: datetime, end: datetime) -> None:
    """EXPLAIN ANALYZE of the cases statement (as the service sends it, written out) in the
    app's own transaction: the app role, the tenant setting, RLS on."""
    async with db.session(tenant_ids) as session:
        await session.execute(text("select 1"))  # begins: role and tenant ids are set
        raw = await (await session.connection()).get_raw_connection()
        driver = raw.driver_connection
        assert driver is not None
        plan = await driver.fetch(
            "explain (analyze, buffers, costs off) " + CASES_SQL, list(tenant_ids), start, end
        )
    print("\nEXPLAIN (ANALYZE, BUFFERS) of the cases statement (app role, RLS on):")
    for row in plan:
        print("  " + row[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--members", type=int, default=206)
    parser.add_argument("--month", help="YYYY-MM (default: the last full local month)")
    parser.add_argument("--fresh", action="store_true")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=2026)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
