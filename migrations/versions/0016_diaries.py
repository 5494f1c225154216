"""diaries: case events name the member who took the step; patrols by member and time

A work diary shows the case steps a member took (accepted, progress, result submitted). The
timeline kept the actor's principal id only, which names no member for a JWT or a console login;
``case_events.member_id`` now records the grid member the actor's token stands for, indexed with
the time for a member's day, and patrols get an index by member and start. Steps taken before this revision with an API token bound to a member
are filled in from ``principals.member_id``; a JWT's earlier steps cannot be (its claims were not
kept).

Revision ID: 0016_diaries
Revises: 0015_query_codes
Create Date: 2026-12-04 23:22:06.948770
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from hub.db import TENANT_SETTING

revision = "0016_diaries"
down_revision = "0015_query_codes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_patrols_member_started", "patrols", ["member_id", "started_at"])
    with op.batch_alter_table("case_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("member_id", sa.Uuid(), nullable=True))
        batch_op.create_index("ix_case_events_member_at", ["member_id", "at"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_case_events_member_id_members"), "members", ["member_id"], ["id"]
        )
    if op.get_bind().dialect.name == "postgresql":
        # case_events forces row-level security: see every town for the backfill.
        op.execute(
            f"select set_config('{TENANT_SETTING}', "
            "coalesce((select '{' || string_agg(id::text, ',') || '}' from tenants), ''), true)"
        )
        op.execute(
            "update case_events set member_id = p.member_id from principals p "
            "where case_events.actor_id = p.id::text and p.member_id is not null"
        )
    else:  # SQLite keeps a uuid as 32 hex digits; the actor id has the dashes
        op.execute(
            "update case_events set member_id = (select p.member_id from principals p "
            "where p.id = replace(case_events.actor_id, '-', '')) "
            "where exists (select 1 from principals p "
            "where p.id = replace(case_events.actor_id, '-', '') and p.member_id is not null)"
        )


def downgrade() -> None:
    with op.batch_alter_table("case_events", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_case_events_member_id_members"), type_="foreignkey")
        batch_op.drop_index("ix_case_events_member_at")
        batch_op.drop_column("member_id")
    op.drop_index("ix_patrols_member_started", table_name="patrols")
