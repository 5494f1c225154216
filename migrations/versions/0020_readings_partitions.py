"""readings partitioned by month on PostgreSQL

Revision ID: 0020_readings_partitions
Revises: 0019_briefings
Create Date: 2026-12-05 00:00:00

PostgreSQL only (SQLite keeps a plain table; nothing changes there). In one transaction: the
plain ``readings`` is renamed aside, a ``readings`` partitioned by range on ``at`` takes its
place with the same columns and primary key (which includes ``at``, the partition key), a
default partition and one partition per UTC month from the oldest month of the data (at most
36 months back) to 3 months ahead are created, the rows are copied over, the old table is
dropped and row-level security is set on the new parent as on every tenant table. The periodic
job ``monitoring.partitions`` keeps the months ahead and the retention from then on
(``hub.monitoring.partitions``). The copy holds the table's lock for its duration: on a large
table, run the migration in a quiet hour.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import hub.db
from hub import rls
from hub.monitoring import partitions

revision = "0020_readings_partitions"
down_revision = "0019_briefings"
branch_labels = None
depends_on = None

BACK = 36  # months of existing data given partitions of their own; older rows: default
AHEAD = 3

COLUMNS = "point_id, pollutant, interval, at, tenant_id, value, min, max, flag"


def _columns() -> list[sa.Column]:  # as migration 0004 made them
    return [
        sa.Column("point_id", sa.Uuid(), nullable=False),
        sa.Column("pollutant", sa.String(length=16), nullable=False),
        sa.Column("interval", sa.String(length=8), nullable=False),
        sa.Column("at", hub.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("value", sa.Double(), nullable=True),
        sa.Column("min", sa.Double(), nullable=True),
        sa.Column("max", sa.Double(), nullable=True),
        sa.Column("flag", sa.String(length=4), nullable=True),
    ]


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    op.execute("lock table readings in access exclusive mode")
    op.execute("alter table readings rename to readings_unpartitioned")
    op.execute(
        "alter table readings_unpartitioned rename constraint pk_readings to pk_readings_old"
    )
    op.create_table(
        "readings",
        *_columns(),
        sa.PrimaryKeyConstraint("point_id", "pollutant", "interval", "at", name="pk_readings"),
        postgresql_partition_by="RANGE (at)",
    )
    op.execute(f"create table {partitions.DEFAULT} partition of readings default")
    this = partitions.month_of(datetime.now(UTC))
    oldest = bind.execute(sa.text("select min(at) from readings_unpartitioned")).scalar()
    last_month = partitions.add_months(this, -1)  # late data of last month: a partition too
    if oldest is None:
        first = last_month
    else:
        first = partitions.month_of(oldest.astimezone(UTC))
        first = max(min(first, last_month), partitions.add_months(this, -BACK))
    for month in partitions.months_between(first, partitions.add_months(this, AHEAD)):
        op.execute(partitions.create_sql(month))
    op.execute(f"insert into readings ({COLUMNS}) select {COLUMNS} from readings_unpartitioned")
    op.execute("drop table readings_unpartitioned")
    for statement in rls.enable_tenant_rls("readings"):
        op.execute(statement)
    partitions_made = [partitions.DEFAULT] + [
        partitions.partition_name(m)
        for m in partitions.months_between(first, partitions.add_months(this, AHEAD))
    ]
    for name in partitions_made:
        for statement in partitions.guard_sql(name):
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("lock table readings in access exclusive mode")
    op.create_table(
        "readings_plain",
        *_columns(),
        sa.PrimaryKeyConstraint(
            "point_id", "pollutant", "interval", "at", name="pk_readings_plain"
        ),
    )
    op.execute(f"insert into readings_plain ({COLUMNS}) select {COLUMNS} from readings")
    op.execute("drop table readings cascade")  # the parent, its partitions and its policy
    op.execute("alter table readings_plain rename to readings")
    op.execute("alter table readings rename constraint pk_readings_plain to pk_readings")
    for statement in rls.enable_tenant_rls("readings"):
        op.execute(statement)
