"""Joint enforcement (联合执法) through the live app, on both databases: the cases linked JOINT
both ways (once), the action on each case's timeline, counted per town and period, who may
record one, and every bad input refused with nothing half-written."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from hub.audit.model import AuditEntry
from hub.cases.model import CaseLink, Event
from hub.db import utcnow
from hub.joint import service as joint
from hub.joint.model import JointAction, JointActionCase
from tests.conftest import Hub, register
from tests.operations import op

CASE_LINKS = """query($id: ID!) {
  case(id: $id) { links { kind case { id } } timeline { action note label } }
}"""


def action_input(case_ids: list[str], **fields: Any) -> dict[str, Any]:
    return {
        "caseIds": case_ids,
        "departments": ["生态环境分局", "自然资源局", "镇综合执法队"],
        "at": (utcnow() - timedelta(hours=2)).isoformat(),
        "note": "联合检查宏达耐火材料厂料场，责令当场整改",
        **fields,
    }


async def record(hub: Hub, case_ids: list[str], token: str | None = None, **fields: Any) -> dict:
    data = await hub.gql(
        op("RecordJointAction"), {"input": action_input(case_ids, **fields)}, token=token
    )
    return dict(data["recordJointAction"])


async def state(hub: Hub) -> dict[str, Any]:
    scope = await hub.scope()
    async with hub.db.session(scope.tenant_ids) as session:
        return {
            model.__name__: await session.scalar(select(func.count()).select_from(model))
            for model in (JointAction, JointActionCase, CaseLink, Event, AuditEntry)
        }


async def counts(hub: Hub, since: datetime, until: datetime) -> dict[str, int]:
    scope = await hub.scope()
    async with hub.db.session(scope.tenant_ids) as session:
        found = await joint.counts_per_town(session, since, until)
    return {scope.directory.by_id[t].code: n for t, n in found.items()}


async def test_a_joint_action_links_the_cases_and_is_on_each_timeline(hub: Hub) -> None:
    a = (await register(hub, tenantCode="laiji"))["case"]
    b = (await register(hub, tenantCode="laiji", title="夜间异味", category="AIR"))["case"]
    c = (await register(hub, tenantCode="chaohua"))["case"]
    dispatcher = hub.token("DISPATCHER")
    done = await record(hub, [a["id"], b["id"], c["id"], a["id"]], dispatcher)
    assert done["__typename"] == "JointActionResult", done
    action = done["action"]
    assert action["departments"] == ["生态环境分局", "自然资源局", "镇综合执法队"]
    assert sorted(x["number"] for x in action["cases"]) == sorted(
        [a["number"], b["number"], c["number"]]
    ), "each case once"
    for case, others in ((a, {b["id"], c["id"]}), (c, {a["id"], b["id"]})):
        data = (await hub.gql(CASE_LINKS, {"id": case["id"]}))["case"]
        assert {x["case"]["id"] for x in data["links"] if x["kind"] == "JOINT"} == others
        entries = [e for e in data["timeline"] if e["action"] == "JOINT_ACTION"]
        assert [(e["note"], e["label"]) for e in entries] == [
            ("联合检查宏达耐火材料厂料场，责令当场整改", "联合执法")
        ]
    trail = (await hub.gql(op("AuditTrail"), {"subjectId": action["id"]}))["auditTrail"]
    assert [e["action"] for e in trail] == ["joint.recorded"]

    # Again on two of them: no second link, one more on their timelines and in the counts.
    again = await record(hub, [a["id"], b["id"]], hub.token("OPERATOR", ["laiji"]))
    assert again["__typename"] == "JointActionResult", again
    data = (await hub.gql(CASE_LINKS, {"id": a["id"]}))["case"]
    assert sum(1 for x in data["links"] if x["kind"] == "JOINT") == 2
    assert sum(1 for e in data["timeline"] if e["action"] == "JOINT_ACTION") == 2
    now = utcnow()
    assert await counts(hub, now - timedelta(days=1), now) == {"laiji": 2, "chaohua": 1}
    assert await counts(hub, now - timedelta(hours=1), now) == {}, "by the action's time"
    for town in ("laiji", "chaohua", "xinmi"):
        verified = (await hub.gql(op("VerifyAudit"), {"tenantCode": town}))["verifyAuditTrail"]
        assert verified["ok"] is True


async def test_a_single_case_and_the_counts_of_a_town_caller(hub: Hub) -> None:
    case = (await register(hub, tenantCode="dawei"))["case"]
    done = await record(hub, [case["id"]], hub.token("SUPERVISOR"))
    assert [x["id"] for x in done["action"]["cases"]] == [case["id"]]
    data = (await hub.gql(CASE_LINKS, {"id": case["id"]}))["case"]
    assert data["links"] == []
    scope_counts = await counts(hub, utcnow() - timedelta(days=1), utcnow())
    assert scope_counts == {"dawei": 1}


# --- bad input: refused, named, nothing written --------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "token", "code", "field"),
    [
        ({"caseIds": []}, None, "VALIDATION", "caseIds"),
        ({"departments": []}, None, "VALIDATION", "departments"),
        ({"departments": ["生态环境分局", "  "]}, None, "VALIDATION", "departments[1]"),
        ({"note": " "}, None, "VALIDATION", "note"),
        ({"at": "FUTURE"}, None, "VALIDATION", "at"),
        ({"at": "2026-12-01T10:00:00"}, None, "VALIDATION", "at"),
        ({"caseIds": ["UNKNOWN"]}, None, "NOT_FOUND", "caseIds"),
        ({"caseIds": ["not-an-id"]}, None, "NOT_FOUND", "caseIds"),
        ({"caseIds": ["OTHER_TOWN"]}, ("OPERATOR", ["laiji"]), "NOT_FOUND", "caseIds"),
        ({}, ("MEMBER", ["laiji"]), "FORBIDDEN", None),
        ({}, ("VIEWER", []), "FORBIDDEN", None),
    ],
)
async def test_bad_joint_actions_are_refused(
    hub: Hub, fields: dict[str, Any], token: tuple[str, list[str]] | None, code: str, field: str
) -> None:
    own = (await register(hub, tenantCode="laiji"))["case"]
    values = dict(fields)
    if values.get("at") == "FUTURE":
        values["at"] = (utcnow() + timedelta(hours=1)).isoformat()
    if values.get("caseIds") == ["UNKNOWN"]:
        values["caseIds"] = [own["id"], "00000000-0000-4000-8000-000000000000"]
    if values.get("caseIds") == ["OTHER_TOWN"]:
        other = (await register(hub, tenantCode="chaohua"))["case"]
        values["caseIds"] = [own["id"], other["id"]]
    before = await state(hub)
    answer = await record(hub, [own["id"]], hub.token(*token) if token else None, **values)
    assert answer["__typename"] == "UserError", answer
    assert (answer["code"], answer["field"]) == (code, field)
    assert not answer["message"].isascii(), "a Chinese message"
    assert await state(hub) == before, "nothing half-written"


async def test_a_merged_case_takes_no_joint_action(hub: Hub) -> None:
    a = (await register(hub, tenantCode="laiji"))["case"]
    b = (await register(hub, tenantCode="laiji", title="另一处扬尘", category="NOISE"))["case"]
    merged = await hub.gql(op("MergeCase"), {"caseId": b["id"], "intoCaseId": a["id"]})
    assert merged["mergeCase"]["__typename"] == "CaseResult", merged
    before = await state(hub)
    answer = await record(hub, [a["id"], b["id"]])
    assert (answer["code"], answer["field"]) == ("INVALID_TRANSITION", "caseIds")
    assert await state(hub) == before
