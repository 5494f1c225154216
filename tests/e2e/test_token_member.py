"""`sanwang token create --member` through the real command: a MEMBER token bound to the person
with that staff number, and each wrong use refused with a clear message and exit 1."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest

from hub.demo import world
from tests.processes import run_sanwang as sanwang


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh working directory: the embedded default keeps sanwang.db and its key here."""
    for name in ("SANWANG_DATABASE_URL", "SANWANG_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def test_token_create_member(home: Path) -> None:
    sanwang(home, "migrate")
    sanwang(home, "demo", "--no-month")
    staff = world.MEMBERS[0]
    args = ["token", "create", "--name", staff.name, "--role", "member"]
    done = sanwang(home, *args, "--tenant", staff.tenant, "--member", staff.external_id)
    *_, said, token = done.stdout.strip().splitlines()
    assert re.fullmatch(r"sw_[A-Za-z0-9_-]{40,}", token)
    assert f"member {staff.external_id}" in said
    with sqlite3.connect(home / "sanwang.db") as conn:
        bound = conn.execute(
            "select m.external_id from principals p join members m on m.id = p.member_id"
        ).fetchall()
    assert bound == [(staff.external_id,)]
    unknown = sanwang(home, *args, "--tenant", staff.tenant, "--member", "XM0000", check=False)
    assert unknown.returncode == 1 and "没有工号" in unknown.stderr
    other_town = sanwang(home, *args, "--tenant", "chaohua", "--member", staff.external_id,
                         check=False)  # fmt: skip
    assert other_town.returncode == 1 and "没有工号" in other_town.stderr
