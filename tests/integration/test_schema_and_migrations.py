"""The committed SDL matches the code, and the migrations match the models on both backends."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, inspect
from sqlalchemy.ext.asyncio import create_async_engine

import hub.models  # noqa: F401  (fills the metadata)
from hub.db import Base
from hub.migrations import alembic_config, head_revision, include_name, upgrade
from hub.schema import sdl
from tests.conftest import Backend

# the readings' month partitions (PostgreSQL) are the partition job's, not a model's
OPTS = {"include_name": include_name}
SCHEMA_FILE = Path(__file__).resolve().parents[2] / "graphql" / "schema.graphql"


def test_graphql_schema_file_matches_the_code() -> None:
    assert SCHEMA_FILE.read_text() == sdl(), (
        "graphql/schema.graphql is stale: run `sanwang export-schema > graphql/schema.graphql`"
    )


async def test_migrations_and_models_agree(db_url: str) -> None:
    """The test database was built by the migrations; autogenerate must find nothing to add."""
    engine = create_async_engine(db_url)
    try:
        async with engine.connect() as conn:
            diff = await conn.run_sync(
                lambda sync: compare_metadata(
                    MigrationContext.configure(sync, opts=OPTS), Base.metadata
                )
            )
            version = await conn.exec_driver_sql("select version_num from alembic_version")
            assert version.scalar() == head_revision()
    finally:
        await engine.dispose()
    assert diff == [], f"models and migrations differ: {diff}"


def test_upgrade_downgrade_upgrade_round_trip(backend: Backend, tmp_path: Path) -> None:
    """Down to nothing and up again gives the very schema a plain upgrade gives, and the
    models' metadata still finds nothing to add."""
    if backend.name == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'round.db'}"
    else:
        url = backend.fresh_url(tmp_path)  # a seeded copy: downgrade must cope with data
    try:
        cfg = alembic_config(url)
        upgrade(url)
        plain = asyncio.run(schema_of(url))
        command.downgrade(cfg, "base")
        assert set(asyncio.run(schema_of(url))["tables"]) <= {"alembic_version"}
        upgrade(url)
        again = asyncio.run(schema_of(url))
    finally:
        backend.drop(url)
    assert again == plain
    assert again["diff"] == [], f"models and migrations differ after the round trip: {again}"


async def schema_of(url: str) -> dict[str, Any]:
    """Tables with their columns, indexes, keys and checks as the database reports them, the
    row-level security policies on PostgreSQL, and what autogenerate would add for the models."""
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            found = await conn.run_sync(_inspect)
            if conn.dialect.name == "postgresql":
                policies = await conn.exec_driver_sql(
                    "select tablename, policyname, cmd, roles::text, qual, with_check"
                    " from pg_policies order by tablename, policyname"
                )
                found["policies"] = [tuple(row) for row in policies]
                secured = await conn.exec_driver_sql(
                    "select relname, relrowsecurity, relforcerowsecurity from pg_class"
                    " where relkind = 'r' and relnamespace = 'public'::regnamespace"
                    " order by relname"
                )
                found["row_security"] = [tuple(row) for row in secured]
    finally:
        await engine.dispose()
    return found


def _inspect(sync: Connection) -> dict[str, Any]:
    inspector = inspect(sync)
    tables: dict[str, Any] = {}
    for name in sorted(inspector.get_table_names()):
        tables[name] = {
            "columns": [
                (c["name"], str(c["type"]), c["nullable"], str(c.get("default")))
                for c in inspector.get_columns(name)
            ],
            "primary_key": inspector.get_pk_constraint(name)["constrained_columns"],
            "indexes": sorted(
                (i["name"], tuple(i["column_names"]), bool(i["unique"]))
                for i in inspector.get_indexes(name)
            ),
            "foreign_keys": sorted(
                (tuple(f["constrained_columns"]), f["referred_table"], tuple(f["referred_columns"]))
                for f in inspector.get_foreign_keys(name)
            ),
            "unique": sorted(
                (str(u["name"]), tuple(u["column_names"]))
                for u in inspector.get_unique_constraints(name)
            ),
            "checks": sorted(str(c["sqltext"]) for c in inspector.get_check_constraints(name)),
        }
    diff = compare_metadata(MigrationContext.configure(sync, opts=OPTS), Base.metadata)
    return {"tables": tables, "diff": [str(d) for d in diff]}
