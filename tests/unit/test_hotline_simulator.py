"""The simulated call system's calls are what the contract accepts and what the hub can
understand: valid records, enterprises named so that they match, repeat callers that repeat."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.hotline.intake import parse
from connectors.hotline.names import match_source
from connectors.hotline.simulator import TEMPLATES, CallMaker, everyday_name
from hub.cases.phones import normalize_phone
from hub.demo import world

LATER = datetime.now(UTC) + timedelta(hours=1)


@given(st.integers(0, 2**32))
def test_every_call_is_a_valid_record(seed: int) -> None:
    maker = CallMaker(random.Random(seed))
    for _ in range(5):
        body = maker.call()
        call = parse(body, LATER)  # raises Refused on anything the contract refuses
        assert call.call_id == body["callId"]
        assert normalize_phone(body["callerPhone"]) == body["callerPhone"]
        assert any(k in body for k in ("town", "address", "latitude"))


def test_call_ids_are_unique_and_repeat_calls_are_new_calls() -> None:
    maker = CallMaker(random.Random(1))
    first = maker.call()
    same = maker.again(first, same_caller=True)
    other = maker.again(first, same_caller=False)
    assert len({first["callId"], same["callId"], other["callId"]}) == 3
    assert same["callerPhone"] == first["callerPhone"]
    assert other["callerPhone"] != first["callerPhone"]
    assert same.get("town") == first.get("town") and same.get("category") == first.get("category")


@pytest.mark.parametrize("source", world.SOURCES, ids=[s.name for s in world.SOURCES])
def test_the_everyday_names_match_their_enterprise(source: world.DemoSource) -> None:
    rnd = random.Random(source.name)
    places = [t.name for t in world.TENANTS]
    town_sources = [(s.name, s.name) for s in world.SOURCES if s.tenant == source.tenant]
    for _ in range(8):
        said = everyday_name(source.name, rnd)
        assert match_source(said, town_sources, places) == source.name, said


def test_every_template_has_its_plant_or_place() -> None:
    industries = {s.industry for s in world.SOURCES}
    for template in TEMPLATES:
        assert template.industry is None or template.industry in industries
        placeholder = "{src}" if template.industry else "{village}"
        assert all(placeholder in text for text in template.texts)
