"""`sanwang import`: the administration workbook saved through the same use cases as the
mutations (saveGridCell, saveMember, saveEnterprise, registerCamera), all in one transaction.
Any problem, in the file or from a use case, and nothing is written; `--dry-run` checks and
rolls back anyway.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import MofNCompleteColumn, Progress
from sqlalchemy.ext.asyncio import AsyncSession

from hub.auth import Principal, Scope, scope_for
from hub.cameras.service import save_camera_row
from hub.db import Database
from hub.errors import DomainError
from hub.grid import admin
from hub.grid.workbook import CAMERAS, CELLS, MEMBERS, Book, Problem, Row, SheetSpec, read_book
from hub.roles import Role
from hub.sources import service as sources
from hub.tenancy.service import directory

# Who the audit trail names for an import: the command line runs as the city's ADMIN.
IMPORTER = Principal("sanwang-import", "Excel 导入 (sanwang import)", frozenset({Role.ADMIN}), ())


@dataclass
class Outcome:
    rows: int = 0
    changes: Counter[str] = field(default_factory=Counter)
    problems: list[Problem] = field(default_factory=list)
    written: bool = False


def _use_case(sheet: SheetSpec) -> Callable[[AsyncSession, Scope, Any], Awaitable[object]]:
    if sheet is CELLS:
        return admin.save_cell
    if sheet is MEMBERS:
        return admin.save_member
    if sheet is CAMERAS:
        return save_camera_row
    return sources.save_source


def _problem(row: Row, exc: DomainError) -> Problem:
    found = row.sheet.column_of(exc.field)
    column, heading = found if found is not None else (None, None)
    return Problem(row.sheet.name, row.number, column, heading, exc.message)


def _ordered(rows: list[Row]) -> list[Row]:
    """Cells by level (a parent before its children), then people, then enterprises."""
    cells = sorted((r for r in rows if r.sheet is CELLS), key=lambda r: r.spec.level)
    return cells + [r for r in rows if r.sheet is not CELLS]


async def _save_all(
    session: AsyncSession, scope: Scope, rows: list[Row], advance: Callable[[], None]
) -> list[Problem]:
    problems: list[Problem] = []
    for row in _ordered(rows):
        try:
            await _use_case(row.sheet)(session, scope, row.spec)
        except DomainError as exc:
            problems.append(_problem(row, exc))
        advance()
    return problems


async def import_book(
    db: Database, book: Book, *, dry_run: bool, advance: Callable[[], None] = lambda: None
) -> Outcome:
    """Save every row of the book in one transaction; commit only with no problem at all."""
    outcome = Outcome(rows=len(book.rows), problems=list(book.problems))
    if outcome.problems:
        return outcome  # the file itself is wrong: not a row is tried
    scope = scope_for(IMPORTER, await directory(db))
    async with db.session(scope.tenant_ids, write=True) as session:
        await admin.preload(session)  # one query per table instead of several per row
        await sources.preload(session)
        outcome.problems = await _save_all(session, scope, book.rows, advance)
        outcome.changes = Counter(session.info.get(admin.CHANGES_KEY, {}))
        if outcome.problems or dry_run:
            await session.rollback()
        else:
            await session.commit()
            outcome.written = True
    return outcome


ACTIONS = {"created": "新建", "updated": "更新", "deactivated": "停用", "reactivated": "恢复"}
KINDS = {"grid.cell": "网格", "grid.member": "人员", "sources.enterprise": "企业"}
OPTIONAL_KINDS = {"cameras.camera": "摄像头"}  # named only when the import changed some


def summary(outcome: Outcome) -> str:
    """What was (or, on a dry run, would be) done, in Chinese: counts per sheet and action."""
    parts = []
    shown = dict(KINDS)
    for kind, label in OPTIONAL_KINDS.items():
        if any(outcome.changes[f"{kind}_{action}"] for action in ACTIONS):
            shown[kind] = label
    for kind, label in shown.items():
        done = [
            f"{word} {outcome.changes[f'{kind}_{action}']}"
            for action, word in ACTIONS.items()
            if outcome.changes[f"{kind}_{action}"]
        ]
        parts.append(f"{label} {'、'.join(done) if done else '无变化'}")
    unchanged = outcome.rows - sum(outcome.changes.values())
    return f"{'；'.join(parts)}（共 {outcome.rows} 行，{unchanged} 行与库中相同）"


async def run(db: Database, path: Path, *, dry_run: bool) -> int:
    """The command: read, save with a progress bar on the terminal, report; the exit code
    (0 done, 1 problems: each printed with sheet, row and column, nothing written)."""
    console, errors = Console(), Console(stderr=True)
    with console.status(f"读取 {path.name} …"):
        book = read_book(path)
    columns = (*Progress.get_default_columns(), MofNCompleteColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("导入", total=len(book.rows))
        outcome = await import_book(
            db, book, dry_run=dry_run, advance=lambda: progress.advance(task)
        )
    for problem in outcome.problems:
        errors.print(str(problem), markup=False, highlight=False, soft_wrap=True)
    if outcome.problems:
        errors.print(
            f"共 {len(outcome.problems)} 处错误，未导入任何数据。", style="red", soft_wrap=True
        )
        return 1
    head = "试导入（--dry-run），未写入任何数据：" if dry_run else "导入完成："
    console.print(head + summary(outcome), markup=False, highlight=False, soft_wrap=True)
    return 0
