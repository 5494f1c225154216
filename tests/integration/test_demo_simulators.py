"""The demo's simulators keep to their own, on every backend: the hotline simulator's town office
resolves only cases its calls opened and its callers answer only for cases it resolved; the
platform demo moves only the cases of its own assignments; both act as named principals of
their own (演示镇办（模拟）, OPERATOR of the demo's towns, and 演示督查（模拟）), never ADMIN.
A case a person registered through GraphQL is never touched."""

from __future__ import annotations

import random
from typing import Any

import pytest

from connectors.hotline.simulator import CallMaker, CallSystem, Demo
from connectors.platform.demo import advance_platform_cases
from connectors.platform.simulator import Simulator
from hub.auth import AuthError, authenticate
from hub.demo import principals
from hub.roles import Role
from tests.conftest import Hub, register
from tests.helpers import PLATFORM_ASSIGNMENT, post_json

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

CASE = """query($id: ID!) { case(id: $id) {
  status timeline { action actor { name } } } }"""
STEP = {
    "dispatchCase": 'dispatchCase(caseId: $id, input: {tenantCode: "laiji"})',
    "acceptCase": "acceptCase(caseId: $id)",
    "submitResult": 'submitResult(caseId: $id, input: {result: "已责令停产整改"})',
    "reviewCase": "reviewCase(caseId: $id, input: {decision: APPROVE})",
}


async def person_case(hub: Hub, *, resolved: bool = False) -> str:
    """A hotline case a person registered in laiji (and, if asked, worked to RESOLVED)."""
    done = await register(hub, tenantCode="laiji", description="来集镇宏达耐火材料厂夜间扬尘")
    case_id = done["case"]["id"]
    operator = hub.token("OPERATOR", ["laiji"], sub="person-operator")
    for name, call in STEP.items() if resolved else ():
        token = hub.token("SUPERVISOR", sub="person-reviewer") if name == "reviewCase" else operator
        mutation = f"mutation($id: ID!) {{ {call} {{ __typename }} }}"
        answer = await hub.gql(mutation, {"id": case_id}, token=token)
        assert answer[name]["__typename"] == "CaseResult", answer
    return case_id


async def case(hub: Hub, case_id: str) -> dict[str, Any]:
    return (await hub.gql(CASE, {"id": case_id}))["case"]


async def hotline_demo(hub: Hub) -> Demo:
    return Demo(
        "http://hub.test",
        hub.token("HOTLINE", sub="demo-hotline-simulator"),
        await principals.issue(hub.db, principals.OFFICE),
        await principals.issue(hub.db, principals.REVIEWER),
        CallSystem(),
        CallMaker(random.Random(3)),
    )


async def test_the_hotline_simulator_never_touches_a_persons_cases(hub: Hub) -> None:
    waiting = await person_case(hub)
    worked = await person_case(hub, resolved=True)
    demo = await hotline_demo(hub)
    for tick in range(1, 13):
        await demo.tick(hub.http, tick)
        # The callback of the person's result reaches the call system as every callback does.
        demo.feedback.put_nowait({"caseId": worked, "callId": "x", "caseNumber": "x"})
    assert demo.resolved, "the simulated office resolved some of its own cases"
    assert demo.resolved <= demo.opened
    assert [e["action"] for e in (await case(hub, waiting))["timeline"]] == ["REGISTER"]
    assert (await case(hub, worked))["status"] == "RESOLVED"  # no feedback recorded on it
    for case_id in demo.resolved:
        actors = {e["action"]: e["actor"]["name"] for e in (await case(hub, case_id))["timeline"]}
        assert actors["DISPATCH"] == actors["SUBMIT"] == "演示镇办（模拟）", actors
        assert actors["APPROVE"] == "演示督查（模拟）", actors


async def test_the_simulated_office_is_a_named_operator_of_the_towns_not_admin(hub: Hub) -> None:
    token = await principals.issue(hub.db, principals.OFFICE)
    again = await principals.issue(hub.db, principals.OFFICE)
    office = (await authenticate(hub.db, f"Bearer {again}", "no JWT here")).principal
    assert office.name == "演示镇办（模拟）" and office.roles == {Role.OPERATOR}
    assert set(office.tenant_codes) == set(principals.TOWN_CODES)
    with pytest.raises(AuthError, match="已被吊销"):
        await authenticate(hub.db, f"Bearer {token}", "no JWT here")  # one live token a start


async def test_the_platform_demo_moves_only_its_own_assignments(hub: Hub) -> None:
    sim = Simulator(seed=5)
    own = sim.new_assignment(town="laiji")
    mine = await post_json(hub, own, url="/ingest/platform", role="PLATFORM")
    theirs = await post_json(hub, PLATFORM_ASSIGNMENT, url="/ingest/platform", role="PLATFORM")
    sim.assign(own)
    assert mine.status_code == theirs.status_code == 201, (mine.text, theirs.text)
    waiting = await person_case(hub)
    for _ in range(6):
        await advance_platform_cases(hub.db, 10, sim.cases.keys(), hub.app.state.runtime.tz)
    assert (await case(hub, mine.json()["caseId"]))["status"] == "CLOSED"
    for untouched in (theirs.json()["caseId"], waiting):
        assert [e["action"] for e in (await case(hub, untouched))["timeline"]] == ["REGISTER"]
