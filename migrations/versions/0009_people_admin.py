"""people administration: staff numbers, retired cells and enterprises, change times

Revision ID: 0009_people_admin
Revises: 0008_workflow
Create Date: 2026-12-04 21:30:00

members.external_id is the bureau's staff number (unique per town, the key of saveMember and
`sanwang import`); sources.credit_code becomes unique (统一社会信用代码, the key of
saveEnterprise); grid cells and sources gain ``active`` (retired, never deleted) and every
administered table an ``updated_at``. Existing rows stay active.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from alembic.operations import BatchOperations

import hub.db

revision = "0009_people_admin"
down_revision = "0008_workflow"
branch_labels = None
depends_on = None


def _updated_at(batch_op: BatchOperations) -> None:
    batch_op.add_column(sa.Column("updated_at", hub.db.UTCDateTime(timezone=True), nullable=True))


def _active(batch_op: BatchOperations) -> None:
    batch_op.add_column(sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.true()))


def upgrade() -> None:
    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.add_column(sa.Column("external_id", sa.String(length=64), nullable=True))
        _updated_at(batch_op)
        batch_op.create_unique_constraint(
            batch_op.f("uq_members_tenant_id_external_id"), ["tenant_id", "external_id"]
        )
    with op.batch_alter_table("grid_cells", schema=None) as batch_op:
        _active(batch_op)
        _updated_at(batch_op)
    with op.batch_alter_table("sources", schema=None) as batch_op:
        _active(batch_op)
        _updated_at(batch_op)
        batch_op.create_unique_constraint(batch_op.f("uq_sources_credit_code"), ["credit_code"])


def downgrade() -> None:
    with op.batch_alter_table("sources", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_sources_credit_code"), type_="unique")
        batch_op.drop_column("updated_at")
        batch_op.drop_column("active")
    with op.batch_alter_table("grid_cells", schema=None) as batch_op:
        batch_op.drop_column("updated_at")
        batch_op.drop_column("active")
    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_members_tenant_id_external_id"), type_="unique")
        batch_op.drop_column("updated_at")
        batch_op.drop_column("external_id")
