"""briefings: the bureau's information briefings (信息简报), submitted and adopted

Revision ID: 0019_briefings
Revises: 0018_video
Create Date: 2026-12-04 23:24:42

Tenant-owned (the city's tenant keeps the bureau's briefings), so row-level security as on
every tenant table; an issue number once per year.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import hub.db
from hub import rls

TABLES = ("briefings",)


revision = "0019_briefings"
down_revision = "0018_video"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "briefings",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("issue", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("submitted_to", sa.String(length=100), nullable=False),
        sa.Column("submitted_at", hub.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("adopted_by", sa.String(length=100), nullable=True),
        sa.Column("adopted_at", hub.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("recorded_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", hub.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_briefings_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_briefings")),
        sa.UniqueConstraint(
            "tenant_id", "year", "issue", name=op.f("uq_briefings_tenant_id_year_issue")
        ),
    )
    with op.batch_alter_table("briefings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_briefings_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index(
            "ix_briefings_tenant_submitted", ["tenant_id", "submitted_at"], unique=False
        )

    if op.get_bind().dialect.name == "postgresql":
        for table in TABLES:
            for statement in rls.enable_tenant_rls(table):
                op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in TABLES:
            for statement in rls.disable_tenant_rls(table):
                op.execute(statement)
    with op.batch_alter_table("briefings", schema=None) as batch_op:
        batch_op.drop_index("ix_briefings_tenant_submitted")
        batch_op.drop_index(batch_op.f("ix_briefings_tenant_id"))

    op.drop_table("briefings")
