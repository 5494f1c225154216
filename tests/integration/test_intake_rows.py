"""A new case's rows written in one statement (hub.cases.intake.write_new_rows, PostgreSQL) are
the rows the ORM's flush writes: the same registrations once through each path, the stored
rows compared column by column (values that differ by nature, such as ids, numbers and times,
compared by whether they are set), and the audit chains intact afterwards."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from functools import partial
from typing import Any

import pytest
from sqlalchemy import event, select, update

from hub.audit import service as audit
from hub.cases import intake
from hub.cases.loaders import case_for_change
from hub.db import Base
from tests.conftest import Hub
from tests.helpers import HOTLINE_CALL, PLATFORM_ASSIGNMENT, post_json

TABLES = ("cases", "reports", "case_events", "case_hops", "case_candidates", "case_external_refs")
COMPARED = (*TABLES, "outbox_messages")
# Differ between two registrations by nature: compared by whether they are set.
VARYING = {
    "id", "case_id", "candidate_id", "number", "external_id", "query_code_hash", "payload",
    "data", "reporter_phone", "distance_m", "ordering_key", "idempotency_key",
}  # fmt: skip


NUMBER = re.compile(r"XM-\d{4}-\d{6}")


def calls(run: str) -> list[tuple[str, dict[str, Any]]]:
    """A hotline call, a second caller's nearby call (a new case with the first as its
    candidate), the first caller again (a report attached to the first case), a platform
    assignment (a new case with its external reference)."""
    first = {**HOTLINE_CALL, "callId": f"{run}-1", "sourceName": None, "town": None}
    second = {
        **first,
        "callId": f"{run}-2",
        "callerPhone": "13900000000" if run == "orm" else "13700000000",
        "latitude": first["latitude"] + 0.001,
    }
    again = {**first, "callId": f"{run}-3"}  # the first caller again: joins the first case
    assignment = {**PLATFORM_ASSIGNMENT, "platformCaseId": f"ZZ-{run}"}
    return [("hotline", first), ("hotline", second), ("hotline", again), ("platform", assignment)]


async def stored(hub: Hub, case_id: str) -> dict[str, list[dict[str, Any]]]:
    found = {}
    async with hub.db.session((await hub.scope()).tenant_ids) as session:
        for table in TABLES:
            columns = Base.metadata.tables[table].c
            key = columns.id if table == "cases" else columns.case_id
            rows = await session.execute(select(columns).where(key == uuid.UUID(case_id)))
            found[table] = sorted((shape(dict(r._mapping)) for r in rows), key=repr)
        outbox = Base.metadata.tables["outbox"].c  # a hook's: the platform's status
        rows = await session.execute(
            select(outbox).where(outbox.ordering_key == f"platform:{case_id}")
        )
        found["outbox_messages"] = sorted((shape(dict(r._mapping)) for r in rows), key=repr)
    return found


def shape(row: dict[str, Any]) -> dict[str, Any]:
    """The row with what differs by nature reduced to whether it is set (case numbers quoted
    in a text: to their form)."""
    return {
        k: (v is not None)
        if k in VARYING or isinstance(v, datetime)
        else NUMBER.sub("XM-N", v)
        if isinstance(v, str)
        else v
        for k, v in sorted(row.items())
    }


async def register_all(hub: Hub, run: str) -> list[dict[str, Any]]:
    """The run's registrations, their rows, then their cases closed (the next run's calls
    then find no open case to join or to show)."""
    found, ids = [], []
    for path, body in calls(run):
        role = "HOTLINE" if path == "hotline" else "PLATFORM"
        response = await post_json(hub, body, url=f"/ingest/{path}", role=role)
        assert response.status_code == 201, response.text
        ids.append(uuid.UUID(response.json()["caseId"]))
        found.append(await stored(hub, response.json()["caseId"]))
    cases = Base.metadata.tables["cases"]
    async with hub.db.session((await hub.scope()).tenant_ids, write=True) as session:
        await session.execute(update(cases).where(cases.c.id.in_(ids)).values(status="CLOSED"))
        await session.commit()
    return found


def differences(a: list[Any], b: list[Any]) -> list[tuple[int, str, int, str, Any, Any]]:
    """(call, table, row, column, one, other) wherever the two runs' rows differ."""
    found = []
    for call, (mine, theirs) in enumerate(zip(a, b, strict=True)):
        for table in COMPARED:
            if len(mine[table]) != len(theirs[table]):
                found.append((call, table, -1, "rows", len(mine[table]), len(theirs[table])))
                continue
            for n, (one, other) in enumerate(zip(mine[table], theirs[table], strict=True)):
                found += [
                    (call, table, n, k, one[k], other.get(k)) for k in one if one[k] != other.get(k)
                ]
    return found


async def test_one_statement_rows_equal_the_flushed_ones(
    hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    statements: list[str] = []
    engine = hub.db.engine.sync_engine
    listener = partial(lambda stmts, *a: stmts.append(a[2]), statements)
    event.listen(engine, "before_cursor_execute", listener)
    try:
        with monkeypatch.context() as patched:

            async def flushed(session: Any) -> None:
                return None  # the ORM's flush at commit writes them

            async def loaded(session: Any, case_id: Any) -> Any:
                return await case_for_change(session, case_id)  # the ORM's locked query

            patched.setattr(intake, "write_new_rows", flushed)
            patched.setattr(intake, "_locked_case", loaded)
            by_orm = await register_all(hub, "orm")
        written_by_orm = len(statements)
        fast = await register_all(hub, "one")
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    assert by_orm[1]["case_candidates"], "the second call should have a candidate"
    assert len(by_orm[2]["reports"]) == 2, "the first caller's second call should join"
    assert by_orm[3]["case_external_refs"], "the assignment should have its reference"
    assert by_orm[3]["outbox_messages"], "the assignment's status should wait in the outbox"
    assert differences(fast, by_orm) == []
    one_statement = [s for s in statements[written_by_orm:] if "new_cases AS" in s]
    if hub.db.engine.dialect.name == "postgresql":
        assert len(one_statement) == 3  # each new case's rows in one statement
        outbox = [s for s in statements[written_by_orm:] if "INSERT INTO outbox" in s]
        assert len(outbox) == 1 and outbox[0] in one_statement  # the platform hook's message
        joined = [s for s in statements[written_by_orm:] if s.startswith("WITH new_reports AS")]
        assert len(joined) == 1  # the joining report, its event and its case's UPDATE
        assert "changed_cases AS" in joined[0]
        updates = [s for s in statements[written_by_orm:] if s.startswith("UPDATE cases")]
        assert len(updates) == 1  # only the test's own closing of the cases
        orm_updates = [s for s in statements[:written_by_orm] if s.startswith("UPDATE cases")]
        assert len(orm_updates) == 2  # the ORM's flush of the joined case, then the closing
        locked = [s for s in statements[written_by_orm:] if s.rstrip().endswith("FOR UPDATE")]
        assert len(locked) == 1  # the joined case, locked by the Core statement
    else:
        assert one_statement == []  # SQLite: the ORM's flush
    async with hub.db.session((await hub.scope()).tenant_ids) as session:
        scope = await hub.scope()
        chains = await audit.verify(session, scope, list(scope.tenant_ids))
        assert all(c.ok for c in chains)
