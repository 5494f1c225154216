"""Every table is mapped before a command touches the database: hub/models.py imports every
feature's model module, and the CLI imports hub/models.py. Each check runs in a fresh
interpreter, where nothing else has imported the models already."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def fresh_python(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def model_modules() -> set[str]:
    """Every model module in the repository, by the file layout (``<feature>/model.py``)."""
    files = [*ROOT.glob("hub/**/model.py"), *ROOT.glob("connectors/**/model.py")]
    return {".".join(f.relative_to(ROOT).with_suffix("").parts) for f in files}


def test_hub_models_imports_every_model_module() -> None:
    loaded = fresh_python(
        "import sys, hub.models; print('\\n'.join(m for m in sys.modules if m.endswith('.model')))"
    )
    assert model_modules() <= set(loaded.split())


def test_a_cli_command_can_configure_every_mapper_before_any_query() -> None:
    """What `token create` on PostgreSQL failed at when it flushed: every foreign key finds
    its table (principals.member_id -> members)."""
    fresh_python(
        "import sqlalchemy.orm, hub.cli, hub.auth; from hub.db import Base;"
        " hub.cli._settings(); sqlalchemy.orm.configure_mappers();"
        " [fk.column for t in Base.metadata.tables.values() for fk in t.foreign_keys]"
    )
