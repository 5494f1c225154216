"""workDiary for a member with 200 things in one day, among other members' busy record.

    python -m tests.perf.bench_diary                         # a fresh SQLite file
    python -m tests.perf.bench_diary --url postgresql+asyncpg://postgres@127.0.0.1:5432/sanwang_perf_diary

The database is migrated and seeded with the demo world, then the rows are written through the
ORM in a few bulk statements (past the use cases: this measures reading): for one laiji member on
one local day, 20 patrols (a start and an end each), 40 findings (half solved on site) and 140
case steps (accept, progress, submit) on 60 cases; around them, NOISE_DAYS days of the same for
every other laiji member and the other days of that member (the rows the day must not read).
Then it times ``hub.diaries.service.work_diary`` alone (one session each) and the ``WorkDiary``
operation through the real ASGI app (auth, strawberry, the JSON answer), and prints min / median
/ p95 / max in ms for each. Budget: under 20 ms (checked by eye, not asserted).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import insert, select

from hub.app import create_app
from hub.auth import issue_jwt, system_scope
from hub.cases.model import Case, Event
from hub.config import Settings
from hub.db import Database
from hub.demo.seed import seed_demo
from hub.diaries import service
from hub.grid.model import Member
from hub.migrations import upgrade_async
from hub.patrols.model import Finding, Patrol
from hub.runtime import Runtime
from tests.operations import op

SECRET = "perf-secret-key-not-for-production"
TZ = ZoneInfo("Asia/Shanghai")
DAY = date(2026, 11, 18)
NOISE_DAYS = 10
BUDGET_MS = 20.0


def _at(day: date, minute: int) -> datetime:
    return datetime.combine(day, clock(7, 0), TZ).astimezone(UTC) + timedelta(minutes=minute)


class Rows:
    """The rows of a member's busy day, in bulk-insert form."""

    def __init__(self, tenant_id: uuid.UUID) -> None:
        self.tenant_id = tenant_id
        self.patrols: list[dict[str, Any]] = []
        self.findings: list[dict[str, Any]] = []
        self.cases: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []
        self.numbers = 0

    def case(self, at: datetime) -> tuple[uuid.UUID, str]:
        self.numbers += 1
        case_id, number = uuid.uuid4(), f"BD-2026-{self.numbers:06d}"
        self.cases.append(
            {
                "id": case_id,
                "tenant_id": self.tenant_id,
                "number": number,
                "title": f"扬尘问题 {self.numbers}",
                "description": "工地裸土未覆盖",
                "status": "HANDLING",
                "category": "DUST",
                "priority": "NORMAL",
                "created_at": at,
                "updated_at": at,
            }
        )
        return case_id, number

    def day(self, member: uuid.UUID, day: date, patrols: int, findings: int, steps: int) -> None:
        patrol_ids = []
        for i in range(patrols):
            start = _at(day, i * 30)
            patrol_ids.append(uuid.uuid4())
            self.patrols.append(
                {
                    "id": patrol_ids[-1],
                    "tenant_id": self.tenant_id,
                    "member_id": member,
                    "kind": "ROUTINE",
                    "status": "ENDED",
                    "client_id": f"{day}-{i}",
                    "source_ids": [],
                    "started_at": start,
                    "ended_at": start + timedelta(minutes=25),
                    "summary": "巡查一圈，未见异常",
                    "track_meters": 1800.0,
                    "point_count": 0,
                    "created_at": start,
                }
            )
        for i in range(findings):
            at = _at(day, i * 15 + 5)
            case_id, _ = self.case(at)
            self.findings.append(
                {
                    "tenant_id": self.tenant_id,
                    "patrol_id": patrol_ids[i % len(patrol_ids)],
                    "client_id": f"f-{i}",
                    "case_id": case_id,
                    "resolved_on_site": i % 2 == 0,
                    "data": {"title": f"路边焚烧 {i}", "category": "AIR"},
                    "created_at": at,
                }
            )
        handled = [self.case(_at(day, -60)) for _ in range(max(1, steps // 3 + 13))]
        for i in range(steps):
            case_id, _ = handled[i % len(handled)]
            self.events.append(
                {
                    "tenant_id": self.tenant_id,
                    "case_id": case_id,
                    "at": _at(day, i * 4 + 2),
                    "action": ("ACCEPT", "PROGRESS", "SUBMIT")[i % 3],
                    "note": "已到现场处理",
                    "actor_id": f"jwt:{member}",
                    "actor_name": "网格员",
                    "member_id": member,
                    "data": {},
                }
            )


async def prepare(db: Database) -> tuple[uuid.UUID, int]:
    """The busy day of one laiji member and the noise around it; (member, entries expected)."""
    scope = await system_scope(db)
    laiji = scope.directory.by_code["laiji"].id
    async with db.session(scope.tenant_ids) as session:
        members = list(
            await session.scalars(
                select(Member.id).where(Member.tenant_id == laiji).order_by(Member.name)
            )
        )
    rows = Rows(laiji)
    target = members[0]
    rows.day(target, DAY, patrols=20, findings=40, steps=140)
    for offset in range(1, NOISE_DAYS + 1):
        for member in members:
            for day in (DAY - timedelta(days=offset), DAY + timedelta(days=offset)):
                rows.day(member, day, patrols=4, findings=6, steps=30)
    for member in members[1:]:
        rows.day(member, DAY, patrols=4, findings=6, steps=30)
    async with db.session(scope.tenant_ids, write=True) as session, session.begin():
        for model, values in (
            (Case, rows.cases),
            (Patrol, rows.patrols),
            (Finding, rows.findings),
            (Event, rows.events),
        ):
            for chunk in range(0, len(values), 2000):
                await session.execute(insert(model), values[chunk : chunk + 2000])
    print(
        f"rows: {len(rows.cases)} cases, {len(rows.patrols)} patrols, "
        f"{len(rows.findings)} findings, {len(rows.events)} events ({len(members)} members)"
    )
    return target, 20 * 2 + 40 + 140


def figures(name: str, times: list[float], cpu: float) -> None:
    """Wall-clock figures, and the process's CPU per call (steadier on a shared machine)."""
    ms = sorted(t * 1000 for t in times)
    p95 = ms[max(0, int(len(ms) * 0.95) - 1)]
    print(
        f"{name:<28} n={len(ms)}  min {ms[0]:.2f}  median {statistics.median(ms):.2f}  "
        f"p95 {p95:.2f}  max {ms[-1]:.2f} ms wall; {cpu * 1000 / len(ms):.2f} ms CPU/call "
        f"(budget {BUDGET_MS:.0f} ms)"
    )


async def run(url: str, runs: int) -> None:
    await upgrade_async(url)
    db = Database(url)
    await seed_demo(db)
    member, expected = await prepare(db)
    scope = await system_scope(db)
    service_times = []
    cpu = time.process_time()
    for _ in range(runs):
        t0 = time.perf_counter()
        async with db.session(scope.tenant_ids) as session:
            day = await service.work_diary(session, scope, str(member), DAY, tz=TZ)
        service_times.append(time.perf_counter() - t0)
    service_cpu = time.process_time() - cpu
    if len(day.entries) != expected:
        raise SystemExit(f"expected {expected} entries, got {len(day.entries)}")
    settings = Settings(database_url=url, secret_key=SECRET, _env_file=None)
    app = create_app(Runtime.start(settings, db))
    token = issue_jwt(SECRET, "perf-diary", ["SUPERVISOR"], [])
    body = {
        "query": op("WorkDiary"),
        "variables": {"memberId": str(member), "date": DAY.isoformat()},
        "operationName": "WorkDiary",
    }
    api_times = []
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://hub") as http:
        cpu = time.process_time()
        for _ in range(runs):
            t0 = time.perf_counter()
            response = await http.post(
                "/graphql", json=body, headers={"Authorization": f"Bearer {token}"}
            )
            api_times.append(time.perf_counter() - t0)
            payload = response.json()
            if "errors" in payload or len(payload["data"]["workDiary"]["entries"]) != expected:
                raise SystemExit(f"bad answer: {str(payload)[:500]}")
        api_cpu = time.process_time() - cpu
    await db.dispose()
    print(f"database: {url.split('://')[0]}, {expected} entries in the day, {runs} runs each")
    figures("work_diary (service)", service_times, service_cpu)
    figures("WorkDiary (through the app)", api_times, api_cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", help="database URL (default: a fresh SQLite file)")
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    if args.url:
        asyncio.run(run(args.url, args.runs))
        return
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(run(f"sqlite+aiosqlite:///{Path(tmp) / 'bench_diary.db'}", args.runs))


if __name__ == "__main__":
    main()
