"""The committed SDL matches the code, and the migrations match the models on both backends."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine

import hub.models  # noqa: F401  (fills the metadata)
from hub.db import Base
from hub.migrations import alembic_config, head_revision, upgrade
from hub.schema import sdl
from tests.conftest import Backend

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
                lambda sync: compare_metadata(MigrationContext.configure(sync), Base.metadata)
            )
            version = await conn.exec_driver_sql("select version_num from alembic_version")
            assert version.scalar() == head_revision()
    finally:
        await engine.dispose()
    assert diff == [], f"models and migrations differ: {diff}"


def test_upgrade_downgrade_upgrade_round_trip(backend: Backend, tmp_path: Path) -> None:
    if backend.name == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'round.db'}"
    else:
        url = backend.fresh_url(tmp_path)  # a seeded copy: downgrade must cope with data
    cfg = alembic_config(url)
    upgrade(url)
    command.downgrade(cfg, "base")
    upgrade(url)
    if backend.name == "postgres":
        backend.drop(url)
