"""POST /ingest/platform against the live ASGI app, on every backend: the contract's answers,
exactly-once on platformCaseId (also under simultaneous deliveries), ADMIN may post (who may
not: test_ingest_auth.py), bad input (a 422 naming the field, nothing stored), and the case it
makes (externalRef, the platform's deadline).
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import pytest
from sqlalchemy import select

from hub.cases.model import Report
from tests.conftest import Hub
from tests.helpers import PLATFORM_ASSIGNMENT as ASSIGNMENT
from tests.helpers import post_json, refused, snapshot

URL = "/ingest/platform"
post = partial(post_json, url=URL, role="PLATFORM")
DEADLINE_UTC = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)

CASE_DETAIL = """
query CaseDetail($id: ID!) {
  case(id: $id) {
    id number title description category dueAt channels reportCount
    tenant { code }
    reports { channel externalId receivedAt }
    externalRefs { system externalId }
  }
}"""
DROP = object()


def assignment(**changes: Any) -> dict[str, Any]:
    body = {**ASSIGNMENT, **changes}
    return {k: v for k, v in body.items() if v is not DROP}


async def case(hub: Hub, case_id: str) -> dict[str, Any]:
    return (await hub.gql(CASE_DETAIL, {"id": case_id}, operation="CaseDetail"))["case"]


def instant(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


# --- the contract's answers -------------------------------------------------------------------


async def test_new_assignment_201_then_repeat_200_same_case(hub: Hub) -> None:
    first = await post(hub, ASSIGNMENT)
    assert first.status_code == 201, first.text
    answer = first.json()
    assert set(answer) == {"caseId", "caseNumber", "duplicateOf"}
    assert answer["duplicateOf"] is None and answer["caseNumber"]
    before = await snapshot(hub)
    again = await post(hub, dict(reversed(list(ASSIGNMENT.items()))))  # same JSON, reordered
    assert again.status_code == 200, again.text
    assert again.json() == answer
    assert await snapshot(hub) == before


async def test_case_carries_the_external_ref_and_the_platforms_deadline(hub: Hub) -> None:
    answer = (await post(hub, ASSIGNMENT)).json()
    found = await case(hub, answer["caseId"])
    assert found["number"] == answer["caseNumber"]
    assert found["externalRefs"] == [{"system": "platform", "externalId": "ZZ-2026-000123"}]
    assert instant(found["dueAt"]) == DEADLINE_UTC
    assert found["title"] == ASSIGNMENT["title"]
    assert found["description"] == ASSIGNMENT["description"]
    assert found["category"] == "DUST" and found["tenant"]["code"] == "chaohua"
    assert found["channels"] == ["PLATFORM"] and found["reportCount"] == 1
    (report,) = found["reports"]
    assert report["channel"] == "PLATFORM" and report["externalId"] == "ZZ-2026-000123"
    assert instant(report["receivedAt"]) == datetime(2026, 11, 28, 1, 30, tzinfo=UTC)
    async with hub.db.session((await hub.scope()).tenant_ids) as session:
        row = await session.scalar(
            select(Report).where(Report.external_id == ASSIGNMENT["platformCaseId"])
        )
    assert row is not None and row.payload == ASSIGNMENT  # the payload verbatim


async def test_without_deadline_or_category_the_defaults_apply(hub: Hub) -> None:
    body = assignment(deadline=DROP, category=DROP, platformCaseId="ZZ-2026-000124")
    response = await post(hub, body)
    assert response.status_code == 201, response.text
    found = await case(hub, response.json()["caseId"])
    assert found["category"] == "OTHER"
    assert found["externalRefs"] == [{"system": "platform", "externalId": "ZZ-2026-000124"}]


async def test_same_id_other_body_is_409_and_changes_nothing(hub: Hub) -> None:
    answer = (await post(hub, ASSIGNMENT)).json()
    before = await snapshot(hub)
    later = "2026-12-10T18:00:00+08:00"
    error = refused(await post(hub, assignment(deadline=later)), 409, "platformCaseId")
    assert error["code"] == "CONFLICT" and "deadline" in error["message"]
    assert await snapshot(hub) == before
    found = await case(hub, answer["caseId"])
    assert instant(found["dueAt"]) == DEADLINE_UTC and found["reportCount"] == 1


async def test_another_channels_id_is_not_a_repeat(hub: Hub) -> None:
    # A hotline call with the same external id is another arrival, not this assignment.
    hotline = {
        "callId": ASSIGNMENT["platformCaseId"],
        "receivedAt": ASSIGNMENT["assignedAt"],
        "description": "噪音扰民",
        "town": "laiji",
    }
    headers = {"Authorization": f"Bearer {hub.token('HOTLINE')}"}
    assert (
        await hub.http.post("/ingest/hotline", json=hotline, headers=headers)
    ).status_code == 201
    assert (await post(hub, ASSIGNMENT)).status_code == 201


# --- auth ----------------------------------------------------------------------------------------


async def test_admin_may_post_assignments(hub: Hub) -> None:
    assert (await post(hub, ASSIGNMENT, role="ADMIN")).status_code == 201


# --- bad input: a 422 naming the field, nothing stored -------------------------------------------


def future(minutes: float) -> str:
    return (datetime.now(UTC) + timedelta(minutes=minutes)).isoformat()


BAD_BODIES = [
    ("missing platformCaseId", assignment(platformCaseId=DROP), "platformCaseId"),
    ("missing assignedAt", assignment(assignedAt=DROP), "assignedAt"),
    ("missing title", assignment(title=DROP), "title"),
    ("missing description", assignment(description=DROP), "description"),
    ("null platformCaseId", assignment(platformCaseId=None), "platformCaseId"),
    ("blank platformCaseId", assignment(platformCaseId="  "), "platformCaseId"),
    ("platformCaseId a number", assignment(platformCaseId=123), "platformCaseId"),
    ("platformCaseId too long", assignment(platformCaseId="Z" * 129), "platformCaseId"),
    ("blank title", assignment(title=" \n "), "title"),
    ("title too long", assignment(title="扬" * 201), "title"),
    ("description too long", assignment(description="扬" * 10_001), "description"),
    ("description a list", assignment(description=["扬尘"]), "description"),
    ("unknown category", assignment(category="SMELL"), "category"),
    ("assignedAt without offset", assignment(assignedAt="2026-11-28T09:30:00"), "assignedAt"),
    ("assignedAt a date only", assignment(assignedAt="2026-11-28"), "assignedAt"),
    ("assignedAt not a time", assignment(assignedAt="yesterday"), "assignedAt"),
    ("assignedAt a number", assignment(assignedAt=1764293400), "assignedAt"),
    ("assignedAt in the future", assignment(assignedAt=future(60), deadline=DROP), "assignedAt"),
    ("deadline without offset", assignment(deadline="2026-12-05T18:00:00"), "deadline"),
    ("deadline not a time", assignment(deadline="next week"), "deadline"),
    ("deadline before assignedAt", assignment(deadline="2026-11-27T18:00:00+08:00"), "deadline"),
    ("deadline equal to assignedAt", assignment(deadline="2026-11-28T01:30:00Z"), "deadline"),
    ("unknown town", assignment(town="atlantis"), "town"),
    ("town a number", assignment(town=7), "town"),
    ("latitude outside China", assignment(latitude=60.0), "latitude"),
    ("longitude outside China", assignment(longitude=140.0), "longitude"),
    ("latitude a string", assignment(latitude="34.5"), "latitude"),
    ("latitude without longitude", assignment(longitude=DROP), "longitude"),
    ("NUL in title", assignment(title="扬尘\x00"), "title"),
]


@pytest.mark.parametrize(
    ("body", "field"), [b[1:] for b in BAD_BODIES], ids=[b[0] for b in BAD_BODIES]
)
async def test_bad_field_is_422_naming_it(hub: Hub, body: dict[str, Any], field: str) -> None:
    before = await snapshot(hub)
    error = refused(await post(hub, body), 422, field)
    assert error["code"] == "VALIDATION"
    assert await snapshot(hub) == before


@pytest.mark.parametrize(
    "raw",
    [b"not json", json.dumps(ASSIGNMENT).encode()[:-3], b"", json.dumps([ASSIGNMENT]).encode()],
    ids=["not JSON", "truncated JSON", "empty body", "JSON array"],
)
async def test_unreadable_body_is_422_body(hub: Hub, raw: bytes) -> None:
    before = await snapshot(hub)
    refused(await post(hub, raw), 422, "body")
    assert await snapshot(hub) == before


async def test_town_outside_the_tokens_towns_is_unknown(hub: Hub) -> None:
    refused(await post(hub, ASSIGNMENT, tenants=["laiji"]), 422, "town")
    assert (await post(hub, ASSIGNMENT, tenants=["chaohua"])).status_code == 201


# --- exactly once --------------------------------------------------------------------------------


async def test_simultaneous_deliveries_of_one_assignment_make_one_case(hub: Hub) -> None:
    cases_before = (await snapshot(hub))[0]
    answers = await asyncio.gather(*(post(hub, ASSIGNMENT) for _ in range(4)))
    assert sorted(a.status_code for a in answers) == [200, 200, 200, 201], [a.text for a in answers]
    assert len({a.json()["caseId"] for a in answers}) == 1
    assert (await snapshot(hub))[0] == cases_before + 1
    found = await case(hub, answers[0].json()["caseId"])
    assert found["reportCount"] == 1 and len(found["externalRefs"]) == 1


@pytest.mark.parametrize(
    "town",
    ["chaohua", "超化镇", "超化", " 超化镇 ", "410183104", "410183104000"],
    ids=["hub-code", "chinese-name", "name-without-suffix", "padded", "division-9", "division-12"],
)
async def test_the_platform_may_name_a_town_by_code_name_or_division_code(
    hub: Hub, town: str
) -> None:
    answer = await post(hub, assignment(town=town, platformCaseId=f"ZZ-TOWN-{len(town)}"))
    assert answer.status_code == 201, answer.text
    found = await case(hub, answer.json()["caseId"])
    assert found["tenant"] == {"code": "chaohua"}


@pytest.mark.parametrize("town", ["超化乡", "410183999", "新密"])
async def test_a_town_the_hub_does_not_know_is_refused_naming_it(hub: Hub, town: str) -> None:
    answer = await post(hub, assignment(town=town))
    assert answer.status_code == 422, answer.text
    [error] = answer.json()["errors"]
    assert error["field"] == "town" and town in error["message"]
