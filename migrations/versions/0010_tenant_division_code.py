"""tenants.division_code: the administrative division code (行政区划代码) of a tenant

Revision ID: 0010_division
Revises: 0009_people_admin
Create Date: 2026-12-04 21:50:00

The city platform may name a town by its division code (6 digits for the county, 9 for a
town, or the 12-digit statistical form) as well as by its Chinese name or the hub's code.
Nullable: a tenant without one is found by code or name only. `sanwang demo` seeds the demo
towns' codes (hub.demo.world.DIVISION_CODES).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_division"
down_revision = "0009_people_admin"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tenants") as batch:  # SQLite adds a constraint by a rebuild
        batch.add_column(sa.Column("division_code", sa.String(12), nullable=True))
        batch.create_unique_constraint("uq_tenants_division_code", ["division_code"])


def downgrade() -> None:
    with op.batch_alter_table("tenants") as batch:
        batch.drop_constraint("uq_tenants_division_code", type_="unique")
        batch.drop_column("division_code")
