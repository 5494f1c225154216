"""The change feed (caseChanges): it never skips a change, even when transactions commit in
the opposite order to the one they changed things in (the trap of sequence-ordered feeds)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from hub.cases import inputs, steps
from tests.conftest import Backend, Hub, register
from tests.operations import op

CHANGES = op("CaseChanges")


async def drain(hub: Hub, after: str | None, token: str | None = None) -> tuple[list[str], str]:
    """Page to the end; the ids seen in order, and the cursor to ask again with."""
    seen: list[str] = []
    while True:
        page = (await hub.gql(CHANGES, {"after": after, "first": 3}, token=token))["caseChanges"]
        ids = [e["node"]["id"] for e in page["edges"]]
        assert len(ids) == len(set(ids)), "a case appears at most once in a page"
        seen += ids
        after = page["pageInfo"]["endCursor"]
        if not page["pageInfo"]["hasNextPage"]:
            return seen, after


async def settled(
    hub: Hub, after: str | None, count: int, token: str | None = None
) -> tuple[list[str], str]:
    """drain until ``count`` changes have come. The feed serves only what lies below the oldest
    transaction still running anywhere on the PostgreSQL server, and on a shared server (CI runs
    other processes' teardowns beside this) that horizon can trail for a moment: a client
    polls, and so does this test, for at most 15 s."""
    seen: list[str] = []
    cursor = after
    deadline = asyncio.get_running_loop().time() + 15
    while True:
        more, cursor = await drain(hub, cursor, token)
        seen += more
        if len(seen) >= count or asyncio.get_running_loop().time() > deadline:
            return seen, cursor
        await asyncio.sleep(0.2)


async def test_every_change_moves_the_case_to_the_end(hub: Hub) -> None:
    ids = [
        (await register(hub, externalId=f"f{n}", tenantCode="laiji"))["case"]["id"]
        for n in range(5)
    ]
    seen, cursor = await settled(hub, None, len(ids))
    assert seen == ids
    again, cursor = await drain(hub, cursor)
    assert again == [], "nothing new, nothing repeated"
    await hub.gql(op("DispatchCase"), {"caseId": ids[1], "input": {"tenantCode": "laiji"}})
    await hub.gql(op("RejectCase"), {"caseId": ids[3], "reason": "不属实"})
    moved, cursor = await settled(hub, cursor, 2)
    assert moved == [ids[1], ids[3]]
    page = (await hub.gql(CHANGES, {"first": 10}))["caseChanges"]
    node = next(e["node"] for e in page["edges"] if e["node"]["id"] == ids[3])
    assert node["status"] == "REJECTED" and node["tenant"] == {"code": "laiji"}
    everything, _ = await settled(hub, None, 5)
    assert everything == [ids[0], ids[2], ids[4], ids[1], ids[3]]


async def test_a_town_follows_only_its_own_cases(hub: Hub) -> None:
    mine = (await register(hub, externalId="m", tenantCode="chaohua"))["case"]["id"]
    await register(hub, externalId="o", tenantCode="dawei")
    seen, _ = await settled(hub, None, 1, token=hub.token("OPERATOR", ["chaohua"]))
    assert seen == [mine]


async def test_a_forged_cursor_is_refused(hub: Hub) -> None:
    response = await hub.post(CHANGES, {"after": "bm90LWEtY3Vyc29y", "first": 5}, token=hub.admin)
    error = response.json()["errors"][0]
    assert error["extensions"] == {"code": "VALIDATION", "field": "after"}


Read = Callable[[Hub, str | None], Awaitable[tuple[list[str], str]]]


async def commit_out_of_order(hub: Hub, read: Read, settle: Read) -> None:
    """Case a is changed by a transaction that stays open while a later one changes case b and
    commits first: ``read`` sees neither yet, and after a's commit ``settle`` sees a then b."""
    # Two towns, so the two transactions share no lock (audit chains are per town).
    a = (await register(hub, externalId="a", tenantCode="goutang"))["case"]["id"]
    b = (await register(hub, externalId="b", tenantCode="pingmo"))["case"]["id"]
    _, cursor = await settle(hub, None)
    scope = await hub.scope()
    tz = ZoneInfo("Asia/Shanghai")
    first = hub.db.session(scope.tenant_ids, write=True)
    second = hub.db.session(scope.tenant_ids, write=True)
    try:
        await steps.dispatch(first, scope, a, inputs.DispatchInput("goutang"), tz=tz)
        await steps.dispatch(second, scope, b, inputs.DispatchInput("pingmo"), tz=tz)
        await second.commit()
        held_back, after = await read(hub, cursor)
        assert held_back == [], "nothing is served past a transaction still running"
        assert after == cursor
        await first.commit()
    finally:
        await first.close()
        await second.close()
    seen, _ = await settle(hub, cursor)
    assert seen == [a, b], "neither change is lost, and they come in transaction order"


async def test_transactions_committing_out_of_order_are_not_skipped(
    hub: Hub, backend: Backend
) -> None:
    if backend.name != "postgres":
        pytest.skip("SQLite has one writer at a time: commits cannot interleave")

    async def settle(hub: Hub, after: str | None) -> tuple[list[str], str]:
        return await settled(hub, after, 2)

    await commit_out_of_order(hub, drain, settle)


async def contract_fields(hub: Hub) -> dict[str, Any]:
    case = await register(hub, channel="PLATFORM", externalId="ZZ-1", tenantCode="pingmo")
    await settled(hub, None, 1)
    page = (await hub.gql(CHANGES, {"first": 1}))["caseChanges"]
    return {"case": case, "node": page["edges"][0]["node"]}


async def test_the_feed_carries_what_the_platform_needs(hub: Hub) -> None:
    got = await contract_fields(hub)
    node = got["node"]
    assert node["id"] == got["case"]["case"]["id"] and node["card"] == "NONE"
    assert node["externalRefs"] == [{"system": "platform", "externalId": "ZZ-1"}]
    assert node["updatedAt"] and node["number"].startswith("XM-")
