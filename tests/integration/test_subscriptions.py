"""The contract's CaseEvents subscription over a real socket (uvicorn + graphql-transport-ws):
events arrive after the change commits, sockets need a valid token, failures publish nothing."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import jwt
import pytest
from websockets.exceptions import ConnectionClosed

from hub.auth import JWT_ALGORITHM, create_token, revoke_token
from hub.cases import inputs, intake
from hub.errors import DomainError, ErrorCode
from tests.conftest import SECRET, Hub, register
from tests.live import GraphQLSocket, graphql_socket, live_server
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


# --- a socket lives no longer than its token (issue 11, item 14) -------------------------------

WITH_PHONES = """subscription { caseEvents { kind case { id reports { reporter { phone } } } } }"""


async def _closed_with(ws: GraphQLSocket, timeout: float) -> int | None:
    """Wait until the server closes the socket; its close code."""
    with pytest.raises(ConnectionClosed) as closed:
        async with asyncio.timeout(timeout):
            while True:
                await ws.receive(timeout)
    return closed.value.rcvd.code if closed.value.rcvd else None


async def test_a_socket_is_closed_when_its_jwt_expires(hub: Hub) -> None:
    expiring = _signed(SECRET, exp=datetime.now().astimezone() + timedelta(seconds=2))
    async with live_server(hub.app) as url, graphql_socket(url, expiring) as ws:
        await ws.subscribe(op("CaseEvents"))
        await register(hub, tenantCode="laiji", externalId="exp-1")
        assert (await ws.next())["data"]["caseEvents"]["kind"] == "REGISTER"
        assert await _closed_with(ws, 5.0) == FORBIDDEN_CLOSE
        # What HTTP answers for the same token by then.
        assert (await hub.post(op("CaseEvents"), token=expiring)).status_code == 401


async def test_a_socket_is_closed_when_its_api_token_is_revoked(hub: Hub) -> None:
    hub.settings.subscription_recheck_seconds = 0.2
    row, token = await create_token(hub.db, "大屏", ["DISPATCHER"], [])
    async with live_server(hub.app) as url, graphql_socket(url, token) as ws:
        await ws.subscribe(op("CaseEvents"))
        await register(hub, tenantCode="laiji", externalId="rev-1")
        assert (await ws.next())["data"]["caseEvents"]["kind"] == "REGISTER"
        assert await revoke_token(hub.db, row.id)
        assert await _closed_with(ws, 3.0) == FORBIDDEN_CLOSE


async def test_unmasked_numbers_on_a_socket_are_audited(hub: Hub) -> None:
    async with (
        live_server(hub.app) as url,
        graphql_socket(url, hub.token("DISPATCHER", sub="board")) as ws,
    ):
        await ws.subscribe(WITH_PHONES)
        case = (
            await register(hub, tenantCode="laiji", externalId="aud-1", reporterPhone="13712345678")
        )["case"]
        event = (await ws.next())["data"]["caseEvents"]
        assert event["case"]["reports"] == [{"reporter": {"phone": "13712345678"}}]
    trail = (await hub.gql(op("AuditTrail"), {"subjectId": case["id"]}))["auditTrail"]
    reads = [e for e in trail if e["action"] == "reporter.unmasked"]
    assert [e["actor"]["id"] for e in reads] == ["jwt:board"], trail


@pytest.mark.parametrize("codes", [["dawei"], ["laiji", "dawei"], ["nowhere"]])
async def test_a_filter_naming_an_unseen_town_is_forbidden(hub: Hub, codes: list[str]) -> None:
    async with (
        live_server(hub.app) as url,
        graphql_socket(url, hub.token("OPERATOR", ["laiji"])) as ws,
    ):
        payload = {"query": op("CaseEvents"), "variables": {"tenantCodes": codes}}
        await ws.send({"id": "1", "type": "subscribe", "payload": payload})
        message = await ws.receive()
    errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
    assert [e["extensions"] for e in errors] == [{"code": "FORBIDDEN", "field": "tenantCodes"}]
