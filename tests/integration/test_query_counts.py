"""No N+1: a page of 100 cases costs the same number of SQL statements as a page of 5."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from hub.cases import inputs, intake, steps
from hub.cases.duplicates import Rules
from hub.cases.enums import Category, Channel
from tests.conftest import Hub
from tests.helpers import counting
from tests.operations import op


async def add_cases(hub: Hub, count: int) -> None:
    scope = await hub.scope()
    sources = [None, *[str(s) for s in await _source_ids(hub)]]
    async with hub.db.session(scope.tenant_ids, write=True) as session:
        for n in range(count):
            inp = inputs.RegisterInput(
                channel=list(Channel)[n % 5],
                title=f"问题 {n}",
                description="描述",
                category=list(Category)[n % 8],
                external_id=f"bulk-{n}",
                tenant_code=["laiji", "chaohua", "dawei"][n % 3],
                reporter_phone=f"138{n:08d}",  # one caller a case (no repeat-caller merge)
            )
            reg = await intake.register(
                session, scope, inp, tz=ZoneInfo("Asia/Shanghai"), prefix="XM", rules=Rules()
            )
            if n % 2:
                await steps.dispatch(
                    session,
                    scope,
                    str(reg.case.id),
                    inputs.DispatchInput(tenant_code="laiji"),
                    tz=ZoneInfo("Asia/Shanghai"),
                )
        await session.commit()
    assert sources


async def _source_ids(hub: Hub) -> list:
    from sqlalchemy import select

    from hub.sources.model import Source

    scope = await hub.scope()
    async with hub.db.session(scope.tenant_ids) as session:
        return list(await session.scalars(select(Source.id)))


WIDE = """query($first: Int, $filter: CaseFilter) { cases(first: $first, filter: $filter) {
  totalCount
  pageInfo { hasNextPage endCursor }
  edges { cursor node { id number status channels overdue tenant { code name }
    gridCell { id name } assignee { id name } source { id name } reportCount
    reports { id channel reporter { name phone } } timeline { action actor { name } }
    links { kind case { id } } externalRefs { system externalId } } } } }"""


async def test_statement_count_does_not_grow_with_the_page(
    hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The tenant directory is cached for seconds; on a slow machine it could expire between
    # the warm-up and the counted request, adding its own statements to one of them.
    monkeypatch.setattr("hub.tenancy.service.CACHE_SECONDS", 3600.0)
    await add_cases(hub, 230)
    # A VIEWER reads masked phones; a DISPATCHER's full phones are audited, one batch per town,
    # so the DISPATCHER's pages are of one town to compare like with like.
    runs = {
        "contract": (op("Cases"), "VIEWER", None),
        "wide": (WIDE, "VIEWER", None),
        "wide, audited": (WIDE, "DISPATCHER", {"tenantCodes": ["laiji"]}),
    }
    counts = {}
    for name, (query, role, flt) in runs.items():
        token = hub.token(role)
        for first in (5, 100):
            variables = {"first": first, "filter": flt}
            await hub.gql(query, variables, token=token)  # warm the caches
            with counting(hub.db) as statements:
                data = await hub.gql(query, variables, token=token)
            assert len(data["cases"]["edges"]) == first
            counts[(name, first)] = len(statements)
    for name in runs:
        assert counts[(name, 5)] == counts[(name, 100)], counts
    assert counts[("contract", 100)] <= 4, counts  # (set_config,) page, count
