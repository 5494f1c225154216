"""reports.query_code_hash: the caller's query code (查询码), keyed-hashed

Revision ID: 0015_query_codes
Revises: 0014_attachments
Create Date: 2026-12-04 23:40:00

A hotline call (or an Open311 request) answers a six-character query code; number + code open
the case's public view (/lookup). Only an HMAC of (report id, code) is kept (hub/public/codes.py),
on the report rather than the case: every caller has their own code, and it follows the report
when cases are merged. Nullable: reports of other channels, and those before this revision,
have none. The reports table already has row-level security.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015_query_codes"
down_revision = "0014_attachments"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("reports") as batch:  # a plain ADD COLUMN, on SQLite too
        batch.add_column(sa.Column("query_code_hash", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("reports") as batch:
        batch.drop_column("query_code_hash")
