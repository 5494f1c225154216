"""Information briefings (信息简报) through the live app, on both databases: submitted, adopted,
counted per year, audited; bad input refused naming the field."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest

from hub.db import utcnow
from tests.conftest import GraphQLError, Hub
from tests.helpers import snapshot
from tests.operations import op


def spec(issue: int = 1, **fields: Any) -> dict[str, Any]:
    return {
        "issue": issue,
        "title": "来集镇开展秸秆禁烧专项巡查",
        "submittedTo": "市生态环境局",
        "submittedAt": "2026-03-02T09:30:00+08:00",
        **fields,
    }


async def submit(hub: Hub, token: str | None = None, **fields: Any) -> dict[str, Any]:
    data = await hub.gql(op("SubmitBriefing"), {"input": spec(**fields)}, token=token)
    return data["submitBriefing"]


async def adopt(hub: Hub, id: str, by: str, token: str | None = None) -> dict[str, Any]:
    data = await hub.gql(op("MarkBriefingAdopted"), {"id": id, "adoptedBy": by}, token=token)
    return data["markBriefingAdopted"]


async def test_a_year_of_briefings_submitted_and_adopted(hub: Hub) -> None:
    dispatcher, supervisor = hub.token("DISPATCHER"), hub.token("SUPERVISOR")
    first = await submit(hub, dispatcher, issue=1)
    assert first["__typename"] == "BriefingResult", first
    assert first["briefing"]["issue"] == 1 and first["briefing"]["adopted"] is False
    second = await submit(hub, supervisor, issue=2, title="扬尘治理周报")
    # the first day of 2026 in Shanghai is still 2025 in UTC: counted in 2026
    third = await submit(hub, issue=3, submittedAt="2025-12-31T16:30:00Z")
    await submit(hub, issue=1, submittedAt="2025-06-01T10:00:00+08:00")  # 2025's own issue 1
    adopted = await adopt(hub, second["briefing"]["id"], "市社管平台", dispatcher)
    assert adopted["briefing"] == {
        "id": second["briefing"]["id"],
        "adopted": True,
        "adoptedBy": "市社管平台",
    }
    again = await adopt(hub, second["briefing"]["id"], "市社管平台")  # a retry: unchanged
    assert again["__typename"] == "BriefingResult" and again["briefing"]["adopted"] is True
    other = await adopt(hub, second["briefing"]["id"], "省生态环境厅")
    assert other["__typename"] == "UserError" and other["code"] == "CONFLICT"
    assert other["field"] == "adoptedBy"
    year = (await hub.gql(op("Briefings"), {"year": 2026}, token=hub.token("VIEWER")))["briefings"]
    assert (year["submitted"], year["adopted"]) == (3, 1)
    assert [i["issue"] for i in year["items"]] == [1, 2, 3]
    assert year["items"][1]["adoptedBy"] == "市社管平台"
    assert year["items"][2]["id"] == third["briefing"]["id"]
    assert year["items"][0]["submittedTo"] == "市生态环境局"
    last = (await hub.gql(op("Briefings"), {"year": 2025}))["briefings"]
    assert (last["submitted"], last["adopted"]) == (1, 0)
    trail = await hub.gql(op("AuditTrail"), {"subjectId": second["briefing"]["id"]})
    actions = [e["action"] for e in trail["auditTrail"]]
    assert actions == ["briefing.submitted", "briefing.adopted"]  # the retry wrote nothing


@pytest.mark.parametrize(
    ("fields", "field", "code"),
    [
        ({"issue": 0}, "issue", "VALIDATION"),
        ({"issue": -3}, "issue", "VALIDATION"),
        ({"issue": 10_000}, "issue", "VALIDATION"),
        ({"title": "  "}, "title", "VALIDATION"),
        ({"title": "标" * 201}, "title", "VALIDATION"),
        ({"submittedTo": ""}, "submittedTo", "VALIDATION"),
        ({"submittedAt": "2026-03-02T09:30:00"}, "submittedAt", "VALIDATION"),
        ({"submittedAt": "1999-12-01T09:30:00+08:00"}, "submittedAt", "VALIDATION"),
    ],
)
async def test_bad_briefings_are_refused_naming_the_field(
    hub: Hub, fields: dict[str, Any], field: str, code: str
) -> None:
    before = await snapshot(hub)
    refused = await submit(hub, **fields)
    assert refused["__typename"] == "UserError", refused
    assert (refused["code"], refused["field"]) == (code, field)
    assert any("\u4e00" <= ch <= "\u9fff" for ch in refused["message"])
    assert await snapshot(hub) == before  # nothing written, no audit entry


async def test_a_future_briefing_a_repeated_issue_and_unknown_ids(hub: Hub) -> None:
    future = await submit(hub, submittedAt=(utcnow() + timedelta(days=1)).isoformat())
    assert (future["code"], future["field"]) == ("VALIDATION", "submittedAt")
    assert (await submit(hub, issue=7))["__typename"] == "BriefingResult"
    repeated = await submit(hub, issue=7, title="另一期")
    assert (repeated["code"], repeated["field"]) == ("CONFLICT", "issue")
    for unknown in (str(uuid.uuid4()), "not-an-id"):
        missing = await adopt(hub, unknown, "市社管平台")
        assert (missing["code"], missing["field"]) == ("NOT_FOUND", "id")
    made = await submit(hub, issue=8)
    blank = await adopt(hub, made["briefing"]["id"], " ")
    assert (blank["code"], blank["field"]) == ("VALIDATION", "adoptedBy")
    bad_year = await hub.post(op("Briefings"), {"year": 1800}, token=hub.admin)
    assert bad_year.json()["errors"][0]["extensions"] == {"code": "VALIDATION", "field": "year"}


async def test_briefings_are_the_bureaus_not_a_towns(hub: Hub) -> None:
    made = await submit(hub, issue=1)
    for role, towns in (("OPERATOR", ["laiji"]), ("MEMBER", ["laiji"]), ("HOTLINE", [])):
        token = hub.token(role, towns)
        refused = await submit(hub, token, issue=2)
        assert refused["code"] == "FORBIDDEN", (role, refused)
        assert (await adopt(hub, made["briefing"]["id"], "市平台", token))["code"] == "FORBIDDEN"
        with pytest.raises(GraphQLError, match="FORBIDDEN"):
            await hub.gql(op("Briefings"), {"year": 2026}, token=token)
    # a supervisor limited to one town does not see the bureau's record
    narrow = hub.token("SUPERVISOR", ["laiji"])
    assert (await submit(hub, narrow, issue=3))["code"] == "FORBIDDEN"
