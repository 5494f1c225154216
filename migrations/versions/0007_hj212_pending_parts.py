"""hj212 pending parts: split-message parts kept before they are acknowledged

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 20:40:00

Tenant-owned (the town of the point the part's MN names): row-level security as on readings;
the app role's default privileges from 0001 cover the table.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import hub.db
from hub import rls

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

TABLE = "hj212_pending_parts"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("mn", sa.String(length=32), nullable=False),
        sa.Column("cn", sa.String(length=8), nullable=False),
        sa.Column("pnum", sa.Integer(), nullable=False),
        sa.Column("pno", sa.Integer(), nullable=False),
        sa.Column("qn", sa.String(length=32), nullable=True),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("received_at", hub.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_hj212_pending_parts_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("mn", "cn", "pnum", "pno", name=op.f("pk_hj212_pending_parts")),
    )
    with op.batch_alter_table(TABLE, schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_hj212_pending_parts_received_at"), ["received_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_hj212_pending_parts_tenant_id"), ["tenant_id"], unique=False
        )
    if op.get_bind().dialect.name == "postgresql":
        for statement in rls.enable_tenant_rls(TABLE):
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in rls.disable_tenant_rls(TABLE):
            op.execute(statement)
    with op.batch_alter_table(TABLE, schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_hj212_pending_parts_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_hj212_pending_parts_received_at"))
    op.drop_table(TABLE)
