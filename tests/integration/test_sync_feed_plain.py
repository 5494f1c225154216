"""The change feed read as plain rows (the contract's CaseChanges selects no list of the case
but externalRefs) answers byte for byte what the ORM path answers: the same nodes, order,
cursors and scope, for a city-wide reader and for towns' operators."""

from __future__ import annotations

import json
import uuid
from typing import Any

from sqlalchemy import select

from hub.cases.model import ExternalRef
from hub.sources.model import Source
from hub.sync import service
from tests.conftest import Hub, register
from tests.helpers import counting
from tests.integration.test_sync_feed import CHANGES, settled
from tests.operations import op


# The same operation with a list beside externalRefs: the feed then loads ORM rows.
def with_reports(query: str) -> str:
    return query.replace("externalRefs {", "reports { id } externalRefs {")


KEY = "a test key for cursors"
# The related rows a node may name are joined into the plain statement (the ORM executes it then).
RELATED_CHANGES = CHANGES.replace(
    "externalRefs {",
    "gridCell { id code name level } assignee { id name } source { id name } "
    "overdue title channels location { address } externalRefs {",
)
CONTRACT_NODE = {"id", "number", "status", "card", "updatedAt", "tenant", "externalRefs"}


async def pages(hub: Hub, query: str, token: str, first: int) -> list[dict[str, Any]]:
    """Every page of the feed from its beginning, as answered."""
    found, after = [], None
    while True:
        page = (await hub.gql(query, {"after": after, "first": first}, token=token))["caseChanges"]
        found.append(page)
        after = page["pageInfo"]["endCursor"]
        if not page["pageInfo"]["hasNextPage"]:
            return found


def without_reports(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for page in found:
        for edge in page["edges"]:
            assert "reports" in edge["node"], "the ORM operation selected reports"
            del edge["node"]["reports"]
    return found


async def add_ref(hub: Hub, case_id: str, system: str, external_id: str) -> None:
    scope = await hub.scope()
    async with hub.db.session(scope.tenant_ids, write=True) as session:
        tenant = scope.directory.by_code["laiji"].id
        session.add(
            ExternalRef(
                tenant_id=tenant, case_id=uuid.UUID(case_id), system=system,
                external_id=external_id,
            )
        )  # fmt: skip
        await session.commit()


async def some_cases(hub: Hub) -> list[str]:
    ids = []
    for n, (channel, town) in enumerate(
        [("PLATFORM", "laiji"), ("HOTLINE", "chaohua"), ("PLATFORM", "dawei"),
         ("HOTLINE", "laiji"), ("PLATFORM", "chaohua"), ("PLATFORM", "laiji"),
         ("HOTLINE", "dawei")]
    ):  # fmt: skip
        fields = {"channel": channel, "externalId": f"P-{n}", "tenantCode": town}
        ids.append((await register(hub, **fields))["case"]["id"])
    async with hub.db.session((await hub.scope()).tenant_ids) as session:
        source = await session.scalar(select(Source.id).order_by(Source.id).limit(1))
    located = {"latitude": 34.5, "longitude": 113.4, "sourceId": str(source)}
    ids.append((await register(hub, channel="GRID", externalId="G-1", **located))["case"]["id"])
    await add_ref(hub, ids[0], "city", "C-2")  # two refs on one case
    await add_ref(hub, ids[0], "archive", "A-1")
    await hub.gql(op("DispatchCase"), {"caseId": ids[3], "input": {"tenantCode": "laiji"}})
    await settled(hub, None, len(ids))
    return ids


async def test_plain_and_orm_pages_are_the_same_byte_for_byte(hub: Hub) -> None:
    ids = await some_cases(hub)
    readers = {
        "admin": (hub.admin, None),
        "laiji": (hub.token("OPERATOR", ["laiji"]), {"laiji"}),
        "chaohua+dawei": (hub.token("OPERATOR", ["chaohua", "dawei"]), {"chaohua", "dawei"}),
    }
    every: list[dict[str, Any]] = []
    for name, (token, towns) in readers.items():
        for query in (CHANGES, RELATED_CHANGES):
            for first in (2, 3, 500):
                plain = await pages(hub, query, token, first)
                orm = without_reports(await pages(hub, with_reports(query), token, first))
                assert json.dumps(plain, ensure_ascii=False) == json.dumps(orm, ensure_ascii=False)
                nodes = [e["node"] for p in plain for e in p["edges"]]
                if towns is None:
                    every = nodes
                    assert len(nodes) == len(ids)
                else:  # a town's operator sees its towns' cases, all of them
                    mine = [n["id"] for n in every if n["tenant"]["code"] in towns]
                    assert [n["id"] for n in nodes] == mine and mine, name
                if query is RELATED_CHANGES and towns is None:
                    assert any(n["gridCell"] for n in nodes) and any(n["source"] for n in nodes)
    everything = [e["node"] for p in await pages(hub, CHANGES, hub.admin, 500) for e in p["edges"]]
    assert [n["id"] for n in everything][-2:] == [ids[7], ids[3]], "dispatched: to the end"
    first = next(n for n in everything if n["id"] == ids[0])
    assert len(first["externalRefs"]) == 3
    assert {"system": "platform", "externalId": "P-0"} in first["externalRefs"]
    assert next(n for n in everything if n["id"] == ids[1])["externalRefs"] == []


async def test_the_contract_selection_takes_the_plain_path(hub: Hub) -> None:
    await some_cases(hub)
    scope = await hub.scope()
    async with hub.db.session(scope.tenant_ids) as session:
        plain = await service.changes(session, scope, None, 5, key=KEY, include=CONTRACT_NODE)
        orm = await service.changes(
            session, scope, None, 5, key=KEY, include=CONTRACT_NODE | {"reports"}
        )
    assert plain.refs is not None and orm.refs is None
    assert plain.cursors == orm.cursors and plain.has_next_page and orm.has_next_page
    assert [row.id for row in plain.cases] == [case.id for case in orm.cases]


async def test_a_plain_page_costs_the_same_statements_whatever_its_size(hub: Hub) -> None:
    await some_cases(hub)
    counts = []
    for first in (1, 7):
        with counting(hub.db) as statements:
            await hub.gql(CHANGES, {"first": first})
        counts.append(len(statements))
    assert counts[0] == counts[1]
