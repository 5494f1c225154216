"""The rules people work by (issue 12, items 1-6): a clock from registration, deadlines from
outside, separation of duties, hand-backs, the extension queue, facts that can be read back."""

from __future__ import annotations

from datetime import datetime, timedelta

from hub.db import utcnow
from tests.conftest import Hub, register
from tests.helpers import PLATFORM_ASSIGNMENT, mutate, post_json, sweep_at
from tests.operations import op

CLOCKS = """query($id: ID!) { caseClocks(caseId: $id) { seq level tenantCode phase yellowAt redAt
  card endedAt endReason }
  case(id: $id) { status card dueAt timeline { action note } } }"""

DISPATCH = op("DispatchCase")


async def clocks(hub: Hub, case_id: str) -> dict:
    return await hub.gql(CLOCKS, {"id": case_id})


def iso(value: str) -> datetime:
    return datetime.fromisoformat(value)


# --- 1. a clock from registration -----------------------------------------------------------


async def test_a_registered_case_has_a_dispatch_clock_and_is_carded_undispatched(
    hub: Hub,
) -> None:
    case_id = (await register(hub, tenantCode="laiji"))["case"]["id"]
    state = await clocks(hub, case_id)
    assert state["case"]["status"] == "REGISTERED"
    [hop] = state["caseClocks"]
    assert (hop["phase"], hop["level"], hop["tenantCode"]) == ("DISPATCH", "TOWN", "laiji")
    yellow = iso(hop["yellowAt"])
    assert timedelta(hours=1.9) < yellow - utcnow() <= timedelta(hours=2), "a hotline call: 2h"
    assert await sweep_at(hub, "laiji", yellow + timedelta(minutes=1)) == 1
    state = await clocks(hub, case_id)
    assert state["case"]["card"] == "YELLOW"
    assert state["case"]["timeline"][-1]["note"] == "黄牌：超过转办时限"

    await mutate(hub, DISPATCH, caseId=case_id, input={"tenantCode": "laiji"})
    first, second = (await clocks(hub, case_id))["caseClocks"]
    assert first["endReason"] == "DISPATCHED" and first["endedAt"]
    assert second["phase"] == "ACCEPT"


async def test_an_undispatched_platform_case_is_carded_by_the_platform_deadline(
    hub: Hub,
) -> None:
    now = utcnow().replace(microsecond=0)
    deadline = now + timedelta(minutes=30)
    body = {
        **PLATFORM_ASSIGNMENT,
        "assignedAt": now.isoformat(),
        "deadline": deadline.isoformat(),
        "town": None,
        "latitude": None,
        "longitude": None,
        "address": None,
    }
    answer = await post_json(hub, body, url="/ingest/platform", role="PLATFORM")
    assert answer.status_code == 201, answer.text
    [hop] = (await clocks(hub, answer.json()["caseId"]))["caseClocks"]
    assert hop["phase"] == "DISPATCH" and hop["level"] == "CITY"
    assert iso(hop["yellowAt"]) == deadline, "the platform's deadline comes before the rule's"
    assert iso(hop["redAt"]) <= deadline + timedelta(hours=2)


async def test_a_monitoring_case_waits_one_hour_for_dispatch(hub: Hub) -> None:
    case = await register(hub, channel="MONITORING", tenantCode="chaohua")
    [hop] = (await clocks(hub, case["case"]["id"]))["caseClocks"]
    assert timedelta(minutes=59) < iso(hop["yellowAt"]) - utcnow() <= timedelta(hours=1)
    assert iso(hop["redAt"]) - iso(hop["yellowAt"]) == timedelta(hours=1)
