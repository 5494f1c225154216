"""When readings become an alarm (hub.monitoring.alarms): a table of value sequences, and
properties over random ones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.monitoring.alarms import Limit, Verdict, Watch, judge, limits_of
from hub.monitoring.model import Interval

T0 = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
LIMIT = Limit(max=10.0, unit="mg/m3")
R, H = Interval.REALTIME, Interval.HOUR
N, S, E, C = Verdict.NONE, Verdict.START, Verdict.END, Verdict.CONTINUE


def run(
    values: list[tuple[Interval, float | None, bool]], limit: Limit | None = LIMIT, needed: int = 3
) -> list[Verdict]:
    watch = Watch()
    verdicts = []
    for i, (interval, value, normal) in enumerate(values):
        watch, verdict = judge(
            watch, interval, T0 + timedelta(seconds=30 * i), value, normal, limit, needed
        )
        verdicts.append(verdict)
    return verdicts


def rt(*values: float) -> list[tuple[Interval, float | None, bool]]:
    return [(R, v, True) for v in values]


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (rt(5, 6, 7), [N, N, N]),
        (rt(11, 12), [N, N]),
        (rt(11, 12, 13), [N, N, S]),
        (rt(11, 12, 13, 14, 5), [N, N, S, C, E]),
        (rt(11, 12, 5, 11, 12, 13), [N, N, N, N, N, S]),  # a normal value breaks the streak
        (rt(10, 10, 10), [N, N, N]),  # at the limit is not over it
        (rt(11, 11, 11, 10), [N, N, S, E]),
        (rt(11, 12, 13, 5, 5), [N, N, S, E, N]),
        ([(R, 11, True), (R, 50, False), (R, 12, True), (R, 13, True)], [N, N, N, S]),
        ([(R, 11, True), (R, 1, False), (R, 12, True), (R, 13, True)], [N, N, N, S]),
        ([(R, 11, True), (R, None, True), (R, 12, True), (R, 13, True)], [N, N, N, S]),
        ([(H, 40, True)], [S]),
        ([(H, 40, True), (H, 41, True), (H, 4, True)], [S, C, E]),
        ([(H, 4, True)], [N]),
        ([(H, 40, False)], [N]),
        ([(Interval.MINUTE, 40, True), (Interval.DAY, 4, True)], [N, N]),
        # a 24-hour mean above the limit opens an episode; one within it ends nothing
        ([(Interval.DAY, 40, True), (Interval.DAY, 41, True)], [S, C]),
        ([(H, 40, True), (Interval.DAY, 4, True), (H, 4, True)], [S, N, E]),
        ([(H, 40, True), (R, 12, True), (R, 3, True)], [S, C, E]),
    ],
)
def test_value_sequences(
    values: list[tuple[Interval, float | None, bool]], expected: list[Verdict]
) -> None:
    assert run(values) == expected


def test_a_lower_bound_alarms_below_it() -> None:
    ph = Limit(max=9.0, min=6.0)
    assert run(rt(5.5, 5.0, 4.0, 7.0), ph) == [N, N, S, E]
    assert ph.bound_for(4.0) == 6.0 and ph.bound_for(9.5) == 9.0


def test_no_limit_no_alarm() -> None:
    assert run(rt(1e9, 1e9, 1e9), None) == [N, N, N]


def test_needed_is_configurable() -> None:
    assert run(rt(11), needed=1) == [S]
    assert run(rt(11, 12, 13, 14), needed=5) == [N, N, N, N]


def test_a_repeated_or_late_realtime_value_is_not_judged_again() -> None:
    watch = Watch()
    watch, first = judge(watch, R, T0, 11, True, LIMIT, 2)
    watch, repeat = judge(watch, R, T0, 11, True, LIMIT, 2)
    watch, late = judge(watch, R, T0 - timedelta(seconds=1), 11, True, LIMIT, 2)
    watch, second = judge(watch, R, T0 + timedelta(seconds=30), 11, True, LIMIT, 2)
    assert (first, repeat, late, second) == (N, N, N, S)


def test_limits_of_stored_json() -> None:
    stored = [{"pollutant": "w01001", "max": 9.0, "min": 6.0, "unit": "pH"}]
    assert limits_of(stored) == {"w01001": Limit(9.0, 6.0, "pH")}
    assert limits_of(None) == {}


values = st.lists(
    st.tuples(
        st.sampled_from([R, H]),
        st.one_of(st.none(), st.floats(0, 30, allow_nan=False)),
        st.booleans(),
    ),
    max_size=60,
)


@given(values)
def test_episodes_alternate_start_then_end(seq: list[tuple[Interval, float | None, bool]]) -> None:
    """START and END alternate, starting with START; CONTINUE only inside an episode."""
    open_ = False
    for verdict in run(seq):
        if verdict is S:
            assert not open_
            open_ = True
        elif verdict is E:
            assert open_
            open_ = False
        elif verdict is C:
            assert open_


@given(values)
def test_values_not_flagged_normal_change_nothing(
    seq: list[tuple[Interval, float | None, bool]],
) -> None:
    noisy = []
    for interval, value, normal in seq:
        noisy.append((interval, value, normal))
        noisy.append((interval, 1e6, False))  # maintenance readings in between
    with_noise = [v for i, v in enumerate(run(noisy)) if i % 2 == 0]
    assert with_noise == run(seq)


@given(
    st.lists(
        st.tuples(
            st.sampled_from([Interval.REALTIME, Interval.REALTIME, Interval.MINUTE]),
            st.one_of(st.none(), st.floats(-5, 15)),
            st.booleans(),
            st.integers(0, 6),  # seconds: repeats and late values too
        ),
        max_size=30,
    )
)
def test_the_writers_judgement_equals_judge_value_by_value(
    seq: list[tuple[Interval, float | None, bool, int]],
) -> None:
    """OverLimit.judge decides most values without calling judge() (within the limit, nothing
    running): the watches it leaves are those judge() gives value by value. (No value here can
    open an episode: 1,000 in a row are needed, so no database is involved.)"""
    import asyncio
    import uuid
    from types import SimpleNamespace

    from hub.monitoring.episodes import OverLimit, Staged
    from hub.monitoring.model import PointKind
    from hub.monitoring.writer import Sample

    limit = Limit(max=10.0, min=0.0)
    point = SimpleNamespace(
        id=uuid.uuid4(), name="p", limits={"a": limit}, row=SimpleNamespace(kind=PointKind.OTHER)
    )
    settings = SimpleNamespace(alarm_consecutive=1000, alarm_max_age_hours=1e6)
    samples = [
        Sample("a", interval, T0 + timedelta(seconds=sec), value, normal=normal)
        for interval, value, normal, sec in seq
    ]
    staged = Staged(None, None, settings)  # type: ignore[arg-type]
    asyncio.run(OverLimit().judge(staged, point, samples))  # type: ignore[arg-type]
    expected = Watch()
    for s in samples:
        expected, _ = judge(expected, s.interval, s.at, s.value, s.normal, limit, 1000)
    assert staged.watches.get((point.id, "a"), Watch()) == expected
