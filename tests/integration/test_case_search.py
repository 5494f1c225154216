"""cases(filter: {text}) finds a case by the ids other systems know it by, on every backend: a
12369 callId (the report's external id) and a city platform case id (the case's external ref),
whole or in part, as well as by its own words."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Hub, register
from tests.helpers import HOTLINE_CALL, PLATFORM_ASSIGNMENT, post_json

SEARCH = """query($text: String!) {
  cases(filter: {text: $text}) { totalCount edges { node { id } } }
}"""


async def found(hub: Hub, text: str) -> list[str]:
    data = (await hub.gql(SEARCH, {"text": text}))["cases"]
    ids = [e["node"]["id"] for e in data["edges"]]
    assert data["totalCount"] == len(ids)
    return ids


async def posted(hub: Hub, url: str, role: str, body: dict[str, Any]) -> str:
    response = await post_json(hub, body, url=url, role=role)
    assert response.status_code == 201, response.text
    return str(response.json()["caseId"])


@pytest.mark.parametrize("text", ["12369-20261128-7731", "20261128-7731", " 12369-20261128-7731 "])
async def test_a_hotline_call_id_finds_its_case(hub: Hub, text: str) -> None:
    call = {**HOTLINE_CALL, "callId": "12369-20261128-7731"}
    del call["sourceName"]
    case_id = await posted(hub, "/ingest/hotline", "HOTLINE", call)
    await register(hub)  # a case of its own, not known by that id
    assert await found(hub, text) == [case_id]


@pytest.mark.parametrize("text", ["ZZ-2026-000123", "2026-000123", "zz-2026-000123"])
async def test_a_platform_case_id_finds_its_case(hub: Hub, text: str) -> None:
    case_id = await posted(hub, "/ingest/platform", "PLATFORM", PLATFORM_ASSIGNMENT)
    await register(hub)
    assert await found(hub, text) == [case_id]


async def test_an_id_nobody_used_finds_nothing(hub: Hub) -> None:
    await posted(hub, "/ingest/platform", "PLATFORM", PLATFORM_ASSIGNMENT)
    assert await found(hub, "ZZ-2026-999999") == []
