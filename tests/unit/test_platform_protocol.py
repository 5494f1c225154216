"""The platform connector's pure parts, table-driven: the status table, the backoff, parsing
updates and pages, the order a page is taken in, staleness."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.platform.protocol import (
    STATUSES,
    BadItem,
    Update,
    UpdateKind,
    hub_status,
    in_taking_order,
    is_stale,
    parse_page,
    parse_update,
    platform_status,
)
from hub.backoff import Policy, delay, is_pause
from hub.cases.enums import CaseStatus

# --- the status table ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hub", "platform"),
    [
        (CaseStatus.REGISTERED, "RECEIVED"),
        (CaseStatus.DISPATCHED, "DISPATCHED"),
        (CaseStatus.HANDLING, "HANDLING"),
        (CaseStatus.UNDER_REVIEW, "REVIEWING"),
        (CaseStatus.RESOLVED, "RESOLVED"),
        (CaseStatus.FEEDBACK_GIVEN, "FEEDBACK_GIVEN"),
        (CaseStatus.CLOSED, "CLOSED"),
        (CaseStatus.MERGED, "MERGED"),
        (CaseStatus.REJECTED, "REFUSED"),
    ],
)
def test_each_hub_status_has_its_platform_name_and_back(hub: CaseStatus, platform: str) -> None:
    assert platform_status(hub) == platform
    assert platform_status(hub.value) == platform
    assert hub_status(platform) == hub


def test_the_table_covers_every_status_one_to_one() -> None:
    assert set(STATUSES) == set(CaseStatus)
    assert len(set(STATUSES.values())) == len(STATUSES)


@pytest.mark.parametrize("name", ["", "received", "DONE", "办结"])
def test_an_unknown_platform_name_is_no_status(name: str) -> None:
    assert hub_status(name) is None


def test_another_table_replaces_the_names() -> None:
    other = {s: f"S{i}" for i, s in enumerate(CaseStatus)}
    assert platform_status(CaseStatus.CLOSED, other) == other[CaseStatus.CLOSED]
    assert hub_status(other[CaseStatus.HANDLING], other) == CaseStatus.HANDLING
    with pytest.raises(ValueError):
        platform_status("NOT_A_STATUS")


# --- the backoff --------------------------------------------------------------------------------

POLICY = Policy(base=5.0, cap=300.0, pause_after=8, pause=900.0)


@pytest.mark.parametrize(
    ("failures", "rand", "expected"),
    [
        (0, 0.5, 0.0),
        (-1, 0.5, 0.0),
        (1, 0.0, 2.5),
        (1, 1.0, 5.0),
        (2, 0.0, 5.0),
        (2, 1.0, 10.0),
        (3, 0.5, 15.0),
        (6, 1.0, 160.0),
        (7, 1.0, 300.0),  # capped (5 * 64 = 320)
        (7, 0.0, 150.0),
        (8, 0.3, 900.0),  # the pause
        (500, 0.9, 900.0),
    ],
)
def test_backoff(failures: int, rand: float, expected: float) -> None:
    assert delay(failures, POLICY, lambda: rand) == pytest.approx(expected)


@pytest.mark.parametrize(("failures", "paused"), [(0, False), (7, False), (8, True), (9, True)])
def test_pause(failures: int, paused: bool) -> None:
    assert is_pause(failures, POLICY) is paused


@given(
    st.integers(min_value=1, max_value=10_000),
    st.floats(min_value=0, max_value=1),
    st.floats(min_value=0, max_value=1),
)
def test_delays_stay_within_bounds_and_never_shrink(n: int, a: float, b: float) -> None:
    this, following = delay(n, POLICY, lambda: a), delay(n + 1, POLICY, lambda: b)
    assert 0 < this <= max(POLICY.cap, POLICY.pause)
    assert following >= this or (n + 1 >= POLICY.pause_after and following == POLICY.pause)


# --- updates and pages --------------------------------------------------------------------------

AT = "2026-11-28T09:30:00+08:00"
ASSIGNMENT = {"platformCaseId": "ZZ-1", "assignedAt": AT, "title": "t", "description": "d"}
GOOD = {
    "updateId": "U-1",
    "platformCaseId": "ZZ-1",
    "type": "ASSIGNED",
    "at": AT,
    "assignment": ASSIGNMENT,
}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"updateId": None}, "updateId"),
        ({"updateId": "  "}, "updateId"),
        ({"updateId": 5}, "updateId"),
        ({"platformCaseId": None}, "platformCaseId"),
        ({"type": "CLOSED"}, "type"),
        ({"at": "yesterday"}, "at"),
        ({"at": "2026-11-28T09:30:00"}, "at"),
        ({"assignment": None}, "assignment"),
        ({"assignment": {**ASSIGNMENT, "platformCaseId": "ZZ-2"}}, "assignment"),
        ({"assignment": "no"}, "assignment"),
        ({"type": "DEADLINE", "assignment": None}, "deadline"),
        ({"type": "DEADLINE", "deadline": "soon"}, "deadline"),
        ({"type": "URGED", "note": 5}, "note"),
    ],
)
def test_a_bad_update_is_named_not_raised(changes: dict, field: str) -> None:
    raw = {k: v for k, v in {**GOOD, **changes}.items() if v is not None}
    bad = parse_update(raw)
    assert isinstance(bad, BadItem)
    assert field in [p.field for p in bad.problems]
    assert bad.update_id  # kept on record under its id, or a fingerprint of it


@pytest.mark.parametrize("raw", [None, 5, "U-1", ["a"]])
def test_an_item_that_is_no_object_gets_a_stable_fingerprint(raw: object) -> None:
    first, second = parse_update(raw), parse_update(raw)
    assert isinstance(first, BadItem) and isinstance(second, BadItem)
    assert first.update_id == second.update_id and first.update_id.startswith("invalid:")


def test_good_updates_parse() -> None:
    assert isinstance(parse_update(GOOD), Update)
    urged = parse_update({**GOOD, "type": "URGED", "assignment": None})
    assert isinstance(urged, Update) and urged.type == UpdateKind.URGED
    deadline = parse_update({**GOOD, "type": "DEADLINE", "deadline": AT, "extra": 1})
    assert isinstance(deadline, Update) and deadline.deadline is not None


def test_a_page_is_taken_assignments_first_then_in_the_platforms_time() -> None:
    t0 = datetime(2026, 11, 28, tzinfo=UTC)

    def u(uid: str, kind: str, minutes: int) -> Update:
        raw = {
            "updateId": uid,
            "platformCaseId": "ZZ-1",
            "type": kind,
            "at": (t0 + timedelta(minutes=minutes)).isoformat(),
            "assignment": ASSIGNMENT,
            "deadline": AT,
        }
        parsed = parse_update(raw)
        assert isinstance(parsed, Update)
        return parsed

    shuffled = [
        u("c", "URGED", 3),
        u("b", "DEADLINE", 2),
        u("a", "ASSIGNED", 9),
        u("d", "DEADLINE", 1),
    ]
    assert [x.update_id for x in in_taking_order(shuffled)] == ["a", "d", "b", "c"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([], "JSON object"),
        ({"next": "1"}, "items"),
        ({"items": {}, "next": "1"}, "items"),
        ({"items": [], "next": 3}, "next"),
        ({"items": [], "next": "x" * 501}, "next"),
    ],
)
def test_a_page_not_as_the_protocol_says(body: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_page(body)


@pytest.mark.parametrize(
    ("body", "cursor"),
    [
        ({"items": [], "next": None}, None),
        ({"items": [1], "next": "7"}, "7"),
        ({"items": [], "next": ""}, None),
    ],
)
def test_pages(body: dict, cursor: str | None) -> None:
    assert parse_page(body).next == cursor


@pytest.mark.parametrize(("update_minutes", "stale"), [(-1, True), (0, True), (1, False)])
def test_an_update_not_newer_than_the_last_change_is_stale(update_minutes: int, stale: bool):
    last = datetime(2026, 11, 28, 12, tzinfo=UTC)
    assert is_stale(last + timedelta(minutes=update_minutes), last) is stale
