"""docs/architecture.md cannot go stale silently: it names every module and feature folder of
hub/ and every connector package, and every hub/ or connectors/ path it names exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
# A path as the doc writes it: `hub/uow.py`, `hub/cases/`, `connectors/hj212/server.py`.
NAMED = re.compile(r"\b((?:hub|connectors)/[\w/]*\w(?:\.py|/))")


def _parts(top: str) -> list[str]:
    """Every top-level module (`hub/uow.py`) and package (`hub/cases/`) of a source folder."""
    base = ROOT / top
    modules = [f"{top}/{p.name}" for p in base.glob("*.py") if p.name != "__init__.py"]
    packages = [f"{top}/{p.name}/" for p in base.iterdir() if (p / "__init__.py").is_file()]
    return sorted(modules + packages)


@pytest.mark.parametrize("part", _parts("hub") + _parts("connectors"))
def test_every_module_and_package_is_named(part: str) -> None:
    assert f"`{part}`" in DOC, f"docs/architecture.md does not name {part}: add it to the map"


def test_the_parts_are_found() -> None:
    # The walk itself must see the known layout, else the test above would pass on nothing.
    parts = _parts("hub") + _parts("connectors")
    assert {"hub/uow.py", "hub/cases/", "connectors/hj212/", "connectors/ingest.py"} <= set(parts)


def test_every_named_path_exists() -> None:
    missing = sorted({p for p in NAMED.findall(DOC) if not (ROOT / p).exists()})
    assert not missing, f"docs/architecture.md names paths that do not exist: {missing}"
