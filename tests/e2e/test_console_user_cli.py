"""`sanwang user create`: the password from stdin only, refusals in Chinese, nothing written on
a refusal."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.processes import ROOT


def _user(home: Path, *args: str, stdin: str) -> subprocess.CompletedProcess[str]:
    return _sanwang(home, "user", "create", *args, stdin=stdin)


def _sanwang(home: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SANWANG_")}
    env.update(
        SANWANG_DATABASE_URL=f"sqlite+aiosqlite:///{home / 'hub.db'}",
        SANWANG_SECRET_KEY="cli-test-secret",
        PYTHONPATH=str(ROOT),
    )
    return subprocess.run(
        [sys.executable, "-m", "hub.cli", *args],
        cwd=home,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_user_create_reads_the_password_from_stdin(tmp_path: Path) -> None:
    assert _sanwang(tmp_path, "demo", "--no-month").returncode == 0  # the towns
    short = _user(tmp_path, "--name", "li", "--role", "dispatcher", stdin="short\n")
    assert short.returncode == 1 and "密码至少 10 个字符" in short.stderr
    town = _user(tmp_path, "--name", "li", "--role", "operator", stdin="long enough pw\n")
    assert town.returncode == 1 and "请给 --tenant" in town.stderr
    made = _user(
        tmp_path,
        "--name",
        "li",
        "--role",
        "operator",
        "--tenant",
        "laiji",
        "--display-name",
        "李四",
        stdin="long enough pw\n",
    )
    assert made.returncode == 0, made.stderr
    assert "created console account li (李四; OPERATOR; tenants: laiji)" in made.stdout
    assert "long enough pw" not in made.stdout + made.stderr
    again = _user(tmp_path, "--name", "li", "--role", "viewer", stdin="long enough pw\n")
    assert again.returncode == 1 and "已存在" in again.stderr
    assert b"long enough pw" not in (tmp_path / "hub.db").read_bytes()  # only the argon2 hash
