"""The one unit of work (hub.uow): commit once, retry a conflict once, never retry anything
else, and give up with Conflict when the conflict persists."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from hub.db import Database
from hub.errors import DomainError, invalid
from hub.uow import Conflict, is_conflict, unit_of_work


class Orig(Exception):
    def __init__(self, message: str, sqlstate: str | None = None) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


def race() -> IntegrityError:
    return IntegrityError("insert", {}, Orig("duplicate key", "23505"))


class Flaky:
    """Raises the given errors on its first calls, then answers the session's SELECT 1."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls = 0

    async def __call__(self, session: AsyncSession) -> Any:
        self.calls += 1
        assert (await session.scalar(text("select 1"))) == 1
        if self.errors:
            raise self.errors.pop(0)
        return "done"


async def test_a_race_is_retried_once_and_then_commits(db: Database) -> None:
    work = Flaky(race())
    assert await unit_of_work(db, (), work) == "done"
    assert work.calls == 2


async def test_a_persisting_conflict_gives_up_with_conflict(db: Database) -> None:
    work = Flaky(race(), race(), race())
    with pytest.raises(Conflict):
        await unit_of_work(db, (), work)
    assert work.calls == 2


async def test_a_refusal_is_not_retried(db: Database) -> None:
    work = Flaky(invalid("name", "名称不能为空"))
    with pytest.raises(DomainError):
        await unit_of_work(db, (), work)
    assert work.calls == 1


@pytest.mark.parametrize(
    ("error", "retried"),
    [
        (race(), True),
        (OperationalError("update", {}, Orig("could not serialize access", "40001")), True),
        (OperationalError("update", {}, Orig("deadlock detected", "40P01")), True),
        (OperationalError("update", {}, Orig("database is locked")), True),
        (OperationalError("select", {}, Orig("connection refused", "08001")), False),
        (ValueError("a bug"), False),
    ],
)
def test_what_counts_as_a_conflict(error: Exception, retried: bool) -> None:
    assert is_conflict(error) is retried
