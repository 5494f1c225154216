"""The readings table by month on PostgreSQL (declarative range partitioning on ``at``).

``readings`` is partitioned by ``at`` in UTC calendar months: ``readings_p2026_12`` holds
[2026-12-01 00:00Z, 2027-01-01 00:00Z). ``readings_default`` takes what no month partition
holds (a backfill older than the oldest kept month, a far-future clock), so no insert ever fails
for want of a partition. The primary key (point_id, pollutant, interval, at) includes the
partition key, as PostgreSQL requires.

The periodic job ``monitoring.partitions`` (``hub.monitoring.jobs``) keeps the months ahead
created (``SANWANG_READINGS_PARTITIONS_AHEAD``) and applies the retention
(``SANWANG_READINGS_RETENTION_MONTHS``): a month that ended that many months ago is detached
and dropped, or with ``SANWANG_READINGS_ARCHIVE`` detached and kept as
``readings_archive_YYYY_MM`` (a plain table, for pg_dump; dropping it is the operator's).
Rows of that age in the default partition are deleted with it (kept when archiving).
SQLite keeps a plain table.

The DDL runs on the owner's connection (the migration's role), not as the app role.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from hub import rls

log = logging.getLogger("hub.monitoring.partitions")

PARENT = "readings"
DEFAULT = "readings_default"
PARTITION = re.compile(r"^readings_p(\d{4})_(\d{2})$")
ARCHIVE = re.compile(r"^readings_archive_(\d{4})_(\d{2})$")


def is_partition_table(name: str) -> bool:
    """A month (or the default, or an archived month): not a model of its own (autogenerate
    leaves these alone)."""
    return name == DEFAULT or bool(PARTITION.match(name) or ARCHIVE.match(name))


def month_of(day: date | datetime) -> date:
    return date(day.year, day.month, 1)


def add_months(month: date, n: int) -> date:
    index = month.year * 12 + month.month - 1 + n
    return date(index // 12, index % 12 + 1, 1)


def partition_name(month: date) -> str:
    return f"readings_p{month.year:04d}_{month.month:02d}"


def archive_name(month: date) -> str:
    return f"readings_archive_{month.year:04d}_{month.month:02d}"


def bounds(month: date) -> tuple[str, str]:
    """The partition's FROM and TO, as UTC timestamptz literals."""
    return f"{month.isoformat()} 00:00:00+00", f"{add_months(month, 1).isoformat()} 00:00:00+00"


def months_between(first: date, last: date) -> list[date]:
    out, month = [], month_of(first)
    while month <= last:
        out.append(month)
        month = add_months(month, 1)
    return out


def guard_sql(name: str) -> list[str]:
    """Row-level security on a partition too: the parent's policy covers what is read through
    `readings`, and this covers a statement that names the partition itself."""
    return rls.enable_tenant_rls(name)


def create_sql(month: date) -> str:
    lo, hi = bounds(month)
    return (
        f"create table if not exists {partition_name(month)} partition of {PARENT} "
        f"for values from ('{lo}') to ('{hi}')"
    )


@dataclass
class Maintenance:
    created: list[str]
    moved: int  # rows moved out of the default partition into a month created for them
    dropped: list[str]
    archived: list[str]
    deleted: int  # expired rows deleted from the default partition


async def is_partitioned(conn: AsyncConnection) -> bool:
    kind = await conn.scalar(
        text("select relkind::text from pg_class where oid = to_regclass(:t)"), {"t": PARENT}
    )
    return kind == "p"


async def months(conn: AsyncConnection) -> list[date]:
    """The months that have a partition attached."""
    rows = await conn.execute(
        text(
            "select c.relname from pg_inherits i join pg_class c on c.oid = i.inhrelid "
            "where i.inhparent = to_regclass(:t)"
        ),
        {"t": PARENT},
    )
    found = []
    for (name,) in rows:
        match = PARTITION.match(name)
        if match:
            found.append(date(int(match[1]), int(match[2]), 1))
    return sorted(found)


async def ensure_month(conn: AsyncConnection, month: date) -> int:
    """The month's partition, created if missing; rows of that month already in the default
    partition are moved into it first (a partition cannot be created over them). Returns the
    rows moved."""
    name = partition_name(month)
    if await conn.scalar(text("select to_regclass(:n)"), {"n": name}) is not None:
        return 0
    lo, hi = bounds(month)
    window = {"lo": _at(month), "hi": _at(add_months(month, 1))}
    waiting = await conn.scalar(
        text(f"select exists (select 1 from {DEFAULT} where at >= :lo "
             "and at < :hi)"),
        window,
    )  # fmt: skip
    if not waiting:
        await conn.execute(text(create_sql(month)))
        for statement in guard_sql(name):
            await conn.execute(text(statement))
        return 0
    await conn.execute(text(f"create table {name} (like {PARENT} including all)"))
    moved = await conn.execute(
        text(
            f"with gone as (delete from {DEFAULT} where at >= :lo "
            f"and at < :hi returning *) insert into {name} select * from gone"
        ),
        window,
    )
    await conn.execute(
        text(f"alter table {PARENT} attach partition {name} for values from ('{lo}') to ('{hi}')")
    )
    for statement in guard_sql(name):
        await conn.execute(text(statement))
    return int(moved.rowcount or 0)


async def maintain(
    conn: AsyncConnection,
    today: date,
    *,
    ahead: int,
    retention_months: int,
    archive: bool = False,
) -> Maintenance:
    """Create this month's and ``ahead`` next months' partitions; detach and drop (or archive)
    months that ended ``retention_months`` ago or more (0: keep everything). Idempotent; the
    caller commits."""
    done = Maintenance([], 0, [], [], 0)
    if not await is_partitioned(conn):
        return done
    this = month_of(today)
    for month in months_between(this, add_months(this, ahead)):
        name = partition_name(month)
        exists = await conn.scalar(text("select to_regclass(:n)"), {"n": name})
        if exists is None:
            done.moved += await ensure_month(conn, month)
            done.created.append(name)
    if retention_months <= 0:
        return done
    # the oldest month kept: with 36 in December 2026, December 2023 (it ended less than
    # 36 months ago); November 2023 and older go
    oldest_kept = add_months(this, -retention_months)
    for month in await months(conn):
        if month >= oldest_kept:
            continue
        name = partition_name(month)
        await conn.execute(text(f"alter table {PARENT} detach partition {name}"))
        if archive:
            await conn.execute(text(f"alter table {name} rename to {archive_name(month)}"))
            done.archived.append(archive_name(month))
        else:
            await conn.execute(text(f"drop table {name}"))
            done.dropped.append(name)
    if archive:  # the default partition's old rows stay: nothing is deleted when archiving
        return done
    deleted = await conn.execute(
        text(f"delete from {DEFAULT} where at < :cutoff"), {"cutoff": _at(oldest_kept)}
    )
    done.deleted = int(deleted.rowcount or 0)
    return done


def _at(month: date) -> datetime:
    return datetime(month.year, month.month, 1, tzinfo=UTC)


def utc_today() -> date:
    return datetime.now(UTC).date()
