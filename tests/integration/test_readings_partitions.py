"""The readings table by month on PostgreSQL: partitions ahead, rows that came early moved into
their month, retention by detach-and-drop (or archive), and a readings query that reads only
the partitions it needs. SQLite keeps a plain table."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import text

from hub.config import Settings
from hub.db import Database
from hub.jobs import _periodic as registered
from hub.monitoring import partitions
from hub.monitoring.jobs import maintain_partitions
from hub.monitoring.model import Interval
from hub.monitoring.service import readings
from tests.conftest import Hub


@pytest.fixture
def pg(db: Database) -> Database:
    if db.is_sqlite:
        pytest.skip("PostgreSQL partitioning")
    return db


async def insert(db: Database, *ats: datetime, point: uuid.UUID | None = None) -> uuid.UUID:
    point = point or uuid.uuid4()
    async with db.engine.begin() as conn:
        tenant = await conn.scalar(text("select id from tenants limit 1"))
        for at in ats:
            await conn.execute(
                text(
                    "insert into readings (point_id, pollutant, interval, at, tenant_id, value) "
                    "values (:p, 'a34013', 'MINUTE', :at, :t, 1.5)"
                ),
                {"p": point, "at": at, "t": tenant},
            )
    return point


async def where_rows_are(db: Database) -> dict[str, int]:
    async with db.engine.connect() as conn:
        rows = await conn.execute(
            text("select tableoid::regclass::text, count(*) from readings group by 1")
        )
        return {name: n for name, n in rows}


async def maintain(db: Database, today: date, **kw: int | bool) -> partitions.Maintenance:
    async with db.engine.begin() as conn:
        return await partitions.maintain(
            conn,
            today,
            ahead=int(kw.get("ahead", 3)),
            retention_months=int(kw.get("retention", 36)),
            archive=bool(kw.get("archive", False)),
        )


def test_month_arithmetic() -> None:
    assert partitions.add_months(date(2026, 12, 1), 1) == date(2027, 1, 1)
    assert partitions.add_months(date(2026, 1, 1), -13) == date(2024, 12, 1)
    assert partitions.partition_name(date(2027, 3, 1)) == "readings_p2027_03"
    assert partitions.bounds(date(2026, 12, 1)) == (
        "2026-12-01 00:00:00+00",
        "2027-01-01 00:00:00+00",
    )
    assert partitions.is_partition_table("readings_default")
    assert partitions.is_partition_table("readings_archive_2023_01")
    assert not partitions.is_partition_table("readings")


async def test_the_migration_partitions_readings_with_months_ahead_and_a_default(
    pg: Database,
) -> None:
    async with pg.engine.connect() as conn:
        assert await partitions.is_partitioned(conn)
        months = await partitions.months(conn)
        pk = await conn.scalar(
            text(
                "select pg_get_constraintdef(oid) from pg_constraint "
                "where conrelid = 'readings'::regclass and contype = 'p'"
            )
        )
    this = partitions.month_of(datetime.now(UTC))
    assert this in months and partitions.add_months(this, 3) in months
    assert pk == 'PRIMARY KEY (point_id, pollutant, "interval", at)'
    # a reading of any time is stored: far off, it lands in the default partition
    await insert(pg, datetime(2031, 6, 1, tzinfo=UTC), datetime.now(UTC))
    assert set(await where_rows_are(pg)) == {
        partitions.DEFAULT,
        partitions.partition_name(this),
    }


async def test_months_ahead_are_created_and_early_rows_moved_into_them(pg: Database) -> None:
    early = datetime(2030, 2, 10, 8, tzinfo=UTC)
    await insert(pg, early, early + timedelta(minutes=1))
    assert await where_rows_are(pg) == {partitions.DEFAULT: 2}
    done = await maintain(pg, date(2029, 12, 20), ahead=2)
    assert "readings_p2030_02" in done.created and done.moved == 2
    assert await where_rows_are(pg) == {"readings_p2030_02": 2}
    again = await maintain(pg, date(2029, 12, 20), ahead=2)
    assert (again.created, again.moved) == ([], 0)  # idempotent
    async with pg.engine.connect() as conn:  # made empty or with rows moved in: both guarded
        guarded = await conn.execute(
            text(
                "select c.relname, c.relrowsecurity, c.relforcerowsecurity, "
                "(select count(*) from pg_policy p where p.polrelid = c.oid) "
                "from pg_class c where c.relname = any(:names)"
            ),
            {"names": done.created},
        )
        rows = guarded.all()
    assert rows and all(r[1] and r[2] and r[3] == 1 for r in rows), rows


async def test_retention_detaches_and_drops_old_months(pg: Database) -> None:
    old = [datetime(2026, m, 15, tzinfo=UTC) for m in (1, 2, 3)]
    async with pg.engine.begin() as conn:
        for at in old:
            await partitions.ensure_month(conn, partitions.month_of(at))
    await insert(pg, *old, datetime(2025, 6, 1, tzinfo=UTC))  # the last: default
    # in June 2026 with 4 months kept: February 2026 is the oldest kept
    done = await maintain(pg, date(2026, 6, 3), retention=4)
    assert "readings_p2026_01" in done.dropped and "readings_p2026_02" not in done.dropped
    assert done.deleted == 1
    left = await where_rows_are(pg)
    assert left == {"readings_p2026_02": 1, "readings_p2026_03": 1}
    async with pg.engine.connect() as conn:
        assert await conn.scalar(text("select to_regclass('readings_p2026_01')")) is None


async def test_retention_can_archive_instead(pg: Database) -> None:
    async with pg.engine.begin() as conn:
        await partitions.ensure_month(conn, date(2026, 1, 1))
    await insert(pg, datetime(2026, 1, 15, tzinfo=UTC))
    done = await maintain(pg, date(2026, 6, 3), retention=4, archive=True)
    assert done.archived == ["readings_archive_2026_01"]
    assert await where_rows_are(pg) == {}
    async with pg.engine.connect() as conn:
        kept = await conn.scalar(text("select count(*) from readings_archive_2026_01"))
        attached = await conn.scalar(
            text(
                "select count(*) from pg_inherits "
                "where inhrelid = 'readings_archive_2026_01'::regclass"
            )
        )
    assert (kept, attached) == (1, 0)


async def test_the_periodic_job_keeps_the_months_ahead(pg: Database, hub: Hub) -> None:
    async with pg.engine.begin() as conn:
        this = partitions.month_of(datetime.now(UTC))
        ahead = partitions.partition_name(partitions.add_months(this, 2))
        await conn.execute(text(f"alter table readings detach partition {ahead}"))
        await conn.execute(text(f"drop table {ahead}"))
    settings: Settings = hub.app.state.runtime.settings
    assert settings.readings_retention_months == 36
    assert "monitoring.partitions" in registered
    done = await maintain_partitions(pg, settings)
    assert done is not None and done.created == [ahead]
    async with pg.engine.connect() as conn:
        assert await conn.scalar(text("select to_regclass(:n)"), {"n": ahead}) is not None


async def test_on_sqlite_readings_stay_one_plain_table(db: Database, settings: Settings) -> None:
    if not db.is_sqlite:
        pytest.skip("SQLite")
    assert await maintain_partitions(db, settings) is None


async def test_a_readings_query_reads_only_the_months_it_needs(pg: Database, hub: Hub) -> None:
    async with pg.engine.begin() as conn:
        for month in partitions.months_between(date(2025, 1, 1), date(2025, 12, 1)):
            await partitions.ensure_month(conn, month)
        point = await conn.scalar(text("select id from monitoring_points limit 1"))
        tenant = await conn.scalar(
            text("select tenant_id from monitoring_points where id = :p"), {"p": point}
        )
        await conn.execute(
            text(
                "insert into readings (point_id, pollutant, interval, at, tenant_id, value) "
                "select :p, 'a34013', 'HOUR', g, :t, 2.0 from generate_series("
                "'2025-01-01 00:00+00'::timestamptz, '2025-12-31 23:00+00', '1 hour') g"
            ),
            {"p": point, "t": tenant},
        )
        await conn.execute(text("analyze readings"))
        plan = await conn.execute(
            text(
                "explain (format json) select * from readings where point_id = :p "
                "and pollutant = 'a34013' and at >= '2025-03-03 00:00+00' "
                "and at < '2025-03-04 00:00+00'"
            ),
            {"p": point},
        )
        scanned = _relations(plan.scalar())
    assert scanned == {"readings_p2025_03"}
    # the service's query, under the app role and row-level security, gets the day
    async with pg.session((await hub.scope()).tenant_ids) as session:
        got = await readings(
            session,
            await hub.scope(),
            str(point),
            "a34013",
            datetime(2025, 3, 3, tzinfo=UTC),
            datetime(2025, 3, 4, tzinfo=UTC),
            Interval.HOUR,
        )
    assert len(got) == 24


def _relations(plan: object) -> set[str]:
    found: set[str] = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if "Relation Name" in node:
                found.add(node["Relation Name"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(plan if not isinstance(plan, str) else json.loads(plan))
    return found
