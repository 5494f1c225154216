"""Air station alarms by HJ 633 (hub.airquality.alarms): the index a mean has, the threshold a
category sets, the setting that chooses it."""

from __future__ import annotations

from datetime import date

import pytest
from pydantic import ValidationError

from hub.airquality.alarms import alarm_index, alarm_threshold, category_named
from hub.config import Settings

Y2026 = date(2026, 12, 4)  # HJ 633-2026
Y2025 = date(2025, 12, 4)  # HJ 633-2012


@pytest.mark.parametrize(
    ("name", "threshold"),
    [
        ("良", 50),
        ("轻度污染", 100),
        ("中度污染", 150),
        ("MODERATELY_POLLUTED", 150),
        ("重度污染", 200),
    ],
)
def test_a_category_sets_the_iaqi_an_alarm_is_above(name: str, threshold: int) -> None:
    assert alarm_threshold(name) == threshold


@pytest.mark.parametrize(
    ("code", "daily", "value", "day", "expected"),
    [
        ("a34004", False, 130.0, Y2026, 172),  # PM2.5 hourly, read on the 24-hour column
        ("a34004", False, 50.0, Y2026, 80),  # 良
        ("a34004", True, 75.0, Y2025, 100),  # 2012: IAQI 100 at 75
        ("a34004", False, 75.0, Y2025, 100),  # 2012 has no 1-hour column: the 24-hour one
        ("a34004", True, 60.0, Y2026, 100),  # 2026: IAQI 100 at 60
        ("a21026", False, 900.0, Y2025, 200),  # SO2 1h above 800: 200
        ("a21026", False, 500.0, Y2026, 100),  # SO2 1h column
        ("a05024", True, 100.0, Y2026, None),  # O3 has no 24-hour mean index
        ("a34013", False, 100.0, Y2026, None),  # smoke is no AQI pollutant
    ],
)
def test_the_index_of_a_mean(
    code: str, daily: bool, value: float, day: date, expected: int | None
) -> None:
    assert alarm_index(code, daily, value, day) == expected


def test_an_unknown_category_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match="中度污染"):
        category_named("很差")


def test_the_setting_takes_a_name_or_key_and_refuses_others() -> None:
    assert Settings(air_alarm_category="HEAVILY_POLLUTED").air_alarm_category == "重度污染"
    with pytest.raises(ValidationError):
        Settings(air_alarm_category="很差")
