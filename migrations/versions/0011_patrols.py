"""patrols: grid members' patrols, their track points and findings

Revision ID: 0011_patrols
Revises: 0010_division
Create Date: 2026-12-04 21:47:34

Tenant-owned (the member's town), so row-level security as on every tenant table; one open
patrol per member is a partial unique index, a phone's retry a unique clientId.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import hub.db
from hub import rls

TABLES = ("patrols", "patrol_findings", "patrol_points")


revision = "0011_patrols"
down_revision = "0010_division"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "patrols",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("member_id", sa.Uuid(), nullable=False),
        sa.Column("grid_cell_id", sa.Uuid(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("client_id", sa.String(length=100), nullable=False),
        sa.Column("source_ids", hub.db.JSONDoc(), nullable=False),
        sa.Column("started_at", hub.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ended_at", hub.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("track_meters", sa.Double(), nullable=False),
        sa.Column("point_count", sa.Integer(), nullable=False),
        sa.Column("created_at", hub.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["grid_cell_id"], ["grid_cells.id"], name=op.f("fk_patrols_grid_cell_id_grid_cells")
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_patrols_member_id_members")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_patrols_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_patrols")),
        sa.UniqueConstraint("member_id", "client_id", name=op.f("uq_patrols_member_id_client_id")),
    )
    with op.batch_alter_table("patrols", schema=None) as batch_op:
        batch_op.create_index(
            "ix_patrols_one_open",
            ["member_id"],
            unique=True,
            sqlite_where=sa.text("status = 'OPEN'"),
            postgresql_where=sa.text("status = 'OPEN'"),
        )
        batch_op.create_index(batch_op.f("ix_patrols_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index(
            "ix_patrols_tenant_started", ["tenant_id", "started_at"], unique=False
        )

    op.create_table(
        "patrol_findings",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("patrol_id", sa.Uuid(), nullable=False),
        sa.Column("client_id", sa.String(length=100), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("resolved_on_site", sa.Boolean(), nullable=False),
        sa.Column("data", hub.db.JSONDoc(), nullable=False),
        sa.Column("created_at", hub.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_patrol_findings_case_id_cases")
        ),
        sa.ForeignKeyConstraint(
            ["patrol_id"], ["patrols.id"], name=op.f("fk_patrol_findings_patrol_id_patrols")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_patrol_findings_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_patrol_findings")),
        sa.UniqueConstraint(
            "patrol_id", "client_id", name=op.f("uq_patrol_findings_patrol_id_client_id")
        ),
    )
    with op.batch_alter_table("patrol_findings", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_patrol_findings_patrol_id"), ["patrol_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_patrol_findings_tenant_id"), ["tenant_id"], unique=False
        )

    op.create_table(
        "patrol_points",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("patrol_id", sa.Uuid(), nullable=False),
        sa.Column("at", hub.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("latitude", sa.Double(), nullable=False),
        sa.Column("longitude", sa.Double(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["patrol_id"], ["patrols.id"], name=op.f("fk_patrol_points_patrol_id_patrols")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_patrol_points_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_patrol_points")),
        sa.UniqueConstraint("patrol_id", "at", name=op.f("uq_patrol_points_patrol_id_at")),
    )
    with op.batch_alter_table("patrol_points", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_patrol_points_tenant_id"), ["tenant_id"], unique=False)

    if op.get_bind().dialect.name == "postgresql":
        for table in TABLES:
            for statement in rls.enable_tenant_rls(table):
                op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in TABLES:
            for statement in rls.disable_tenant_rls(table):
                op.execute(statement)
    with op.batch_alter_table("patrol_points", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_patrol_points_tenant_id"))

    op.drop_table("patrol_points")
    with op.batch_alter_table("patrol_findings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_patrol_findings_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_patrol_findings_patrol_id"))

    op.drop_table("patrol_findings")
    with op.batch_alter_table("patrols", schema=None) as batch_op:
        batch_op.drop_index("ix_patrols_tenant_started")
        batch_op.drop_index(batch_op.f("ix_patrols_tenant_id"))
        batch_op.drop_index(
            "ix_patrols_one_open",
            sqlite_where=sa.text("status = 'OPEN'"),
            postgresql_where=sa.text("status = 'OPEN'"),
        )

    op.drop_table("patrols")
