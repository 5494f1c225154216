"""The contract's CaseEvents subscription over a real socket (uvicorn + graphql-transport-ws):
events arrive after the change commits, sockets need a valid token, failures publish nothing."""

from __future__ import annotations

from datetime import datetime, timedelta

import jwt
import pytest
from websockets.exceptions import ConnectionClosed

from hub.auth import JWT_ALGORITHM
from hub.cases import inputs, intake
from hub.errors import DomainError, ErrorCode
from tests.conftest import SECRET, Hub, register
from tests.live import graphql_socket, live_server
from tests.operations import op

FORBIDDEN_CLOSE = 4403


async def test_a_subscriber_sees_a_case_once_registration_commits(hub: Hub) -> None:
    async with live_server(hub.app) as url, graphql_socket(url, hub.token("DISPATCHER")) as ws:
        await ws.subscribe(op("CaseEvents"))
        created = (await register(hub, tenantCode="laiji", externalId="sub-1"))["case"]
        event = (await ws.next())["data"]["caseEvents"]
        assert event["kind"] == "REGISTER"
        assert datetime.fromisoformat(event["at"]).utcoffset() is not None
        assert event["case"] == {
            "id": created["id"],
            "number": created["number"],
            "status": "REGISTERED",
            "tenant": {"code": "laiji"},
        }
        # Published after the commit: the case is there for any new reader.
        detail = await hub.gql(op("CaseDetail"), {"id": created["id"]})
        assert detail["case"]["number"] == created["number"]


async def test_a_subscriber_may_narrow_to_some_towns(hub: Hub) -> None:
    async with live_server(hub.app) as url, graphql_socket(url, hub.token("DISPATCHER")) as ws:
        await ws.subscribe(op("CaseEvents"), {"tenantCodes": ["dawei"]})
        await register(hub, tenantCode="laiji", externalId="narrow-1")
        wanted = (await register(hub, tenantCode="dawei", externalId="narrow-2"))["case"]
        event = (await ws.next())["data"]["caseEvents"]
        assert event["case"]["id"] == wanted["id"], "the laiji event was not delivered"


def _signed(key: str, **claims: object) -> str:
    now = datetime.now().astimezone()
    base = {"sub": "x", "roles": ["DISPATCHER"], "iat": now, "exp": now + timedelta(hours=1)}
    return jwt.encode({**base, **claims}, key, algorithm=JWT_ALGORITHM)


BAD_TOKENS = {
    "missing": None,
    "empty": "",
    "garbage": "not-a-token",
    "unknown api token": "sw_" + "x" * 43,
    "other key": _signed("another-key-entirely-not-ours-and-long-enough"),
    "expired": _signed(SECRET, exp=datetime.now().astimezone() - timedelta(minutes=1)),
    "no roles": _signed(SECRET, roles=[]),
}


@pytest.mark.parametrize("token", BAD_TOKENS.values(), ids=BAD_TOKENS.keys())
async def test_a_socket_without_a_valid_token_is_refused(hub: Hub, token: str | None) -> None:
    async with live_server(hub.app) as url:
        with pytest.raises(ConnectionClosed) as refused:
            async with graphql_socket(url, token) as ws:
                await ws.subscribe(op("CaseEvents"))
        assert refused.value.rcvd is not None
        assert refused.value.rcvd.code == FORBIDDEN_CLOSE


async def test_a_failed_mutation_publishes_nothing(
    hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with live_server(hub.app) as url, graphql_socket(url, hub.token("DISPATCHER")) as ws:
        await ws.subscribe(op("CaseEvents"))
        case = (await register(hub, tenantCode="laiji", externalId="fail-1"))["case"]
        assert (await ws.next())["data"]["caseEvents"]["case"]["id"] == case["id"]

        # Refused before any change: a wrong transition, a town the caller does not see.
        accepted = await hub.gql(
            op("AcceptCase"), {"caseId": case["id"]}, token=hub.token("MEMBER", ["laiji"])
        )
        assert accepted["acceptCase"]["code"] == "INVALID_TRANSITION"
        elsewhere = await register(
            hub, token=hub.token("OPERATOR", ["laiji"]), channel="GRID", tenantCode="dawei"
        )
        assert elsewhere["code"] == "VALIDATION"

        # Refused after the change was made and its notice queued: the rollback drops it.
        real_register = intake.register

        async def register_then_fail(*args: object, **kwargs: object) -> inputs.Registered:
            await real_register(*args, **kwargs)
            raise DomainError(ErrorCode.CONFLICT, "refused after the case was opened")

        monkeypatch.setattr(intake, "register", register_then_fail)
        late = await register(hub, tenantCode="laiji", externalId="fail-2")
        assert late["code"] == "CONFLICT"
        monkeypatch.undo()

        # The next event is the next commit: nothing of the failures came in between.
        closed = await hub.gql(op("RejectCase"), {"caseId": case["id"], "reason": "不属于环保"})
        assert closed["rejectCase"]["case"]["status"] == "REJECTED"
        event = (await ws.next())["data"]["caseEvents"]
        assert event["kind"] == "REJECT" and event["case"]["id"] == case["id"]
        await ws.silent()
