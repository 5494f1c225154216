"""Fill a PostgreSQL database with a year of cases for benchmarks.

    python -m tests.perf.generate --url postgresql+asyncpg://postgres@127.0.0.1:5432/sanwang_perf \
        [--cases 100000] [--fresh] [--seed 2026] [--chunk 10000]

The database is migrated (hub.migrations.upgrade) and seeded (seed_demo) first, then N cases are
bulk loaded with COPY (asyncpg copy_records_to_table, binary) through the URL's own connection,
which must be a superuser: it bypasses RLS, and foreign-key triggers are skipped while loading
(session_replication_role = replica; every id written refers to a row that exists). Each case has
1-3 reports and 2-6 timeline events, is spread over the seven towns (unevenly, as real towns
are), over the last year (newest cases more often still open), over statuses, categories,
priorities, cards and channels; dispatched cases have an assignee, accept_due_at and due_at.
Numbers are XM-<year of creation>-NNNNNN in creation order, continuing the case_counters, which
are left at the highest number used. A rerun without --fresh appends. Ends with VACUUM ANALYZE
(as autovacuum would, so that the visibility map is set for index-only scans).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import time
import uuid
from bisect import bisect
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from zoneinfo import ZoneInfo

import asyncpg
from sqlalchemy.engine import make_url

from hub.cases.enums import CaseStatus, Category, Channel, EventKind, channel_bit
from hub.config import Settings
from hub.db import Database
from hub.demo import world
from hub.demo.seed import seed_demo
from hub.migrations import upgrade

DAY = 86_400.0
HOUR = 3_600.0
FEEDBACK_CHANNELS = {Channel.HOTLINE, Channel.PLATFORM, Channel.OTHER}
LOADED_TABLES = ("cases", "reports", "case_events", "case_external_refs", "case_links")

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
    "source_id",
    "merged_into_id",
    "address",
    "latitude",
    "longitude",
    "created_at",
    "updated_at",
    "accept_due_at",
    "due_at",
    "resolved_at",
    "closed_at",
)
REPORT_COLUMNS = (
    "id",
    "tenant_id",
    "case_id",
    "channel",
    "external_id",
    "received_at",
    "occurred_at",
    "title",
    "description",
    "category",
    "reporter_name",
    "reporter_phone",
    "anonymous",
    "address",
    "latitude",
    "longitude",
    "source_id",
    "payload",
    "outcome",
    "outcome_reason",
    "created_at",
)
EVENT_COLUMNS = (
    "id",
    "tenant_id",
    "case_id",
    "at",
    "action",
    "from_status",
    "to_status",
    "note",
    "actor_id",
    "actor_name",
    "data",
)
REF_COLUMNS = ("id", "tenant_id", "case_id", "system", "external_id")
LINK_COLUMNS = ("id", "tenant_id", "case_id", "other_case_id", "kind", "created_at")

# Towns are not equally busy: weights in world.TOWNS order.
TOWN_WEIGHTS = (22, 18, 15, 14, 12, 10, 9)
CHANNEL_WEIGHTS = {
    Channel.HOTLINE: 35,
    Channel.PLATFORM: 25,
    Channel.GRID: 25,
    Channel.MONITORING: 10,
    Channel.OTHER: 5,
}
CATEGORY_WEIGHTS = {
    Category.AIR: 22,
    Category.DUST: 20,
    Category.NOISE: 18,
    Category.WATER: 14,
    Category.SOLID_WASTE: 12,
    Category.VEHICLE: 6,
    Category.SOIL: 3,
    Category.OTHER: 5,
}
INDUSTRY_CATEGORIES = {
    "REFRACTORY": (Category.DUST, Category.AIR),
    "CEMENT": (Category.DUST, Category.AIR, Category.NOISE),
    "POWER": (Category.AIR, Category.NOISE),
    "PAPER": (Category.WATER, Category.AIR),
    "MILLING": (Category.NOISE, Category.DUST),
}
PROBLEMS = {
    Category.AIR: ("夜间偷排废气", "烟囱冒黑烟", "刺鼻异味扰民", "露天焚烧秸秆"),
    Category.DUST: ("工地扬尘严重", "物料堆场未苫盖", "道路扬尘", "破碎作业粉尘大"),
    Category.NOISE: ("夜间施工噪声", "机器轰鸣扰民", "商铺高音喇叭", "运输车辆鸣笛"),
    Category.WATER: ("河道排污", "污水直排入沟", "河水发黑发臭", "养殖废水外溢"),
    Category.SOLID_WASTE: ("建筑垃圾乱倒", "工业固废堆放", "生活垃圾焚烧", "危废暂存不规范"),
    Category.VEHICLE: ("渣土车冒黑烟", "重型柴油车尾气", "非道路机械冒烟"),
    Category.SOIL: ("农田被倾倒废渣", "厂区土壤污染"),
    Category.OTHER: ("环境问题咨询", "其他环境问题"),
}
FINAL = {CaseStatus.CLOSED, CaseStatus.MERGED, CaseStatus.REJECTED}


# --- the world the cases live in -------------------------------------------------------------


@dataclass
class TownData:
    code: str
    name: str
    tenant_id: uuid.UUID
    box: tuple[float, float, float, float]
    cells: list[tuple[uuid.UUID, str]]  # village cells (id, name)
    town_cell: uuid.UUID
    gridmen: dict[uuid.UUID, tuple[uuid.UUID, str]]  # village cell -> (member id, name)
    staff: list[tuple[uuid.UUID, str]]  # chief and seconded
    sources: list[tuple[uuid.UUID, str, str, str, float, float, uuid.UUID | None]]
    villages: tuple[str, ...]


@dataclass
class World:
    towns: list[TownData]
    city_id: uuid.UUID
    counters: dict[str, int] = field(default_factory=dict)


async def load_world(conn: asyncpg.Connection) -> World:
    tenants = {r["code"]: r["id"] for r in await conn.fetch("select code, id from tenants")}
    cells = await conn.fetch("select id, tenant_id, code, name, level from grid_cells")
    members = await conn.fetch("select id, tenant_id, name, role, grid_cell_id from members")
    sources = await conn.fetch(
        "select id, tenant_id, name, industry, address, latitude, longitude, grid_cell_id"
        " from sources"
    )
    towns = []
    for town in world.TOWNS:
        tid = tenants[town.code]
        own_cells = [c for c in cells if c["tenant_id"] == tid]
        villages = sorted((c for c in own_cells if c["level"] == 3), key=lambda c: c["code"])
        own_members = [m for m in members if m["tenant_id"] == tid]
        towns.append(
            TownData(
                code=town.code,
                name=town.name,
                tenant_id=tid,
                box=town.box,
                cells=[(c["id"], c["name"]) for c in villages],
                town_cell=next(c["id"] for c in own_cells if c["level"] == 2),
                gridmen={
                    m["grid_cell_id"]: (m["id"], m["name"])
                    for m in own_members
                    if m["role"] == "GRIDMAN"
                },
                staff=[(m["id"], m["name"]) for m in own_members if m["role"] != "GRIDMAN"],
                sources=[
                    (
                        s["id"],
                        s["name"],
                        s["industry"],
                        s["address"],
                        s["latitude"],
                        s["longitude"],
                        s["grid_cell_id"],
                    )
                    for s in sources
                    if s["tenant_id"] == tid
                ],
                villages=town.villages,
            )
        )
    counters = {r["scope"]: r["value"] for r in await conn.fetch("select * from case_counters")}
    return World(towns, tenants[world.CITY_CODE], counters)


# --- one case and its rows --------------------------------------------------------------------


def _chooser(weights: dict | tuple, rnd: random.Random):
    items = list(weights) if isinstance(weights, dict) else list(range(len(weights)))
    cum = list(accumulate(weights.values() if isinstance(weights, dict) else weights))
    total = cum[-1]
    return lambda: items[bisect(cum, rnd.random() * total)]


def _status_for(age_days: float, rnd: random.Random) -> CaseStatus:
    """Newer cases are more often still open; a year-old one is nearly always final."""
    r = rnd.random()
    if age_days < 3:
        table = (
            (0.25, CaseStatus.REGISTERED),
            (0.55, CaseStatus.DISPATCHED),
            (0.85, CaseStatus.HANDLING),
            (0.93, CaseStatus.UNDER_REVIEW),
            (0.97, CaseStatus.REJECTED),
            (1.0, CaseStatus.MERGED),
        )
    elif age_days < 30:
        table = (
            (0.03, CaseStatus.REGISTERED),
            (0.12, CaseStatus.DISPATCHED),
            (0.35, CaseStatus.HANDLING),
            (0.45, CaseStatus.UNDER_REVIEW),
            (0.58, CaseStatus.RESOLVED),
            (0.66, CaseStatus.FEEDBACK_GIVEN),
            (0.93, CaseStatus.CLOSED),
            (0.97, CaseStatus.REJECTED),
            (1.0, CaseStatus.MERGED),
        )
    else:
        table = (
            (0.005, CaseStatus.DISPATCHED),
            (0.02, CaseStatus.HANDLING),
            (0.03, CaseStatus.UNDER_REVIEW),
            (0.05, CaseStatus.RESOLVED),
            (0.07, CaseStatus.FEEDBACK_GIVEN),
            (0.94, CaseStatus.CLOSED),
            (0.97, CaseStatus.REJECTED),
            (1.0, CaseStatus.MERGED),
        )
    for edge, status in table:
        if r < edge:
            return status
    return CaseStatus.CLOSED


_PATH = {  # the workflow transitions a case went through to reach its status
    CaseStatus.REGISTERED: (),
    CaseStatus.DISPATCHED: ((EventKind.DISPATCH, "REGISTERED", "DISPATCHED"),),
    CaseStatus.HANDLING: (
        (EventKind.DISPATCH, "REGISTERED", "DISPATCHED"),
        (EventKind.ACCEPT, "DISPATCHED", "HANDLING"),
    ),
    CaseStatus.UNDER_REVIEW: (
        (EventKind.DISPATCH, "REGISTERED", "DISPATCHED"),
        (EventKind.ACCEPT, "DISPATCHED", "HANDLING"),
        (EventKind.SUBMIT, "HANDLING", "UNDER_REVIEW"),
    ),
    CaseStatus.RESOLVED: (
        (EventKind.DISPATCH, "REGISTERED", "DISPATCHED"),
        (EventKind.ACCEPT, "DISPATCHED", "HANDLING"),
        (EventKind.SUBMIT, "HANDLING", "UNDER_REVIEW"),
        (EventKind.APPROVE, "UNDER_REVIEW", "RESOLVED"),
    ),
    CaseStatus.FEEDBACK_GIVEN: (
        (EventKind.DISPATCH, "REGISTERED", "DISPATCHED"),
        (EventKind.SUBMIT, "HANDLING", "UNDER_REVIEW"),
        (EventKind.APPROVE, "UNDER_REVIEW", "RESOLVED"),
        (EventKind.FEEDBACK, "RESOLVED", "FEEDBACK_GIVEN"),
    ),
    CaseStatus.CLOSED: (
        (EventKind.DISPATCH, "REGISTERED", "DISPATCHED"),
        (EventKind.SUBMIT, "HANDLING", "UNDER_REVIEW"),
        (EventKind.APPROVE, "UNDER_REVIEW", "RESOLVED"),
        (EventKind.CLOSE, "RESOLVED", "CLOSED"),
    ),
    CaseStatus.REJECTED: ((EventKind.REJECT, "REGISTERED", "REJECTED"),),
    CaseStatus.MERGED: ((EventKind.MERGE, "REGISTERED", "MERGED"),),
}
_DISPATCHED = {
    CaseStatus.DISPATCHED, CaseStatus.HANDLING, CaseStatus.UNDER_REVIEW, CaseStatus.RESOLVED,
    CaseStatus.FEEDBACK_GIVEN, CaseStatus.CLOSED,
}  # fmt: skip
_NOTES = {
    EventKind.DISPATCH: "请属地尽快核查处置",
    EventKind.ACCEPT: "已签收",
    EventKind.SUBMIT: "已现场核查并责令整改",
    EventKind.APPROVE: "审核通过",
    EventKind.FEEDBACK: None,
    EventKind.CLOSE: "结案",
    EventKind.REJECT: "不属于环保部门职责",
    EventKind.MERGE: "重复件合并",
    EventKind.URGE: "请加快办理",
    EventKind.PROGRESS: "正在协调相关企业整改",
}


class Generator:
    """Builds rows chunk by chunk; a given --seed gives the same data (relative to now)."""

    def __init__(self, w: World, n: int, seed: int, now: datetime, prefix: str, tz: ZoneInfo):
        self.w, self.now, self.prefix, self.tz = w, now, prefix, tz
        self.rnd = rnd = random.Random(seed)
        self.tag = f"{seed:x}{rnd.getrandbits(24):06x}"  # keeps external ids unique per run
        # Creation times over the past year, a little busier recently, sorted (numbers follow).
        span = 365 * DAY
        self.ages = sorted((span * rnd.random() ** 1.15 for _ in range(n)), reverse=True)
        self.pick_town = _chooser(TOWN_WEIGHTS, rnd)
        self.pick_channel = _chooser(CHANNEL_WEIGHTS, rnd)
        self.pick_category = _chooser(CATEGORY_WEIGHTS, rnd)
        self.last_case: dict[uuid.UUID, uuid.UUID] = {}  # tenant -> latest case (merge target)
        self.seq = 0

    def uid(self) -> uuid.UUID:
        return uuid.UUID(int=self.rnd.getrandbits(128), version=4)

    def number(self, created: datetime) -> str:
        scope = f"{self.prefix}-{created.astimezone(self.tz).year}"
        value = self.w.counters.get(scope, 0) + 1
        self.w.counters[scope] = value
        return f"{scope}-{value:06d}"

    def chunk(self, start: int, stop: int) -> dict[str, list[tuple]]:
        rows: dict[str, list[tuple]] = {t: [] for t in LOADED_TABLES}
        for i in range(start, stop):
            self.case(self.ages[i], rows)
        return rows

    def case(self, age: float, rows: dict[str, list[tuple]]) -> None:
        rnd, now = self.rnd, self.now
        self.seq += 1
        town = self.w.towns[self.pick_town()]
        tid = town.tenant_id
        created = now - timedelta(seconds=age)
        status = _status_for(age / DAY, rnd)
        case_id = self.uid()

        source = None
        if town.sources and rnd.random() < 0.35:
            source = town.sources[int(rnd.random() * len(town.sources))]
            cats = INDUSTRY_CATEGORIES.get(source[2], (Category.AIR,))
            category = cats[int(rnd.random() * len(cats))]
        else:
            category = self.pick_category()
        vi = int(rnd.random() * len(town.cells))
        cell_id, _cell_name = town.cells[vi]
        if source is not None:
            lon, lat = source[5], source[4]
            address = source[3]
            cell_id = source[6] or cell_id
        else:
            lon0, lat0, lon1, lat1 = town.box
            lon = round(lon0 + (lon1 - lon0) * rnd.random(), 6)
            lat = round(lat0 + (lat1 - lat0) * rnd.random(), 6)
            house = 1 + int(rnd.random() * 300)
            address = f"河南省郑州市新密市{town.name}{town.villages[vi]}{house}号附近"
        if rnd.random() < 0.05:
            cell_id = town.town_cell
        problem = PROBLEMS[category][int(rnd.random() * len(PROBLEMS[category]))]
        title = f"{town.villages[vi]}{problem}"
        description = f"群众反映{address}{problem}，持续多日，请尽快处理。"
        urgent = rnd.random() < 0.08
        priority = "URGENT" if urgent else "NORMAL"

        # The reports: the first opened the case, the others attached to it.
        n_reports = 1 + (rnd.random() < 0.3) + (rnd.random() < 0.12)
        mask, needs_feedback = 0, False
        report_times = [created]
        for _ in range(n_reports - 1):
            report_times.append(created + timedelta(seconds=min(age, 3 * DAY) * rnd.random()))
        report_times.sort()
        for k, received in enumerate(report_times):
            channel = self.pick_channel()
            if source is None and channel == Channel.MONITORING:
                channel = Channel.HOTLINE
            mask |= channel_bit(channel)
            hotline = channel in (Channel.HOTLINE, Channel.PLATFORM)
            phone = f"13{rnd.getrandbits(30) % 1_000_000_000:09d}" if hotline else None
            name = world.PEOPLE[int(rnd.random() * len(world.PEOPLE))] if hotline else None
            anonymous = hotline and rnd.random() < 0.1
            if channel in FEEDBACK_CHANNELS or phone:
                needs_feedback = True
            external = None
            if channel in (Channel.HOTLINE, Channel.PLATFORM, Channel.MONITORING):
                external = f"{channel.value[:2]}-{self.tag}-{self.seq:07d}-{k}"
            payload = json.dumps(
                {"channel": channel.value, "title": title, "category": category.value},
                ensure_ascii=False,
            )
            rows["reports"].append(
                (
                    self.uid(),
                    tid,
                    case_id,
                    channel.value,
                    external,
                    received,
                    received - timedelta(minutes=30),
                    title,
                    description,
                    category.value,
                    name,
                    phone,
                    anonymous,
                    address,
                    lat,
                    lon,
                    source[0] if source else None,
                    payload,
                    "OPENED" if k == 0 else "ATTACHED",
                    "routed by point" if k == 0 else "same source and category within 72 hours",
                    received,
                )
            )
            if channel == Channel.PLATFORM and external:
                rows["case_external_refs"].append((self.uid(), tid, case_id, "platform", external))

        # The timeline: REGISTER, attached reports, the workflow path, urges and notes.
        path = list(_PATH[status])
        extras = [EventKind.REPORT_ATTACHED] * (n_reports - 1)
        target = 2 + int(rnd.random() * 5)  # 2..6
        while 1 + len(path) + len(extras) < target:
            extras.append(EventKind.URGE if rnd.random() < 0.5 else EventKind.PROGRESS)
        while 1 + len(path) + len(extras) > 6:
            if extras:
                extras.pop()
            else:
                path.pop(1 if len(path) > 2 else 0)
        # Steps happen over a stretch that fits in the case's age.
        stretch = min(age, (2 + 20 * rnd.random()) * DAY)
        n_steps = len(path) + len(extras)
        offsets = sorted(stretch * rnd.random() for _ in range(n_steps))
        actor = ("hotline:12369", "12369热线")
        events = [(created, EventKind.REGISTER, None, "REGISTERED", None, actor)]
        steps = [(None, kind) for kind in extras] + [(t, None) for t in path]
        rnd.shuffle(steps)
        # Keep workflow transitions in their order; extras land in between.
        it_path = iter(path)
        dispatched_at = resolved_at = closed_at = None
        assignee = None
        if status in _DISPATCHED:
            gm = town.gridmen.get(cell_id)
            assignee = gm or town.staff[int(rnd.random() * len(town.staff))]
        for off, (_trans, kind) in zip(offsets, steps, strict=True):
            at = created + timedelta(seconds=off)
            if kind is not None:
                who = (str(assignee[0]), assignee[1]) if assignee else ("dispatcher", "指挥中心")
                events.append((at, kind, None, None, _NOTES.get(kind), who))
                continue
            kind, frm, to = next(it_path)
            who = ("dispatcher", "指挥中心")
            if kind in (EventKind.ACCEPT, EventKind.SUBMIT) and assignee:
                who = (str(assignee[0]), assignee[1])
            if kind == EventKind.DISPATCH:
                dispatched_at = at
            elif kind == EventKind.APPROVE:
                resolved_at = at
            elif kind in (EventKind.CLOSE, EventKind.REJECT, EventKind.MERGE):
                closed_at = at
            events.append((at, kind, frm, to, _NOTES.get(kind), who))
        if status in _DISPATCHED and dispatched_at is None:
            dispatched_at = created + timedelta(seconds=min(age, HOUR) * rnd.random())
        if status in (CaseStatus.RESOLVED, CaseStatus.FEEDBACK_GIVEN, CaseStatus.CLOSED):
            resolved_at = resolved_at or events[-1][0]
        if status in FINAL:
            closed_at = closed_at or events[-1][0]
        for at, kind, frm, to, note, who in events:
            data = (
                "{}"
                if kind != EventKind.DISPATCH
                else json.dumps(
                    {
                        "to": town.code,
                        "gridCell": str(cell_id),
                        "assignee": assignee[1] if assignee else None,
                    },
                    ensure_ascii=False,
                )
            )
            rows["case_events"].append(
                (self.uid(), tid, case_id, at, kind.value, frm, to, note, who[0], who[1], data)
            )

        accept_due = due = None
        if dispatched_at is not None:
            accept_due = dispatched_at + timedelta(hours=2)
            due = dispatched_at + timedelta(days=2 if urgent else 5)
        card = "NONE"
        if due is not None and status not in FINAL and due < now:
            r = rnd.random()
            card = "RED" if r < 0.1 else "YELLOW" if r < 0.4 else "NONE"
        merged_into = None
        if status == CaseStatus.MERGED:
            merged_into = self.last_case.get(tid)
            if merged_into is not None:
                link_at = closed_at or created
                rows["case_links"].append(
                    (self.uid(), tid, case_id, merged_into, "DUPLICATE", link_at)
                )
                rows["case_links"].append(
                    (self.uid(), tid, merged_into, case_id, "DUPLICATE", link_at)
                )
        else:
            self.last_case[tid] = case_id
        rows["cases"].append(
            (
                case_id,
                tid,
                self.number(created),
                title,
                description,
                status.value,
                category.value,
                priority,
                card,
                mask,
                n_reports,
                needs_feedback,
                cell_id,
                assignee[0] if assignee else None,
                source[0] if source else None,
                merged_into,
                address,
                lat,
                lon,
                created,
                events[-1][0],
                accept_due,
                due,
                resolved_at,
                closed_at,
            )
        )


# --- the database -----------------------------------------------------------------------------


def asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def prepare_database(url: str, fresh: bool) -> None:
    u = make_url(url)
    admin = await asyncpg.connect(asyncpg_dsn(u.set(database="postgres").render_as_string(False)))
    try:
        name = u.database
        exists = await admin.fetchval("select 1 from pg_database where datname = $1", name)
        if fresh and exists:
            print(f"dropping database {name}")
            await admin.execute(f'drop database "{name}" with (force)')
            exists = False
        if not exists:
            print(f"creating database {name}")
            await admin.execute(f'create database "{name}"')
    finally:
        await admin.close()


async def seed(url: str) -> None:
    db = Database(url)
    try:
        made = await seed_demo(db)
        print("demo world:", ", ".join(f"{k} +{v}" for k, v in made.items()))
    finally:
        await db.dispose()


async def load(url: str, n: int, chunk: int, seed_value: int) -> None:
    settings = Settings(database_url=url, _env_file=None)
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        if not await conn.fetchval("select rolsuper from pg_roles where rolname = current_user"):
            raise SystemExit("the generator needs a superuser connection (COPY past RLS)")
        w = await load_world(conn)
        before = await conn.fetchval("select count(*) from cases")
        print(f"{before:,} cases already there; adding {n:,}")
        await conn.execute("set session_replication_role = replica")  # no FK triggers
        await conn.execute("set synchronous_commit = off")
        gen = Generator(
            w,
            n,
            seed_value,
            datetime.now(UTC),
            settings.case_number_prefix,
            ZoneInfo(settings.timezone),
        )
        columns = {
            "cases": CASE_COLUMNS,
            "reports": REPORT_COLUMNS,
            "case_events": EVENT_COLUMNS,
            "case_external_refs": REF_COLUMNS,
            "case_links": LINK_COLUMNS,
        }
        totals = dict.fromkeys(LOADED_TABLES, 0)
        started = time.perf_counter()
        wait_time = copy_time = 0.0
        # Generating the next chunk (a worker thread) overlaps the server's work on this one.
        loop = asyncio.get_running_loop()
        bounds = [(a, min(n, a + chunk)) for a in range(0, n, chunk)]
        pending = loop.run_in_executor(None, gen.chunk, *bounds[0]) if bounds else None
        for k, (_start, stop) in enumerate(bounds):
            t0 = time.perf_counter()
            rows = await pending
            if k + 1 < len(bounds):
                pending = loop.run_in_executor(None, gen.chunk, *bounds[k + 1])
            t1 = time.perf_counter()
            async with conn.transaction():
                for table in LOADED_TABLES:
                    if rows[table]:
                        await conn.copy_records_to_table(
                            table, records=rows[table], columns=columns[table]
                        )
                        totals[table] += len(rows[table])
            t2 = time.perf_counter()
            wait_time += t1 - t0
            copy_time += t2 - t1
            elapsed = t2 - started
            all_rows = sum(totals.values())
            print(
                f"  {stop:>9,}/{n:,} cases  {all_rows:>10,} rows  "
                f"{all_rows / elapsed:>9,.0f} rows/s  {stop / elapsed:>8,.0f} cases/s  "
                f"(waiting for rows {wait_time:.1f}s, copy {copy_time:.1f}s)",
                flush=True,
            )
        await conn.execute("set session_replication_role = origin")
        # A synchronous commit flushes the WAL of the asynchronous ones before it: until then
        # VACUUM may not mark their pages all-visible.
        await conn.execute("set synchronous_commit = on")
        for scope, value in w.counters.items():
            await conn.execute(
                "insert into case_counters (scope, value) values ($1, $2)"
                " on conflict (scope) do update"
                " set value = greatest(case_counters.value, excluded.value)",
                scope,
                value,
            )
        elapsed = time.perf_counter() - started
        all_rows = sum(totals.values())
        print(
            f"loaded {all_rows:,} rows in {elapsed:.1f}s ({all_rows / elapsed:,.0f} rows/s): "
            + ", ".join(f"{t} {c:,}" for t, c in totals.items())
        )
        print("counters:", ", ".join(f"{k}={v}" for k, v in sorted(w.counters.items())))
        await vacuum_analyze(conn)
    finally:
        await conn.close()


async def vacuum_analyze(conn: asyncpg.Connection, tries: int = 20) -> None:
    """VACUUM ANALYZE, and check that it could mark the pages all-visible (count(*) then uses
    index-only scans, as on a server that autovacuum keeps up with). A transaction open
    elsewhere on the server can hold the xmin horizon back: retry for a while, and say so."""
    t0 = time.perf_counter()
    for attempt in range(1, tries + 1):
        for table in LOADED_TABLES:
            await conn.execute(f"vacuum (analyze) {table}")
        visible = await conn.fetchval(
            "select sum(relallvisible)::float / greatest(sum(relpages), 1) from pg_class"
            " where relname = any($1::text[]) and relkind = 'r'",
            list(LOADED_TABLES),
        )
        elapsed = time.perf_counter() - t0
        print(f"vacuum analyze: {elapsed:.1f}s, {visible:.0%} of pages all-visible")
        if visible >= 0.99:
            return
        if attempt < tries:
            print("  a transaction open elsewhere holds the xmin horizon back; retrying in 3s")
            await asyncio.sleep(3)
    print(
        "WARNING: pages are not all-visible: count(*) reads the heap until the next VACUUM"
        " (run VACUUM ANALYZE cases, reports, case_events before benchmarking)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="postgresql+asyncpg://postgres@host/db")
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--fresh", action="store_true", help="drop and create the database")
    parser.add_argument("--chunk", type=int, default=10_000, help="cases per COPY transaction")
    parser.add_argument("--seed", type=int, default=int.from_bytes(os.urandom(2), "big"))
    args = parser.parse_args()
    if not args.url.startswith("postgresql"):
        raise SystemExit("--url must be a PostgreSQL URL (postgresql+asyncpg://...)")
    t0 = time.perf_counter()
    asyncio.run(prepare_database(args.url, args.fresh))
    upgrade(args.url)  # sync: alembic's env.py runs its own event loop
    asyncio.run(seed(args.url))
    print(f"migrated and seeded in {time.perf_counter() - t0:.1f}s (seed {args.seed})")
    asyncio.run(load(args.url, args.cases, args.chunk, args.seed))
    print(f"done in {time.perf_counter() - t0:.1f}s")


if __name__ == "__main__":
    main()
