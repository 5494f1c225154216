"""`sanwang import` of a large workbook, as a grid office runs it: a real process.

    python -m tests.perf.bench_import \
        --url postgresql+asyncpg://postgres@127.0.0.1:5432/sanwang_import [--members 10000] \
        [--enterprises 5000] [--budget 10] [--no-fail]

The database is migrated and given the demo world (`sanwang migrate`, `sanwang demo`; an
existing one is reused, so drop it for a first-time import). A workbook is written from the
template (`sanwang import --template`) with ``--members`` people and ``--enterprises``
enterprises spread over the demo's village cells, then imported twice: the first import creates
every row, the second must change nothing. Each is timed as the whole process (start-up and
reading the workbook included). Exit 1 when the first import is over ``--budget`` seconds or the
second changed anything; ``--no-fail`` to ignore.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from openpyxl import load_workbook
from stdnum.cn import uscc

from hub.demo import world

ROOT = Path(__file__).resolve().parents[2]


def sanwang(url: str, cwd: Path, *args: str) -> tuple[float, str]:
    """Run `sanwang ARGS`; its wall time and stdout (fails on a non-zero exit)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SANWANG_DATABASE_URL": url}
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "hub.cli", *args], cwd=cwd, env=env, capture_output=True, text=True
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"sanwang {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return elapsed, done.stdout


def write_book(template: Path, target: Path, members: int, enterprises: int) -> None:
    wb = load_workbook(template)
    for name in wb.sheetnames:
        wb[name].delete_rows(2, wb[name].max_row)
    cells = [c for c in world.CELLS if c.level == 3]
    people = wb["人员"]
    for i in range(members):
        cell = cells[i % len(cells)]
        people.append([cell.tenant, f"P{i:06d}", f"人员{i:05d}", "网格员", cell.code,
                       f"139{i:08d}", "是"])  # fmt: skip
    firms = wb["企业"]
    for i in range(enterprises):
        cell = cells[i % len(cells)]
        base = f"91410183{i:09d}"
        firms.append([cell.tenant, base + uscc.calc_check_digit(base), f"企业{i:05d}", "耐火材料",
                      f"{cell.tenant} {i} 号", None, None, cell.code, "是"])  # fmt: skip
    wb.save(target)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--enterprises", type=int, default=5_000)
    parser.add_argument("--budget", type=float, default=10.0, help="seconds, first import")
    parser.add_argument("--no-fail", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)
        sanwang(args.url, cwd, "migrate")
        sanwang(args.url, cwd, "demo", "--no-month")
        sanwang(args.url, cwd, "import", "--template", str(cwd / "template.xlsx"))
        book = cwd / "big.xlsx"
        write_book(cwd / "template.xlsx", book, args.members, args.enterprises)
        first, first_out = sanwang(args.url, cwd, "import", str(book))
        again, again_out = sanwang(args.url, cwd, "import", str(book))
    rows = args.members + args.enterprises
    print(f"first import  {first:6.2f} s  {first_out.strip()}")
    print(f"second import {again:6.2f} s  {again_out.strip()}")
    print(f"{rows} rows; budget {args.budget:.1f} s for the first import")
    unchanged = f"{rows} 行与库中相同" in again_out
    failed = first > args.budget or not unchanged
    return 1 if failed and not args.no_fail else 0


if __name__ == "__main__":
    sys.exit(main())
