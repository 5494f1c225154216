"""The case list read as plain rows and CaseDetail read in one statement (PostgreSQL) answer
exactly what the ORM path answers, for every kind of caller: the same bytes, masks and
audit entries. (On SQLite the detail takes the ORM path either way; the list's plain rows are
compared on both.)"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from hub.audit.model import AuditEntry
from hub.cases import loaders, queries
from tests.conftest import Hub, register
from tests.helpers import counting
from tests.operations import op

# Every field of a listed case that is not a list, through fragments and aliases.
WIDE_LIST = """query($first: Int) { cases(first: $first) { totalCount pageInfo { hasNextPage }
  edges { cursor node { ...F n: number statusLabel categoryLabel priorityLabel cardLabel
    channelLabels location { address latitude longitude }
    tenant { code name kind parentCode } gridCell { id code name level }
    assignee { id name role } source { id name industry address } } } } }
fragment F on Case { id number title description status category priority card channels
  createdAt updatedAt acceptDueAt dueAt resolvedAt closedAt overdue reportCount
  returnedReason onSiteAt satisfaction }"""

WIDE_DETAIL = op("CaseDetail").replace(
    "tenant { code name }",
    "tenant { code name } gridCell { id code name level } assignee { id name role } "
    "source { id name } reportCount updatedAt reports { title category outcome anonymous }",
)


async def _world(hub: Hub) -> list[str]:
    """Cases with a cell, an assignee, a source, reporters (one anonymous), notes that hold
    phone numbers, a merge (links both ways) and cases in two towns."""
    cells = (await hub.gql(op("GridCells"), {"tenantCode": "laiji"}))["gridCells"]
    cell = next(c for c in cells if c["members"])
    first = await register(
        hub,
        externalId="p1",
        tenantCode="laiji",
        reporterName="张三",
        reporterPhone="13812345678",
        description="电话 13812345678 反映扬尘",
    )
    case_id = first["case"]["id"]
    dispatch = {
        "tenantCode": "laiji",
        "gridCellId": cell["id"],
        "assigneeId": cell["members"][0]["id"],
        "note": "请联系 13912345678",
    }
    await hub.gql(op("DispatchCase"), {"caseId": case_id, "input": dispatch})
    anonymous = await register(
        hub, externalId="p2", tenantCode="laiji", reporterPhone="13700000001", category="NOISE"
    )
    merged = await register(hub, externalId="p3", tenantCode="laiji", category="WATER")
    await hub.gql(
        op("MergeCase"), {"caseId": merged["case"]["id"], "intoCaseId": case_id, "note": "同"}
    )
    other = await register(hub, externalId="p4", tenantCode="chaohua", reporterPhone="13600000002")
    return [case_id, anonymous["case"]["id"], merged["case"]["id"], other["case"]["id"]]


async def _audited(hub: Hub) -> int:
    scope = await hub.scope()
    async with hub.db.session(scope.tenant_ids) as session:
        return int(await session.scalar(select(func.count()).select_from(AuditEntry)) or 0)


async def _both(
    hub: Hub, monkeypatch: pytest.MonkeyPatch, query: str, variables: dict[str, Any], token: str
) -> tuple[str, str, int, int]:
    """(fast answer, ORM answer, audit entries each wrote)."""
    body = {"query": query, "variables": variables}
    headers = {"Authorization": f"Bearer {token}"}
    before = await _audited(hub)
    fast = (await hub.http.post("/graphql", json=body, headers=headers)).text
    middle = await _audited(hub)
    with monkeypatch.context() as patched:
        patched.setattr(queries, "plain_list", lambda include: False)
        patched.setattr(loaders, "one_statement", lambda session, include: False)
        orm = (await hub.http.post("/graphql", json=body, headers=headers)).text
    return fast, orm, middle - before, await _audited(hub) - middle


CALLERS = [
    ("VIEWER", []),  # masked phones and text
    ("DISPATCHER", []),  # full phones, audited
    ("HOTLINE", []),  # sees anonymous reporters
    ("OPERATOR", ["laiji"]),  # one town
    ("OPERATOR", ["chaohua"]),
]


async def test_plain_rows_and_one_statement_answer_what_the_orm_answers(
    hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = await _world(hub)
    for role, towns in CALLERS:
        token = hub.token(role, towns)
        fast, orm, _, _ = await _both(hub, monkeypatch, WIDE_LIST, {"first": 10}, token)
        assert '"errors"' not in fast, fast
        assert fast == orm, role
        for case_id in ids:
            for query in (op("CaseDetail"), WIDE_DETAIL):
                fast, orm, audited_fast, audited_orm = await _both(
                    hub, monkeypatch, query, {"id": case_id}, token
                )
                assert '"errors"' not in fast, fast
                assert fast == orm, (role, towns, case_id)
                assert audited_fast == audited_orm, (role, case_id)


async def test_another_towns_case_does_not_exist_on_the_fast_paths(hub: Hub) -> None:
    ids = await _world(hub)
    token = hub.token("OPERATOR", ["chaohua"])
    detail = await hub.gql(op("CaseDetail"), {"id": ids[0]}, token=token)
    assert detail["case"] is None
    listed = await hub.gql(WIDE_LIST, {"first": 50}, token=token)
    assert [e["node"]["id"] for e in listed["cases"]["edges"]] == [ids[3]]
    assert listed["cases"]["totalCount"] == 1


async def test_the_detail_reads_its_lists_in_one_statement_on_postgresql(hub: Hub) -> None:
    ids = await _world(hub)
    token = hub.token("OPERATOR", ["laiji"])  # reads masked phones: nothing to audit
    await hub.gql(op("CaseDetail"), {"id": ids[0]}, token=token)  # warm the directory
    with counting(hub.db) as statements:
        found = await hub.gql(op("CaseDetail"), {"id": ids[0]}, token=token)
    assert len(found["case"]["timeline"]) >= 2 and found["case"]["links"]
    reads = [s for s in statements if "set_config" not in s and s != "BEGIN"]
    # PostgreSQL: the case and its four lists in one statement; SQLite: the ORM's five.
    assert len(reads) == (1 if hub.db.engine.dialect.name == "postgresql" else 5), reads
