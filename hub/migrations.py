"""Applying the alembic history in migrations/ from code (serve, migrate, tests)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config

import hub


def script_location() -> Path:
    packaged = Path(hub.__file__).parent / "_migrations"  # inside a built wheel
    return packaged if packaged.exists() else Path(hub.__file__).parent.parent / "migrations"


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(script_location()))
    cfg.attributes["url"] = url
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


async def upgrade_async(url: str, revision: str = "head") -> None:
    # env.py runs its own event loop; give it a thread of its own.
    await asyncio.to_thread(upgrade, url, revision)


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config("")).get_current_head()


async def current_revision(db_url: str) -> str | None:
    from sqlalchemy import text
    from sqlalchemy.exc import SQLAlchemyError
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(db_url)
    try:
        async with engine.connect() as conn:
            return await conn.scalar(text("select version_num from alembic_version"))
    except SQLAlchemyError:
        return None
    finally:
        await engine.dispose()


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """What autogenerate compares: not the readings' month partitions (PostgreSQL), which the
    partition job makes and no model describes (``hub.monitoring.partitions``)."""
    from hub.monitoring.partitions import is_partition_table

    return not (type_ == "table" and name is not None and is_partition_table(name))
