"""A burst of hotline calls at once (the intake's fast path): about one plant from six
callers and about other places, all concurrent. The case, its reports and their query codes,
the audit chain, the change feed and the priority rule come out as if one at a time."""

from __future__ import annotations

import asyncio
from functools import partial

from sqlalchemy import func, select

from hub.audit.model import AuditEntry, AuditHead
from hub.cases.model import Report
from hub.sync.model import CaseFeed
from tests.conftest import Hub
from tests.helpers import HOTLINE_CALL as CALL
from tests.helpers import post_json

post = partial(post_json, url="/ingest/hotline", role="HOTLINE")

VERIFY = """query($t: String) { verifyAuditTrail(tenantCode: $t) { ok checked brokenAtSeq } }"""
CASE = """query($id: ID!) { case(id: $id) { reportCount priority timeline { action } } }"""


def plant_call(n: int) -> dict[str, object]:
    return {**CALL, "callId": f"burst-plant-{n}", "callerPhone": f"1390000000{n}"}


def elsewhere(n: int) -> dict[str, object]:
    return {
        **CALL,
        "callId": f"burst-else-{n}",
        "callerPhone": f"1370000000{n}",
        "description": f"第{n}处河道有异味",
        "category": "WATER",
        "sourceName": None,
        "address": None,
        "latitude": 34.50 + n / 100,
        "longitude": 113.30 + n / 100,
    }


async def test_a_burst_of_calls_keeps_every_rule(hub: Hub) -> None:
    bodies = [plant_call(n) for n in range(6)] + [elsewhere(n) for n in range(4)]
    answers = await asyncio.gather(*(post(hub, body) for body in bodies))
    assert [a.status_code for a in answers] == [201] * 10, [a.text for a in answers]
    plant = {a.json()["caseId"] for a in answers[:6]}
    assert len(plant) == 1, "six calls about one plant make one case"
    found = (await hub.gql(CASE, {"id": plant.pop()}))["case"]
    assert found["reportCount"] == 6 and found["priority"] == "URGENT"
    actions = [e["action"] for e in found["timeline"]]
    assert actions.count("PRIORITY_RAISED") == 1 and actions.count("REPORT_ATTACHED") == 5
    case_ids = {a.json()["caseId"] for a in answers}
    assert len(case_ids) == 5

    verified = (await hub.gql(VERIFY, {"t": "laiji"}))["verifyAuditTrail"]
    assert verified["ok"], verified
    scope = await hub.scope()
    laiji = scope.directory.by_code["laiji"].id
    async with hub.db.session(scope.tenant_ids) as session:
        entries = await session.scalar(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.tenant_id == laiji)
        )
        head = await session.get(AuditHead, laiji)
        fed = set(await session.scalars(select(CaseFeed.case_id)))
        codes = list(
            await session.scalars(
                select(Report.query_code_hash).where(Report.external_id.like("burst-%"))
            )
        )
    # 5 cases opened, 5 reports attached, 1 priority raised: one entry each, no fork.
    assert head is not None and head.seq == entries == verified["checked"] == 11
    assert {str(c) for c in fed} >= case_ids, "every case is in the change feed"
    assert len(codes) == 10 and all(codes), "each call's query code is stored"
