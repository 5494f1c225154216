"""Who may register under a network's channel, repeat detection of the networks' ids city-wide,
and registration as an oracle: a masked viewer learns nothing of a caller's number from what
registerCase answers, and registrations are rate-limited per principal (issue 11, items 3, 12)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from hub.sources.model import Source
from tests.conftest import Hub, register

TOWN = "laiji"
OTHER_TOWN = "dawei"
CALLER = "13700000002"

REFUSED = [
    ("OPERATOR", "PLATFORM"),
    ("OPERATOR", "HOTLINE"),
    ("OPERATOR", "MONITORING"),
    ("MEMBER", "HOTLINE"),
    ("DISPATCHER", "PLATFORM"),
    ("HOTLINE", "PLATFORM"),
    ("PLATFORM", "HOTLINE"),
    ("MONITOR", "PLATFORM"),
]
ALLOWED = [
    ("ADMIN", "PLATFORM"),
    ("ADMIN", "MONITORING"),
    ("HOTLINE", "HOTLINE"),
    ("PLATFORM", "PLATFORM"),
    ("MONITOR", "MONITORING"),
    ("OPERATOR", "GRID"),
    ("DISPATCHER", "OTHER"),
]


@pytest.mark.parametrize(("role", "channel"), REFUSED, ids=[f"{r}-{c}" for r, c in REFUSED])
async def test_a_networks_channel_is_refused_to_other_roles(
    hub: Hub, role: str, channel: str
) -> None:
    """A town office pre-claiming the platform's next case id: FORBIDDEN, and the real delivery
    then opens its case rather than answering a conflict."""
    claimed = await register(
        hub, hub.token(role, [TOWN]), channel=channel, tenantCode=TOWN, externalId="future-1"
    )
    assert claimed["__typename"] == "UserError"
    assert (claimed["code"], claimed["field"]) == ("FORBIDDEN", "channel")

    network = {"PLATFORM": "PLATFORM", "HOTLINE": "HOTLINE", "MONITORING": "MONITOR"}[channel]
    real = await register(
        hub, hub.token(network), channel=channel, tenantCode=TOWN, externalId="future-1"
    )
    assert real["__typename"] == "CaseResult", real
    assert real["duplicateOf"] is None


@pytest.mark.parametrize(("role", "channel"), ALLOWED, ids=[f"{r}-{c}" for r, c in ALLOWED])
async def test_the_matching_role_registers_under_its_channel(
    hub: Hub, role: str, channel: str
) -> None:
    done = await register(
        hub, hub.token(role, [TOWN]), channel=channel, tenantCode=TOWN, externalId="own-1"
    )
    assert done["__typename"] == "CaseResult", done


async def test_a_networks_repeat_is_found_in_every_town(hub: Hub) -> None:
    """The platform's case P-1 was routed to dawei; the same id delivered by a platform token
    that sees laiji only is not a new laiji case."""
    first = await register(
        hub, hub.token("PLATFORM"), channel="PLATFORM", tenantCode=OTHER_TOWN, externalId="P-1"
    )
    assert first["case"]["tenant"]["code"] == OTHER_TOWN

    narrow = hub.token("PLATFORM", [TOWN], sub="platform-laiji")
    again = await register(hub, narrow, channel="PLATFORM", tenantCode=TOWN, externalId="P-1")
    assert again["__typename"] == "UserError", again
    assert (again["code"], again["field"]) == ("CONFLICT", "externalId")

    city_wide = await register(
        hub, hub.token("PLATFORM"), channel="PLATFORM", tenantCode=OTHER_TOWN, externalId="P-1"
    )
    assert city_wide["case"]["id"] == first["case"]["id"], "a repeat returns the first case"
    assert city_wide["case"]["reportCount"] == 1


async def test_an_operator_learns_nothing_from_a_callers_number(hub: Hub) -> None:
    """The operator sees 137****0002; registering with the right guess must answer the same as
    with a wrong one."""
    called = await register(
        hub, hub.token("HOTLINE"), tenantCode=TOWN, externalId="call-1", reporterPhone=CALLER
    )
    # Those who see the number have the same-caller rule.
    repeat = await register(
        hub, hub.token("HOTLINE"), tenantCode=TOWN, externalId="call-2", reporterPhone=CALLER
    )
    assert repeat["duplicateOf"] == {
        "id": called["case"]["id"],
        "number": called["case"]["number"],
    }

    operator = hub.token("OPERATOR", [TOWN])
    answers = []
    for guess in ("13700000001", CALLER):
        done = await register(hub, operator, channel="GRID", tenantCode=TOWN, reporterPhone=guess)
        assert done["__typename"] == "CaseResult", done
        answers.append((done["duplicateOf"], done["case"]["reportCount"]))
        assert done["case"]["id"] != called["case"]["id"]
    assert answers == [(None, 1), (None, 1)]


PRIORITY = """mutation($input: RegisterCaseInput!) { registerCase(input: $input) {
  ... on CaseResult { case { id priority } duplicateOf { id } }
  ... on UserError { code message } } }"""


async def _town_source(hub: Hub) -> str:
    scope = await hub.scope()
    async with hub.db.session(scope.tenant_ids) as session:
        found = await session.scalar(
            select(Source.id)
            .where(Source.tenant_id == scope.directory.by_code[TOWN].id)
            .order_by(Source.name)
            .limit(1)
        )
    assert found is not None, "the seeded world has a source in the town"
    return str(found)


async def test_an_operator_learns_nothing_from_the_priority_either(hub: Hub) -> None:
    """Several different callers make a case URGENT: if an operator's report counted, a guess
    that leaves it NORMAL would be a caller's number."""
    source = await _town_source(hub)
    base = {"title": "扬尘", "description": "扬尘", "category": "DUST", "sourceId": source}

    async def call(token: str, channel: str, phone: str) -> dict[str, object]:
        data = {**base, "channel": channel, "tenantCode": TOWN, "reporterPhone": phone}
        done = await hub.gql(PRIORITY, {"input": data}, token=token)
        return done["registerCase"]

    hotline = hub.token("HOTLINE")
    first = await call(hotline, "HOTLINE", "13700000001")
    await call(hotline, "HOTLINE", "13700000002")
    guessed = await call(hub.token("OPERATOR", [TOWN]), "GRID", "13700000003")
    assert guessed["duplicateOf"] == {"id": first["case"]["id"]}  # the same source
    assert guessed["case"]["priority"] == "NORMAL"
    # The operator's caller counts with the next call of someone who sees numbers.
    later = await call(hotline, "HOTLINE", "13700000001")
    assert later["case"]["priority"] == "URGENT"


async def test_registrations_over_the_rate_are_refused(hub: Hub) -> None:
    hub.settings.register_rate_per_minute = 3
    guesser = hub.token("OPERATOR", [TOWN], sub="guesser")
    for _ in range(3):
        done = await register(hub, guesser, channel="GRID", tenantCode=TOWN)
        assert done["__typename"] == "CaseResult", done
    refused = await register(hub, guesser, channel="GRID", tenantCode=TOWN)
    assert refused["__typename"] == "UserError"
    assert refused["code"] == "RATE_LIMITED"
    assert "登记过于频繁" in refused["message"]

    # The limit is the principal's: another office still registers.
    other = hub.token("OPERATOR", [TOWN], sub="another-office")
    done = await register(hub, other, channel="GRID", tenantCode=TOWN)
    assert done["__typename"] == "CaseResult", done
