"""workflow rules: the dispatch phase's time limits (登记 -> 转办), facts on the case

Revision ID: 0008_workflow
Revises: 0007
Create Date: 2026-12-04 21:05:00

Seeds the dispatch-phase rules (hub.supervision.defaults.DISPATCH_RULES) for the city and the
towns, so a REGISTERED case has a clock from registration; cases.returned_reason (why a town
handed a case back to the command centre), cases.on_site_at and cases.satisfaction (facts
read back and counted by caseStats; earlier cases keep them in their events only).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import hub.db
from hub.supervision.defaults import dispatch_rule_rows

revision = "0008_workflow"
down_revision = "0007"
branch_labels = None
depends_on = None


def _rules() -> sa.TableClause:
    return sa.table(
        "time_limit_rules", sa.column("id", sa.Uuid()), sa.column("level"), sa.column("phase"),
        sa.column("category"), sa.column("priority"), sa.column("channel"), sa.column("unit"),
        sa.column("yellow_after"), sa.column("red_after"),
        sa.column("updated_at", hub.db.UTCDateTime()),
    )  # fmt: skip


def upgrade() -> None:
    op.add_column("cases", sa.Column("returned_reason", sa.Text(), nullable=True))
    op.add_column(
        "cases", sa.Column("on_site_at", hub.db.UTCDateTime(timezone=True), nullable=True)
    )
    op.add_column("cases", sa.Column("satisfaction", sa.String(length=24), nullable=True))
    now = datetime.now(UTC)
    op.bulk_insert(
        _rules(), [{"id": uuid.uuid4(), "updated_at": now, **row} for row in dispatch_rule_rows()]
    )


def downgrade() -> None:
    rules = _rules()
    op.execute(rules.delete().where(rules.c.phase == "DISPATCH"))
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("satisfaction")
        batch.drop_column("on_site_at")
        batch.drop_column("returned_reason")
