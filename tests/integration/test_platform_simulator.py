"""The simulator's routes refuse bad input with the field named (it stands in for a real
platform: the hub's tests rely on it answering as the protocol says)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from connectors.platform.simulator import Simulator

TOKEN = "t"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
STATUS = {
    "caseNumber": "XM-2026-000001",
    "status": "HANDLING",
    "note": None,
    "at": "2026-11-28T09:30:00+08:00",
    "idempotencyKey": "k-1",
}


@pytest.fixture
async def client() -> AsyncIterator[tuple[Simulator, httpx.AsyncClient]]:
    sim = Simulator(token=TOKEN)
    sim.assign(sim.new_assignment(platformCaseId="ZZ-1"))
    transport = httpx.ASGITransport(app=sim.app())
    async with httpx.AsyncClient(transport=transport, base_url="http://sim") as http:
        yield sim, http


def field_of(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    (error,) = response.json()["errors"]
    assert error["message"]
    return error["field"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("after=abc", "after"),
        ("after=-1", "after"),
        ("after=999", "after"),
        ("limit=0", "limit"),
        ("limit=x", "limit"),
        ("limit=1001", "limit"),
    ],
)
async def test_bad_page_requests(client: Any, query: str, field: str) -> None:
    _, http = client
    assert field_of(await http.get(f"/assignments?{query}", headers=AUTH), 422) == field


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer nope"}, {"Authorization": TOKEN}]
)
async def test_without_the_token_every_route_is_401(client: Any, headers: dict) -> None:
    _, http = client
    for response in (
        await http.get("/assignments", headers=headers),
        await http.get("/assignments/ZZ-1", headers=headers),
        await http.post("/assignments/ZZ-1/status", json=STATUS, headers=headers),
    ):
        assert field_of(response, 401) == "authorization"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**STATUS, "caseNumber": None}, "caseNumber"),
        ({**STATUS, "status": ""}, "status"),
        ({**STATUS, "status": "DONE"}, "status"),
        ({**STATUS, "at": None}, "at"),
        ({**STATUS, "at": "yesterday"}, "at"),
        ({**STATUS, "at": "2026-11-28T09:30:00"}, "at"),
        ({**STATUS, "idempotencyKey": 5}, "idempotencyKey"),
        ({**STATUS, "note": 5}, "note"),
        ([STATUS], "body"),
    ],
)
async def test_bad_statuses_are_422_and_take_no_effect(client: Any, body: Any, field: str):
    sim, http = client
    response = await http.post("/assignments/ZZ-1/status", json=body, headers=AUTH)
    assert field_of(response, 422) == field
    assert sim.statuses("ZZ-1") == []


async def test_a_body_that_is_not_json_and_an_unknown_case(client: Any) -> None:
    _sim, http = client
    raw = await http.post("/assignments/ZZ-1/status", content=b"{", headers=AUTH)
    assert field_of(raw, 422) == "body"
    unknown = await http.post("/assignments/ZZ-2/status", json=STATUS, headers=AUTH)
    assert field_of(unknown, 404) == "platformCaseId"
    assert field_of(await http.get("/assignments/ZZ-2", headers=AUTH), 404) == "platformCaseId"


async def test_a_key_seen_before_takes_no_second_effect(client: Any) -> None:
    sim, http = client
    for duplicate in (False, True):
        done = await http.post("/assignments/ZZ-1/status", json=STATUS, headers=AUTH)
        assert done.json() == {"accepted": True, "duplicate": duplicate}
    assert sim.statuses("ZZ-1") == ["HANDLING"]
    view = (await http.get("/assignments/ZZ-1", headers=AUTH)).json()
    assert view["status"] == "HANDLING" and view["caseNumber"] == STATUS["caseNumber"]


@pytest.mark.parametrize(
    ("path", "method", "body", "field"),
    [
        ("/_sim/assign", "post", {"count": 0}, "count"),
        ("/_sim/assign", "post", {"count": "x"}, "count"),
        ("/_sim/assign", "post", [1], "body"),
        ("/_sim/update", "post", {"type": "URGED"}, "platformCaseId"),
        ("/_sim/update", "post", {"platformCaseId": "ZZ-1"}, "type"),
        ("/_sim/chaos", "put", {"error_rate": "much"}, "body"),
        ("/_sim/chaos", "put", {"meteor_rate": 1}, "body"),
    ],
)
async def test_bad_control_requests(client: Any, path: str, method: str, body: Any, field: str):
    sim, http = client
    before = len(sim.feed)
    response = (
        await getattr(http, method)(path, json=body)
        if method == "post"
        else (await http.put(path, json=body))
    )
    assert field_of(response, 422) == field
    assert len(sim.feed) == before


async def test_control_requests(client: Any) -> None:
    _sim, http = client
    assert len((await http.post("/_sim/assign", json={"count": 3})).json()["items"]) == 3
    urged = await http.post("/_sim/update", json={"platformCaseId": "ZZ-1", "type": "URGED"})
    assert urged.json()["type"] == "URGED"
    chaos = await http.put("/_sim/chaos", json={"error_rate": 1})
    assert chaos.json()["error_rate"] == 1.0
    assert (await http.get("/assignments", headers=AUTH)).status_code == 500
    state = (await http.get("/_sim/state")).json()
    assert state["feed"] == 5 and "ZZ-1" in state["cases"]
