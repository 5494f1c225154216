"""One runtime per process: settings are read at the entry points, a Database is made in one
place, and no service reads a process-wide time zone (hub/runtime.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hub.config import Settings
from hub.db import Database
from hub.runtime import Runtime

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted(
    path.relative_to(ROOT).as_posix()
    for folder in ("hub", "connectors")
    for path in (ROOT / folder).rglob("*.py")
)


def _calling(pattern: str) -> set[str]:
    found = re.compile(pattern)
    return {path for path in SOURCES if found.search((ROOT / path).read_text(encoding="utf-8"))}


def test_the_sources_are_found() -> None:
    assert "hub/runtime.py" in SOURCES and "connectors/platform/settings.py" in SOURCES


def test_settings_are_read_only_where_a_process_starts() -> None:
    assert _calling(r"\bget_settings\(") == {"hub/config.py", "hub/cli.py"}


def test_no_service_reads_a_process_wide_time_zone() -> None:
    assert _calling(r"\blocal_tz\(") == set()


def test_a_database_is_made_in_one_place() -> None:
    """``Database(`` only in the runtime's builder and in the class itself (``sibling``: the
    same database on another event loop, for the reading writer's thread)."""
    assert _calling(r"(?<![\w.])Database\(") == {"hub/runtime.py", "hub/db.py"}


def test_no_connector_keeps_its_settings_in_a_module_global() -> None:
    assert _calling(r"(?m)^_current\b|\bglobal _current\b") == set()


def test_the_runtime_carries_what_services_are_handed() -> None:
    settings = Settings(
        _env_file=None, timezone="Asia/Urumqi", case_number_prefix="ZZ", urgent_after_callers=4
    )
    db = Database("sqlite+aiosqlite:///:memory:")
    runtime = Runtime.start(settings, db)
    assert runtime.db is db and runtime.settings is settings
    assert str(runtime.tz) == "Asia/Urumqi" and runtime.case_prefix == "ZZ"
    assert runtime.rules.urgent_callers == 4
    assert {"hotline", "platform"} <= set(runtime.connector_settings)


def test_a_connector_settings_of_another_type_is_refused() -> None:
    runtime = Runtime.start(Settings(_env_file=None), Database("sqlite+aiosqlite:///:memory:"))
    with pytest.raises(RuntimeError, match="platform"):
        runtime.connector("platform", Settings)
