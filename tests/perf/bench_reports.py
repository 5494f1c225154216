"""Reporting on a big database: the bulletin's downloads and the case export's time and memory.

    python -m tests.perf.generate --url postgresql+asyncpg://postgres@127.0.0.1:5432/sanwang_perf \
        --cases 100000 --fresh
    python -m tests.perf.bench_reports --url postgresql+asyncpg://postgres@127.0.0.1:5432/sanwang_perf

Prints figures, asserts nothing (budgets: each bulletin download under 2 s; exporting 100k cases
under 20 s, with a peak RSS that does not grow with the row count).

1. The bulletin of the current quarter (GraphQL `bulletin`), then `GET /exports/bulletin/Q.docx`
   and `.xlsx`, each twice (the first pays for loading matplotlib and python-docx), through the
   real ASGI app on the URL's database.
2. `sanwang export cases` as a real process: the newest ~10k cases (`--from` the day that cuts
   them), then every case; wall time and the process's peak RSS (wait4's ru_maxrss), so the two
   peaks can be compared.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import httpx
from sqlalchemy import func, select

from hub.app import create_app
from hub.auth import issue_jwt, system_scope
from hub.cases.model import Case
from hub.config import Settings
from hub.db import Database
from hub.runtime import Runtime

ROOT = Path(__file__).resolve().parents[2]
SECRET = "bench-secret-key-not-for-production"


async def bulletin(url: str) -> str | None:
    settings = Settings(database_url=url, secret_key=SECRET, _env_file=None)
    db = Database(url)
    try:
        runtime = Runtime.start(settings, db)
        app = create_app(runtime)
        now = datetime.now(runtime.tz)
        quarter = f"{now.year}Q{(now.month - 1) // 3 + 1}"
        token = issue_jwt(SECRET, "bench", ["SUPERVISOR"], [])
        headers = {"Authorization": f"Bearer {token}"}
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub") as http:
            query = f'{{ bulletin(quarter: "{quarter}") {{ towns {{ name found rank }} }} }}'
            started = time.perf_counter()
            answer = await http.post("/graphql", json={"query": query}, headers=headers)
            took = time.perf_counter() - started
            towns = answer.json()["data"]["bulletin"]["towns"]
            found = sum(t["found"] for t in towns)
            print(f"bulletin {quarter}: {len(towns)} towns, {found} cases, query {took:.3f} s")
            for suffix in ("docx", "xlsx"):
                for attempt in ("first", "again"):
                    started = time.perf_counter()
                    got = await http.get(f"/exports/bulletin/{quarter}.{suffix}", headers=headers)
                    took = time.perf_counter() - started
                    assert got.status_code == 200, got.text
                    print(f"  GET .{suffix} ({attempt}): {took:.3f} s, {len(got.content)} bytes")
        async with db.session((await system_scope(db)).tenant_ids) as session:
            newest = await session.scalar(
                select(Case.created_at).order_by(Case.created_at.desc()).offset(10_000).limit(1)
            )
            total = await session.scalar(select(func.count()).select_from(Case))
        print(f"cases in the database: {total}")
        return newest.astimezone(runtime.tz).date().isoformat() if newest else None
    finally:
        await db.dispose()


def export(url: str, out: Path, *args: str) -> tuple[float, float, float, str]:
    """`sanwang export cases OUT ARGS`: wall seconds, CPU seconds (user + system, which a busy
    shared machine disturbs less), peak RSS in MiB, its last line."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SANWANG_DATABASE_URL": url}
    env["SANWANG_SECRET_KEY"] = SECRET
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "hub.cli", "export", "cases", str(out), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    output = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    took = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"export failed ({proc.returncode}): {output}")
    cpu = usage.ru_utime + usage.ru_stime
    return took, cpu, usage.ru_maxrss / 1024, output.strip().splitlines()[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", required=True)
    args = parser.parse_args()
    cut = asyncio.run(bulletin(args.url))
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "cases.xlsx"
        runs = [("newest ~10k", ["--from", cut] if cut else []), ("all", [])]
        for name, extra in runs:
            took, cpu, rss, line = export(args.url, out, *extra)
            size = out.stat().st_size / 2**20
            print(
                f"export {name}: {line}; {took:.1f} s wall, {cpu:.1f} s CPU, "
                f"peak RSS {rss:.0f} MiB, file {size:.1f} MiB"
            )


if __name__ == "__main__":
    main()
