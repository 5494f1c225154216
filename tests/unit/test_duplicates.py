"""One problem, one case: the rules that attach a report by themselves (sure) and those that
only show candidates (not sure), as a table; distances; priority."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.cases.duplicates import (
    Arrival,
    OpenCase,
    Reason,
    Rules,
    box,
    distance_m,
    judge,
    raises_priority,
)

NOW = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)
TOWN, OTHER_TOWN = uuid.uuid4(), uuid.uuid4()
SOURCE, OTHER_SOURCE = uuid.uuid4(), uuid.uuid4()
PHONE = "13800000000"
LAT, LON = 34.57, 113.48
M = 1 / 111_195  # degrees of latitude in a metre
RULES = Rules()


def case(**k) -> OpenCase:
    k.setdefault("case_id", uuid.uuid4())
    k.setdefault("category", "DUST")
    k.setdefault("created_at", NOW - timedelta(hours=1))
    k.setdefault("tenant_id", TOWN)
    return OpenCase(**k)


def arrival(**k) -> Arrival:
    k.setdefault("category", "DUST")
    k.setdefault("received_at", NOW)
    k.setdefault("tenant_id", TOWN)
    return Arrival(**k)


H = timedelta(hours=1)
CALLER = frozenset({PHONE})
HERE = {"latitude": LAT, "longitude": LON}
# (name, arrival, the open case, expected: "attach" reason, "candidate", or None)
TABLE = [
    (
        "same source, category",
        arrival(source_id=SOURCE),
        case(source_id=SOURCE),
        Reason.SAME_SOURCE,
    ),
    (
        "same source, other category",
        arrival(source_id=SOURCE),
        case(source_id=SOURCE, category="NOISE"),
        None,
    ),
    ("other source", arrival(source_id=SOURCE), case(source_id=OTHER_SOURCE), None),
    (
        "same source, 71 h old",
        arrival(source_id=SOURCE),
        case(source_id=SOURCE, created_at=NOW - 71 * H),
        Reason.SAME_SOURCE,
    ),
    (
        "same source, 73 h old",
        arrival(source_id=SOURCE),
        case(source_id=SOURCE, created_at=NOW - 73 * H),
        None,
    ),
    (
        "same source, other town",
        arrival(source_id=SOURCE),
        case(source_id=SOURCE, tenant_id=OTHER_TOWN),
        None,
    ),
    ("same phone, category", arrival(phone=PHONE), case(phones=CALLER), Reason.SAME_CALLER),
    (
        "same phone, a week old case",
        arrival(phone=PHONE),
        case(phones=CALLER, created_at=NOW - 170 * H),
        Reason.SAME_CALLER,
    ),
    (
        "same phone, other category",
        arrival(phone=PHONE),
        case(phones=CALLER, category="WATER"),
        None,
    ),
    ("other phone", arrival(phone="13900000000"), case(phones=CALLER), None),
    (
        "same phone, other town",
        arrival(phone=PHONE),
        case(phones=CALLER, tenant_id=OTHER_TOWN),
        None,
    ),
    (
        "same phone, unrouted call",
        arrival(phone=PHONE, unrouted=True),
        case(phones=CALLER, tenant_id=OTHER_TOWN),
        Reason.SAME_CALLER,
    ),
    ("no phone", arrival(), case(phones=CALLER), None),
    ("100 m away", arrival(**HERE), case(latitude=LAT + 100 * M, longitude=LON), "candidate"),
    ("299 m away", arrival(**HERE), case(latitude=LAT + 299 * M, longitude=LON), "candidate"),
    ("301 m away", arrival(**HERE), case(latitude=LAT + 301 * M, longitude=LON), None),
    ("near, other category", arrival(**HERE), case(**HERE, category="NOISE"), None),
    ("near, 73 h old", arrival(**HERE), case(**HERE, created_at=NOW - 73 * H), None),
    ("near, other town", arrival(**HERE), case(**HERE, tenant_id=OTHER_TOWN), "candidate"),
    ("near, case without a point", arrival(**HERE), case(), None),
    ("case near, call without a point", arrival(), case(**HERE), None),
    (
        "same source and near",
        arrival(source_id=SOURCE, **HERE),
        case(source_id=SOURCE, **HERE),
        Reason.SAME_SOURCE,
    ),
]


@pytest.mark.parametrize(
    ("arrives", "open_case", "expected"), [t[1:] for t in TABLE], ids=[t[0] for t in TABLE]
)
def test_rules(arrives: Arrival, open_case: OpenCase, expected: object) -> None:  # fmt: skip
    verdict = judge(arrives, [open_case], RULES)
    if isinstance(expected, Reason):
        assert verdict.attach_to == open_case.case_id and verdict.reason == expected
        assert verdict.candidates == ()
    elif expected == "candidate":
        assert verdict.attach_to is None
        assert [c.case_id for c in verdict.candidates] == [open_case.case_id]
        assert verdict.candidates[0].reason == Reason.NEARBY
    else:
        assert verdict.attach_to is None and verdict.candidates == ()


def test_the_distance_is_configurable() -> None:
    far = case(latitude=LAT + 450 * M, longitude=LON)
    near_call = arrival(**HERE)
    assert judge(near_call, [far], RULES).candidates == ()
    wide = Rules(distance_m=500)
    assert [c.case_id for c in judge(near_call, [far], wide).candidates] == [far.case_id]
    assert judge(near_call, [far], wide).candidates[0].distance_m == pytest.approx(450, abs=1)


def test_the_newest_sure_match_wins_and_candidates_come_nearest_first() -> None:
    old = case(source_id=SOURCE, created_at=NOW - 5 * H)
    new = case(source_id=SOURCE, created_at=NOW - 1 * H)
    assert judge(arrival(source_id=SOURCE), [old, new], RULES).attach_to == new.case_id
    a = case(latitude=LAT + 200 * M, longitude=LON)
    b = case(latitude=LAT + 50 * M, longitude=LON)
    found = judge(arrival(**HERE), [a, b], RULES).candidates
    assert [c.case_id for c in found] == [b.case_id, a.case_id]


def test_the_source_rule_comes_before_the_caller_rule() -> None:
    by_source = case(source_id=SOURCE, created_at=NOW - 3 * H)
    by_phone = case(phones=CALLER, created_at=NOW - 1 * H)
    verdict = judge(arrival(source_id=SOURCE, phone=PHONE), [by_phone, by_source], RULES)
    assert verdict.attach_to == by_source.case_id and verdict.reason == Reason.SAME_SOURCE


@pytest.mark.parametrize(
    ("priority", "callers", "raised"),
    [("NORMAL", 1, False), ("NORMAL", 2, False), ("NORMAL", 3, True), ("NORMAL", 7, True),
     ("URGENT", 5, False)],
)  # fmt: skip
def test_several_callers_raise_the_priority(priority: str, callers: int, raised: bool) -> None:
    assert raises_priority(priority, callers, RULES) is raised
    assert raises_priority("NORMAL", 2, Rules(urgent_callers=2))


def test_rules_from_settings() -> None:
    from hub.config import Settings

    s = Settings(_env_file=None, duplicate_distance_meters=120, duplicate_window_hours=24)
    assert Rules.of(s) == Rules(timedelta(hours=24), 120.0, 3)


def test_known_distance() -> None:
    # One minute of latitude is a nautical mile, about 1852 m.
    assert distance_m(34.0, 113.0, 34.0 + 1 / 60, 113.0) == pytest.approx(1853, rel=0.002)


coords = st.tuples(st.floats(18, 53), st.floats(74, 135))


@given(coords, st.floats(0, 1000), st.floats(0, 6.28))
def test_every_point_within_the_distance_is_inside_the_box(
    point: tuple[float, float], meters: float, angle: float
) -> None:
    import math

    lat, lon = point
    dlat = math.degrees(meters * math.cos(angle) / 6_371_008.8)
    dlon = math.degrees(meters * math.sin(angle) / 6_371_008.8) / math.cos(math.radians(lat))
    lat0, lat1, lon0, lon1 = box(lat, lon, meters * 1.001 + 0.01)
    assert lat0 <= lat + dlat <= lat1 and lon0 <= lon + dlon <= lon1


@given(coords, coords)
def test_distance_is_symmetric_and_never_negative(a, b) -> None:
    assert distance_m(*a, *b) == pytest.approx(distance_m(*b, *a))
    assert distance_m(*a, *b) >= 0


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("duplicate_distance_meters", -1),
        ("duplicate_distance_meters", 0),
        ("duplicate_distance_meters", 50_000),
        ("duplicate_distance_meters", "near"),
        ("duplicate_window_hours", 0),
        ("urgent_after_callers", 1),
        ("urgent_after_callers", "many"),
    ],
)
def test_bad_settings_are_refused_naming_the_setting(field: str, value: object) -> None:
    from pydantic import ValidationError

    from hub.config import Settings

    with pytest.raises(ValidationError) as refused:
        Settings(_env_file=None, **{field: value})
    assert field in str(refused.value)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("SANWANG_HOTLINE_CALLBACK_URL", "ftp://call-system/results"),
        ("SANWANG_HOTLINE_CALLBACK_URL", "call-system"),
        ("SANWANG_HOTLINE_CALLBACK_TIMEOUT_SECONDS", "0"),
        ("SANWANG_HOTLINE_DEMO_CALL_SECONDS", "-5"),
    ],
)
def test_bad_hotline_settings_are_refused_at_start_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    from connectors.hotline.settings import HotlineSettings
    from hub.plugins import SettingsError, read_settings

    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as refused:
        read_settings(HotlineSettings)
    assert variable in str(refused.value)


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from connectors.hotline.settings import HotlineSettings
    from hub.config import Settings

    monkeypatch.setenv("SANWANG_DUPLICATE_DISTANCE_METERS", "150")
    monkeypatch.setenv("SANWANG_HOTLINE_CALLBACK_URL", "http://127.0.0.1:9000/cb")
    assert Settings(_env_file=None).duplicate_distance_meters == 150.0
    assert HotlineSettings(_env_file=None).callback_url == "http://127.0.0.1:9000/cb"
    assert HotlineSettings(_env_file=None, callback_url="").callback_url is None
