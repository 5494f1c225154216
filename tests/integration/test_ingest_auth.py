"""Who may post to an ingest route, one table for all three: a valid body sent without a
usable token is 401, with a token lacking the route's role 403; either way the error names
`authorization` and nothing is written (no case, no audit entry, no reading)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import func, select

from connectors.hj212.devices import data_packet
from connectors.hj212.http import writer_of
from hub.demo import world
from hub.monitoring.model import Reading
from hub.roles import CITY_WIDE_ROLES, Role
from tests.conftest import Hub
from tests.helpers import HOTLINE_CALL, PLATFORM_ASSIGNMENT, refused, snapshot


@dataclass(frozen=True)
class Route:
    url: str
    role: Role  # the service role it is for (ADMIN may post too)

    def request(self, headers: dict[str, str]) -> dict:
        """httpx.post keyword arguments: a body the route would take from its role."""
        if self.url == "/ingest/hj212":
            packet = data_packet(world.POINTS[0], {"a34013": 4.0}, datetime.now(UTC), 1)
            return {"content": packet, "headers": {**headers, "Content-Type": "text/plain"}}
        body = HOTLINE_CALL if self.role == Role.HOTLINE else PLATFORM_ASSIGNMENT
        return {"json": body, "headers": headers}


ROUTES = {
    "hotline": Route("/ingest/hotline", Role.HOTLINE),
    "platform": Route("/ingest/platform", Role.PLATFORM),
    "hj212": Route("/ingest/hj212", Role.MONITOR),
}
BAD_AUTHORIZATION = {
    "none": None,
    "not a token": "Bearer not-a-token",
    "unknown api token": "Bearer sw_unknown",
    "bad jwt": "Bearer bad.token.here",
    "basic": "Basic dXNlcjpwYXNz",
    "empty bearer": "Bearer",
}
CASES = [
    pytest.param(route, "header", header, id=f"{name}-401-{header}")
    for name, route in ROUTES.items()
    for header in BAD_AUTHORIZATION
] + [
    pytest.param(route, "role", role, id=f"{name}-403-{role}")
    for name, route in ROUTES.items()
    for role in Role
    if role not in (Role.ADMIN, route.role)
]


@pytest.fixture(autouse=True)
async def stop_writer(hub: Hub):
    """An HJ 212 upload would start the hub's reading writer: stop it with the test."""
    yield
    await writer_of(hub.app.state.connectors).stop()


async def written(hub: Hub) -> tuple[tuple[int, bool, int], int]:
    async with hub.db.session((await hub.scope()).tenant_ids) as session:
        readings = await session.scalar(select(func.count()).select_from(Reading))
    return await snapshot(hub), int(readings or 0)


@pytest.mark.parametrize(("route", "kind", "credential"), CASES)
async def test_an_ingest_route_refuses_who_may_not_post(
    hub: Hub, route: Route, kind: str, credential: str
) -> None:
    if kind == "header":
        value = BAD_AUTHORIZATION[credential]
        headers = {"Authorization": value} if value is not None else {}
    else:  # a town role holds a town, as a real token of it does
        towns = None if Role(credential) in CITY_WIDE_ROLES else ["laiji"]
        headers = {"Authorization": f"Bearer {hub.token(credential, towns)}"}
    before = await written(hub)
    response: httpx.Response = await hub.http.post(route.url, **route.request(headers))
    if kind == "header":
        refused(response, 401, "authorization")
        assert response.headers["www-authenticate"] == "Bearer"
    else:
        assert refused(response, 403, "authorization")["code"] == "FORBIDDEN"
    assert await written(hub) == before
