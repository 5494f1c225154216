"""platform sync: the pull's cursor and the platform updates seen

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 18:05:00

Neither table is tenant-owned (an update is taken before it is routed to a town; only the
connector's system jobs read them), so no RLS policy; the app role's default privileges from
0001 cover them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import hub.db

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "platform_cursors",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("cursor", sa.String(length=500), nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", hub.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("taken", sa.Integer(), nullable=False),
        sa.Column("updated_at", hub.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_platform_cursors")),
    )
    op.create_table(
        "platform_updates",
        sa.Column("update_id", sa.String(length=128), nullable=False),
        sa.Column("platform_case_id", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("at", hub.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("received_at", hub.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("payload", hub.db.JSONDoc(), nullable=False),
        sa.PrimaryKeyConstraint("update_id", name=op.f("pk_platform_updates")),
    )
    op.create_index(
        op.f("ix_platform_updates_platform_case_id"),
        "platform_updates",
        ["platform_case_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_platform_updates_platform_case_id"), table_name="platform_updates")
    op.drop_table("platform_updates")
    op.drop_table("platform_cursors")
