"""The Open311 GeoReport v2 facade over real HTTP (uvicorn on loopback), on every backend:
services.json, POST requests.json through the hotline's intake (api_key = a hub token;
routing, duplicates, Idempotency-Key), GET requests with public fields only, and refusals in
GeoReport's error format naming the field."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from hub.cases.enums import Category
from tests.conftest import Hub
from tests.helpers import snapshot
from tests.live import live_server

V2 = "/open311/v2"
PHONE = "13812345678"
REQUEST: dict[str, str] = {
    "service_code": "DUST",
    "lat": "34.57",
    "long": "113.48",
    "address_string": "来集镇李堂村工业路",
    "description": "来集镇李堂村工业路旁工地扬尘很大。王小明家里全是灰",
    "first_name": "小明",
    "last_name": "王",
    "phone": PHONE,
    "email": "wxm@example.com",
    "device_id": "app-device-1",
}


@pytest.fixture
async def http(hub: Hub) -> AsyncIterator[httpx.AsyncClient]:
    async with live_server(hub.app) as url, httpx.AsyncClient(base_url=url, timeout=10) as client:
        yield client


async def submit(
    hub: Hub,
    http: httpx.AsyncClient,
    role: str | None = "HOTLINE",
    headers: dict[str, str] | None = None,
    **changes: str | None,
) -> httpx.Response:
    form: dict[str, Any] = {**REQUEST, **changes}
    if role:
        form["api_key"] = hub.token(role)
    form = {k: v for k, v in form.items() if v is not None}
    return await http.post(f"{V2}/requests.json", data=form, headers=headers)


async def case_of(hub: Hub, number: str) -> dict[str, Any]:
    found = await hub.gql(
        "query($n: String!) { cases(filter: {text: $n}) { edges { node { id number "
        "tenant { code } reports { channel reporter { name phone } } } } } }",
        {"n": number},
    )
    [case] = [e["node"] for e in found["cases"]["edges"] if e["node"]["number"] == number]
    return case


def error(response: httpx.Response, status: int, field: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert isinstance(body, list) and body[0]["code"] == status, body
    assert body[0]["field"] == field, body
    assert field in body[0]["description"], body
    return body[0]["description"]


async def test_services_are_the_categories_in_chinese(http: httpx.AsyncClient) -> None:
    answer = await http.get(f"{V2}/services.json")
    assert answer.status_code == 200
    services = answer.json()
    assert [s["service_code"] for s in services] == [c.value for c in Category]
    dust = next(s for s in services if s["service_code"] == "DUST")
    assert dust["service_name"] == "扬尘" and dust["metadata"] is False
    assert dust["type"] == "realtime" and dust["group"]
    error(await http.get(f"{V2}/services.xml"), 400, "format")


async def test_post_registers_through_the_intake_and_reads_back_public(
    hub: Hub, http: httpx.AsyncClient
) -> None:
    made = await submit(hub, http)
    assert made.status_code == 201, made.text
    [answer] = made.json()
    number, code = answer["service_request_id"], answer["query_code"]
    assert number.startswith("XM-") and code in answer["service_notice"]
    # The same intake as a call: routed to the town by the point, on the case's timeline.
    case = await case_of(hub, number)
    assert case["tenant"]["code"] == "laiji"
    assert case["reports"][0]["channel"] == "OTHER"
    assert case["reports"][0]["reporter"]["name"] == "王小明"

    one = await http.get(f"{V2}/requests/{number}.json")
    assert one.status_code == 200, one.text
    [found] = one.json()
    assert found["service_request_id"] == number and found["status"] == "open"
    assert found["service_code"] == "DUST" and found["service_name"] == "扬尘"
    assert found["status_notes"] == "已受理" and found["agency_responsible"] == "来集镇"
    assert found["lat"] == 34.57 and found["long"] == 113.48
    assert found["requested_datetime"].endswith("+08:00")
    assert found["description"] is None
    for secret in ("王小明", "小明", PHONE, "wxm@example.com", "app-device-1", "全是灰"):
        assert secret not in one.text, secret

    listed = await http.get(f"{V2}/requests.json", params={"status": "open"})
    assert number in [r["service_request_id"] for r in listed.json()]
    closed = await http.get(f"{V2}/requests.json", params={"status": "closed"})
    assert number not in [r["service_request_id"] for r in closed.json()]
    by_code = await http.get(f"{V2}/requests.json", params={"service_code": "NOISE"})
    assert number not in [r["service_request_id"] for r in by_code.json()]

    # The query code opens the public view as a hotline caller's does.
    view = await http.get(f"/public/cases/{number}", params={"code": code})
    assert view.status_code == 200 and view.json()["statusText"] == "已受理"


async def test_closed_request_carries_the_public_reply(hub: Hub, http: httpx.AsyncClient) -> None:
    [answer] = (await submit(hub, http)).json()
    number = answer["service_request_id"]
    case_id = (await case_of(hub, number))["id"]
    for field, token in [
        ('dispatchCase(caseId: $id, input: {tenantCode: "laiji"})', None),
        ("acceptCase(caseId: $id)", None),
        (f'submitResult(caseId: $id, input: {{result: "已责令覆盖裸土，回电 {PHONE}"}})', None),
        ("reviewCase(caseId: $id, input: {decision: APPROVE})", hub.token("SUPERVISOR")),
    ]:
        data = await hub.gql(
            f"mutation($id: ID!) {{ r: {field} {{ __typename }} }}", {"id": case_id}, token=token
        )
        assert data["r"]["__typename"] == "CaseResult", data
    [found] = (await http.get(f"{V2}/requests/{number}.json")).json()
    assert found["status"] == "closed"
    assert found["status_notes"].startswith("已责令覆盖裸土") and PHONE not in found["status_notes"]
    listed = await http.get(f"{V2}/requests.json", params={"status": "closed"})
    assert number in [r["service_request_id"] for r in listed.json()]


async def test_duplicates_and_retries(hub: Hub, http: httpx.AsyncClient) -> None:
    [first] = (await submit(hub, http)).json()
    # The same caller about the same problem: attached to the open case (the intake's rule).
    again = await submit(hub, http, description="工地扬尘还是很大")
    assert again.status_code == 201, again.text
    [second] = again.json()
    assert second["service_request_id"] == first["service_request_id"]
    assert "并入" in second["service_notice"] and second["query_code"] != first["query_code"]
    # A retried POST with an Idempotency-Key answers what the first one did, adds nothing.
    key = {"Idempotency-Key": "app-req-42"}
    made = await submit(hub, http, headers=key, phone="13900000001", service_code="NOISE")
    assert made.status_code == 201, made.text
    before = await snapshot(hub)
    retry = await submit(hub, http, headers=key, phone="13900000001", service_code="NOISE")
    assert (
        retry.status_code == 200 and retry.json()[0]["query_code"] == made.json()[0]["query_code"]
    )
    assert retry.json()[0]["service_request_id"] == made.json()[0]["service_request_id"]
    assert await snapshot(hub) == before
    other = await submit(hub, http, headers=key, phone="13900000001", service_code="WATER")
    error(other, 409, "Idempotency-Key")


async def test_refusals_in_georeport_format(hub: Hub, http: httpx.AsyncClient) -> None:
    before = await snapshot(hub)
    error(await submit(hub, http, role=None), 401, "api_key")
    bad = await http.post(f"{V2}/requests.json", data={**REQUEST, "api_key": "nope"})
    error(bad, 401, "api_key")
    error(await submit(hub, http, role="SUPERVISOR"), 403, "api_key")
    error(await submit(hub, http, service_code=None), 400, "service_code")
    error(await submit(hub, http, service_code="FIRE"), 400, "service_code")
    error(await submit(hub, http, description=None), 400, "description")
    error(await submit(hub, http, lat=None, long=None, address_string=None), 400, "lat")
    error(await submit(hub, http, long=None), 400, "long")
    error(await submit(hub, http, lat="north"), 400, "lat")
    error(await submit(hub, http, lat="91"), 400, "lat")
    error(await submit(hub, http, phone="12369"), 400, "phone")
    error(await http.post(f"{V2}/requests.xml", data=REQUEST), 400, "format")
    assert await snapshot(hub) == before  # nothing half-written

    error(await http.get(f"{V2}/requests.json", params={"status": "pending"}), 400, "status")
    error(
        await http.get(f"{V2}/requests.json", params={"start_date": "yesterday"}), 400, "start_date"
    )
    error(
        await http.get(f"{V2}/requests.json", params={"service_code": "FIRE"}), 400, "service_code"
    )
    missing = await http.get(f"{V2}/requests/XM-2099-000001.json")
    assert missing.status_code == 404 and missing.json()[0]["code"] == 404


async def test_a_json_body_is_taken_too(hub: Hub, http: httpx.AsyncClient) -> None:
    body = {**REQUEST, "api_key": hub.token("OPERATOR", ["laiji"]), "service_code": "NOISE"}
    made = await http.post(f"{V2}/requests.json", json=body)
    assert made.status_code == 201, made.text
    [answer] = made.json()
    view = await http.get(
        f"/public/cases/{answer['service_request_id']}", params={"code": answer["query_code"]}
    )
    assert view.status_code == 200 and view.json()["categoryText"] == "噪声"
    error(await http.post(f"{V2}/requests.json", content=b"[1]", headers=JSON), 400, "body")
    error(await http.post(f"{V2}/requests.json", content=b"\xff", headers=JSON), 400, "body")


JSON = {"Content-Type": "application/json"}
