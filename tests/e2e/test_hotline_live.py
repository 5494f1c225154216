"""A 12369 call posted to the real endpoint of a running hub (uvicorn on a loopback socket,
the app's own lifespan: embedded worker and scheduler, the outbox relay) lands on the right
town and grid, merges where it should and nowhere else, hides the caller from the roles that
must not see them, and its result reaches the simulated call system exactly once in effect
although the call system fails and drops answers on the way."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from connectors.hotline.settings import HotlineSettings
from connectors.hotline.simulator import (
    TEMPLATES,
    CallMaker,
    CallSystem,
    call_system,
    post_call,
)
from hub.app import create_app
from hub.auth import issue_jwt
from hub.config import Settings
from hub.db import Database
from hub.demo import world
from tests.conftest import SECRET
from tests.helpers import runtime_of
from tests.live import live_server

M = 1 / 111_195  # degrees of latitude in a metre
DETAIL = """query($id: ID!) { case(id: $id) { id number status priority reportCount
  tenant { code } gridCell { code } reports { externalId reporter { name phone } }
  possibleDuplicates { case { id } distanceMeters } } }"""


@dataclass
class Live:
    url: str
    http: httpx.AsyncClient
    system: CallSystem

    def token(self, role: str, tenants: list[str] | None = None) -> str:
        return issue_jwt(SECRET, f"live-{role.lower()}", [role], tenants or [])

    async def call(self, body: dict[str, Any]) -> dict[str, Any]:
        response = await post_call(self.http, self.url, self.token("HOTLINE"), body)
        assert response.status_code == 201, response.text
        return response.json()

    async def gql(self, query: str, role: str = "ADMIN", **variables: Any) -> dict[str, Any]:
        tenants = ["laiji"] if role in ("OPERATOR", "MEMBER") else None
        response = await self.http.post(
            f"{self.url}/graphql",
            json={"query": query, "variables": variables},
            headers={"Authorization": f"Bearer {self.token(role, tenants)}"},
        )
        payload = response.json()
        assert response.status_code == 200 and not payload.get("errors"), payload
        return payload["data"]


@pytest.fixture
async def live(db: Database, settings: Settings) -> AsyncIterator[Live]:
    async with call_system() as system:
        fast = settings.model_copy(
            update={
                "outbox_backoff_seconds": 0.05,
                "outbox_backoff_max_seconds": 0.2,
                "relay_interval_seconds": 0.1,
                "sweep_interval_seconds": 3600.0,
            }
        )
        app = create_app(runtime_of(fast, db, hotline=HotlineSettings(callback_url=system.url)))
        async with (
            app.router.lifespan_context(app),
            live_server(app) as url,
            httpx.AsyncClient(timeout=10) as http,
        ):
            yield Live(url, http, system)


def village(town: str, number: int) -> tuple[float, float]:
    cell = next(c for c in world.CELLS if c.code == world.cell_code(town, number))
    lons, lats = [p[0] for p in cell.ring], [p[1] for p in cell.ring]
    return (min(lons) + max(lons)) / 2, (min(lats) + max(lats)) / 2


async def test_a_call_through_a_running_hub(live: Live) -> None:
    maker = CallMaker()
    dust = next(t for t in TEMPLATES if t.industry == "REFRACTORY")
    lon, lat = village("laiji", 2)
    # A caller located by their phone's position only (no town, address or enterprise).
    # A laiji plant: the words of the call (which name the plant's town and village) and the
    # phone's position agree, so the repeat below, which has only the words, stays in laiji.
    plant = next(s for s in world.SOURCES if s.industry == "REFRACTORY" and s.tenant == "laiji")
    a = maker.call(template=dust, source=plant, category="DUST", callerPhone="13911110001")
    for field in ("town", "address", "sourceName"):
        a.pop(field, None)
    a.update(longitude=lon, latitude=lat, anonymous=False)
    first = await live.call(a)
    # The same caller again, the number written otherwise, no location: the same case.
    again = maker.again(a, same_caller=True)
    again.pop("longitude"), again.pop("latitude")
    again["callerPhone"] = "+86 139 1111 0001"
    repeat = await live.call(again)
    # A neighbour 120 m away about dust: not sure, a new case with a candidate.
    near = await live.call(
        {**a, "callId": "live-near", "callerPhone": "13722220002", "latitude": lat + 120 * M}
    )
    # Noise at the same spot: another problem, nowhere near a merge.
    noise = await live.call(
        {
            **a,
            "callId": "live-noise",
            "category": "NOISE",
            "callerPhone": "13733330003",
            "description": "机器噪音很大，半夜吵得睡不着",
        }
    )
    anonymous = await live.call(
        {
            **a,
            "callId": "live-anon",
            "category": "WATER",
            "anonymous": True,
            "callerPhone": "13744440004",
            "description": "河沟里排污水，发黑发臭",
        }
    )

    assert repeat["duplicateOf"] == first["caseId"] == repeat["caseId"]
    for other in (near, noise, anonymous):
        assert other["duplicateOf"] is None
    assert len({first["caseId"], near["caseId"], noise["caseId"], anonymous["caseId"]}) == 4
    case = (await live.gql(DETAIL, id=first["caseId"]))["case"]
    assert case["tenant"]["code"] == "laiji" and case["gridCell"]["code"] == "laiji-02"
    assert case["reportCount"] == 2
    near_case = (await live.gql(DETAIL, id=near["caseId"]))["case"]
    assert [c["case"]["id"] for c in near_case["possibleDuplicates"]] == [first["caseId"]]
    assert (await live.gql(DETAIL, id=noise["caseId"]))["case"]["possibleDuplicates"] == []

    # Who sees the caller.
    for role, phone in (("HOTLINE", "13911110001"), ("DISPATCHER", "13911110001"),
                        ("OPERATOR", "139****0001"), ("VIEWER", "139****0001")):  # fmt: skip
        reporters = (await live.gql(DETAIL, role, id=first["caseId"]))["case"]["reports"]
        assert {r["reporter"]["phone"] for r in reporters} == {phone}, role
    for role in ("DISPATCHER", "ADMIN", "OPERATOR", "VIEWER"):
        found = (await live.gql(DETAIL, role, id=anonymous["caseId"]))["case"]["reports"]
        assert found[0]["reporter"] == {"name": None, "phone": None}, role
    hotline_view = (await live.gql(DETAIL, "HOTLINE", id=anonymous["caseId"]))["case"]
    assert hotline_view["reports"][0]["reporter"]["phone"] == "13744440004"

    # The result, with the call system failing twice and then dropping an answer.
    live.system.fail(2)
    live.system.drop(1)
    for step in (
        'dispatchCase(caseId: $id, input: {tenantCode: "laiji"})',
        "acceptCase(caseId: $id)",
        'submitResult(caseId: $id, input: {result: "已责令企业停产整改"})',
        "reviewCase(caseId: $id, input: {decision: APPROVE})",
    ):
        role = "SUPERVISOR" if step.startswith("review") else "ADMIN"  # not a self-review
        await live.gql(
            f"mutation($id: ID!) {{ {step} {{ __typename }} }}", role, id=first["caseId"]
        )
    calls = {a["callId"], again["callId"]}
    async with asyncio.timeout(30):
        while {b["callId"] for b in live.system.effects.values()} != calls:
            await asyncio.sleep(0.05)
        while len(live.system.received) < 5:  # the dropped one is sent again
            await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)  # nothing more arrives
    for call_id in calls:
        (effect,) = live.system.called_back(call_id)  # exactly once in effect
        assert effect["caseNumber"] == case["number"] and effect["result"] == "已责令企业停产整改"
    answers = sorted(c.answer for c in live.system.received)
    assert answers == sorted(["503", "503", "dropped", "duplicate", "ok"]), answers
    assert len(live.system.effects) == 2
