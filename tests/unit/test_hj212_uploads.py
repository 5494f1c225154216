"""From HJ 212 messages to the hub's samples (connectors.hj212.uploads): a table."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.hj212 import Assembler, HJ212Error, Reason, parse
from connectors.hj212.codec import frame
from connectors.hj212.uploads import data_time, samples_of, upload_of
from hub.monitoring.model import Interval

CHINA = ZoneInfo("Asia/Shanghai")
RECEIVED = datetime(2026, 11, 28, 1, 2, 3, 456, tzinfo=UTC)


def message(data: str):
    packet = parse(frame(data))
    found = Assembler().add(packet)
    assert found is not None
    return found


def head(cn: str, flag: str | None = "5") -> str:
    flag_part = f"Flag={flag};" if flag is not None else ""
    return f"QN=20261128093000001;ST=31;CN={cn};PW=123456;MN=88888880000001;{flag_part}"


@pytest.mark.parametrize(
    ("cn", "interval"),
    [("2011", Interval.REALTIME), ("2051", Interval.MINUTE), ("2061", Interval.HOUR),
     ("2031", Interval.DAY)],
)  # fmt: skip
def test_each_data_command_is_its_interval(cn: str, interval: Interval) -> None:
    suffix = "Rtd" if cn == "2011" else "Avg"
    found = samples_of(
        message(head(cn) + f"CP=&&DataTime=20261128093000;a21026-{suffix}=12.5&&"),
        CHINA,
        RECEIVED,
    )
    assert [(s.pollutant, s.interval, s.value) for s in found] == [("a21026", interval, 12.5)]
    assert found[0].at == datetime(2026, 11, 28, 1, 30, tzinfo=UTC)  # 09:30 in China


def test_minute_data_keeps_min_max_and_flag() -> None:
    cp = "DataTime=20261128093000;w01018-Min=30.1,w01018-Avg=35.5,w01018-Max=40,w01018-Flag=N"
    [s] = samples_of(message(head("2051") + f"CP=&&{cp}&&"), CHINA, RECEIVED)
    assert (s.min, s.value, s.max, s.flag, s.normal) == (30.1, 35.5, 40.0, "N", True)


@pytest.mark.parametrize(
    ("flag_field", "packet_flag", "normal"),
    [("N", "5", True), ("M", "5", False), ("C", "5", False), ("D", "5", False),
     (None, "5", True), ("N", None, True), ("3", None, True), ("2", None, False),
     ("3", "5", False)],
)  # fmt: skip
def test_normal_by_the_edition_s_flags(
    flag_field: str | None, packet_flag: str | None, normal: bool
) -> None:
    flag = f",a34004-Flag={flag_field}" if flag_field is not None else ""
    data = head("2011", packet_flag) + f"CP=&&DataTime=20261128093000;a34004-Rtd=40{flag}&&"
    [s] = samples_of(message(data), CHINA, RECEIVED)
    assert s.normal is normal


def test_items_without_a_value_and_other_commands_give_nothing() -> None:
    cp = "DataTime=20261128093000;i12001-Info=1;a21026-Rtd=abc;a21026-Flag=N"
    assert samples_of(message(head("2011") + f"CP=&&{cp}&&"), CHINA, RECEIVED) == []
    assert (
        samples_of(message(head("3020") + "CP=&&DataTime=20261128093000&&"), CHINA, RECEIVED) == []
    )


def test_a_missing_data_time_is_the_arrival() -> None:
    [s] = samples_of(message(head("2011") + "CP=&&a21026-Rtd=1&&"), CHINA, RECEIVED)
    assert s.at == RECEIVED.replace(microsecond=0)


@pytest.mark.parametrize(
    "text",
    ["00010101000000", "2026", "20261399250000", "19991231235959", "20261130093000", "x" * 60],
)
def test_a_data_time_that_is_no_plausible_time_is_refused_naming_it(text: str) -> None:
    """Year 0001 once overflowed the UTC conversion (the connection dropped, HTTP 500); a
    broken or far-ahead time must not date the values at arrival either."""
    with pytest.raises(HJ212Error) as raised:
        samples_of(message(head("2011") + f"CP=&&DataTime={text};a21026-Rtd=1&&"), CHINA, RECEIVED)
    assert raised.value.reason is Reason.BAD_DATA_TIME
    assert "DataTime=" in raised.value.message


@pytest.mark.parametrize(
    ("text", "expected"),
    [("20261128093000", datetime(2026, 11, 28, 1, 30, tzinfo=UTC)),
     ("20261128093000123", datetime(2026, 11, 28, 1, 30, tzinfo=UTC)),  # with milliseconds
     ("20260101000000", datetime(2025, 12, 31, 16, 0, tzinfo=UTC)),
     ("00010101000000", None),
     ("2026112809300", None), ("2026112809300x", None), ("20261328093000", None), ("", None),
     (None, None)],
)  # fmt: skip
def test_data_time(text: str | None, expected: datetime | None) -> None:
    assert data_time(text, CHINA) == expected


def test_factor_codes_longer_than_the_column_are_left_out() -> None:
    cp = "DataTime=20261128093000;abcdefghijklmnopq-Rtd=1;a21026-Rtd=2"
    found = samples_of(message(head("2011") + f"CP=&&{cp}&&"), CHINA, RECEIVED)
    assert [s.pollutant for s in found] == ["a21026"]


def test_the_upload_names_the_device_and_keeps_the_raw_segment() -> None:
    data = head("2011") + "CP=&&DataTime=20261128093000;a21026-Rtd=2&&"
    upload = upload_of(message(data), CHINA, RECEIVED, "10.0.0.7:5000")
    assert (upload.mn, upload.password, upload.cn, upload.peer) == (
        "88888880000001", "123456", "2011", "10.0.0.7:5000",
    )  # fmt: skip
    assert upload.raw == data


_field_value = st.one_of(
    st.none(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-5, 5),
    st.sampled_from(["N", "3", "D", "x", "Normal", ""]),
)


@settings(max_examples=300)
@given(
    st.sampled_from(["2011", "2051", "2061", "2031", "1011"]),
    st.sampled_from([None, 0, 4, 5, 8, 200]),
    st.dictionaries(
        st.sampled_from(["a21026", "a34013", "w01018", "i12001", "x" * 17]),
        st.dictionaries(st.sampled_from(["Rtd", "Avg", "Min", "Max", "Flag"]), _field_value),
        max_size=4,
    ),
)
def test_samples_of_equals_its_definition_value_by_value(
    cn: str, flag: int | None, factors: dict[str, dict[str, object]]
) -> None:
    """samples_of() inlines _sample(): same samples for any values a CP can hold."""
    from connectors.hj212.codec import make
    from connectors.hj212.link import _alone
    from connectors.hj212.uploads import INTERVAL_OF_CN, POLLUTANT_MAX, _sample

    packet = make(cn, "MN", flag=flag, cp={"DataTime": "20261128093000", **factors})
    found = samples_of(_alone(packet), CHINA, RECEIVED)
    interval = INTERVAL_OF_CN.get(cn)
    at = data_time("20261128093000", CHINA)
    assert at is not None
    expected = []
    if interval is not None:
        for code, fields in factors.items():
            if len(code) <= POLLUTANT_MAX:
                sample = _sample(code, fields, interval, at, packet.version)
                if sample is not None:
                    expected.append(sample)
    assert found == expected
    assert [type(s) for s in found] == [type(s) for s in expected]
