"""HJ 633 air quality index: each edition's table at every breakpoint edge, the special rules,
rounding, categories, primary pollutants, the edition switch and the daily-data validity rules.

The breakpoint tables are typed here again from ../shared/notes/hj212.md section 7, so that a
typo in the module's tables fails a test instead of being compared with itself.
"""

from __future__ import annotations

import math
from datetime import date
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.airquality.aqi import (
    CATEGORIES,
    EDITIONS,
    FACTOR_CODES,
    HJ633_2012,
    HJ633_2026,
    MIN_HOURS_24H,
    Edition,
    Indicator,
    Pollutant,
    air_quality,
    air_standard_for,
    category_for,
    daily_air_quality,
    daily_concentrations,
    default_air_limits,
    edition_for,
    iaqi,
    max_1h,
    max_8h,
    mean_24h,
    moving_8h,
    pollutant_of,
    primary_pollutants,
    round_concentration,
)

STEPS = (0, 50, 100, 150, 200, 300, 400, 500)

# HJ 633-2012 Table 1 (notes 7.1); None: no breakpoint (the special rules apply above 800).
TABLE_2012 = {
    "SO2_24h": (0, 50, 150, 475, 800, 1600, 2100, 2620),
    "SO2_1h": (0, 150, 500, 650, 800, None, None, None),
    "NO2_24h": (0, 40, 80, 180, 280, 565, 750, 940),
    "NO2_1h": (0, 100, 200, 700, 1200, 2340, 3090, 3840),
    "PM10_24h": (0, 50, 150, 250, 350, 420, 500, 600),
    "CO_24h": (0, 2, 4, 14, 24, 36, 48, 60),
    "CO_1h": (0, 5, 10, 35, 60, 90, 120, 150),
    "O3_1h": (0, 160, 200, 300, 400, 800, 1000, 1200),
    "O3_8h": (0, 100, 160, 215, 265, 800, None, None),
    "PM2.5_24h": (0, 35, 75, 115, 150, 250, 350, 500),
}
# HJ 633-2026 (notes 7.3): new PM10 and PM2.5 columns, the 1-hour PM values read against them.
PM10_2026 = (0, 50, 120, 250, 350, 420, 500, 600)
PM25_2026 = (0, 35, 60, 115, 150, 250, 350, 500)
TABLE_2026 = {
    **TABLE_2012,
    "PM10_24h": PM10_2026,
    "PM2.5_24h": PM25_2026,
    "PM10_1h": PM10_2026,
    "PM2.5_1h": PM25_2026,
}
TABLES = {"HJ 633-2012": TABLE_2012, "HJ 633-2026": TABLE_2026}
BY_NAME = {ed.standard: ed for ed in EDITIONS}


def formula(column: tuple[int | None, ...], c: Fraction) -> int:
    """HJ 633 formula (1), rounded up: an independent re-statement for the expected values."""
    for i in range(1, len(column)):
        lo, hi = column[i - 1], column[i]
        if hi is not None and lo is not None and lo <= c <= hi:
            return math.ceil(Fraction(STEPS[i] - STEPS[i - 1], hi - lo) * (c - lo) + STEPS[i - 1])
    raise AssertionError(f"{c} outside {column}")


def test_module_tables_equal_the_notes() -> None:
    assert dict(HJ633_2012.breakpoints) == {Indicator(k): v for k, v in TABLE_2012.items()}
    assert dict(HJ633_2026.breakpoints) == {Indicator(k): v for k, v in TABLE_2026.items()}


# --- every breakpoint edge, both sides --------------------------------------------------------


def edges_2012() -> list[tuple[str, str, float, int | None]]:
    """HJ 633-2012 uses concentrations as given: 0.01 below an edge the IAQI (rounded up) is the
    edge's IAQI, 0.01 above it is one more (every slope is below 100 IAQI per unit)."""
    cases: list[tuple[str, str, float, int | None]] = []
    for name, column in TABLE_2012.items():
        defined = [(i, bp) for i, bp in enumerate(column) if bp is not None]
        top = defined[-1][0]
        for i, bp in defined:
            cases.append((name, f"at {bp}", bp, STEPS[i]))
            if i > 0:
                cases.append((name, f"just below {bp}", bp - 0.01, STEPS[i]))
            if i < top:
                cases.append((name, f"just above {bp}", bp + 0.01, STEPS[i] + 1))
            else:  # above the column's top: the special rules, or the top of the scale
                special = name in ("SO2_1h", "O3_8h")
                cases.append((name, f"just above top {bp}", bp + 0.01, None if special else 500))
    return cases


@pytest.mark.parametrize(("indicator", "where", "concentration", "expected"), edges_2012())
def test_hj633_2012_every_edge(
    indicator: str, where: str, concentration: float, expected: int | None
) -> None:
    assert iaqi(indicator, concentration, HJ633_2012) == expected, where


def edges_2026() -> list[tuple[str, str, float, int]]:
    """HJ 633-2026 rounds concentrations first (integers, CO 0.1), so the nearest concentrations
    on either side of an edge are one rounding unit away; 0.04 away still rounds onto the edge."""
    cases: list[tuple[str, str, float, int]] = []
    for name, column in TABLE_2026.items():
        unit = Fraction(1, 10) if name.startswith("CO") else Fraction(1)
        defined = [(i, bp) for i, bp in enumerate(column) if bp is not None]
        top = defined[-1][0]
        for i, bp in defined:
            cases.append((name, f"at {bp}", bp, STEPS[i]))
            cases.append((name, f"{bp} + 0.04 rounds onto it", bp + 0.04, STEPS[i]))
            if i > 0:
                below = Fraction(bp) - unit
                cases.append((name, f"one unit below {bp}", float(below), formula(column, below)))
                cases.append((name, f"{bp} - 0.04 rounds onto it", bp - 0.04, STEPS[i]))
            if i < top:
                above = Fraction(bp) + unit
                cases.append((name, f"one unit above {bp}", float(above), formula(column, above)))
            else:
                fixed = {"SO2_1h": 200, "O3_8h": 300}.get(name, 500)
                cases.append((name, f"one unit above top {bp}", float(bp + unit), fixed))
    return cases


@pytest.mark.parametrize(("indicator", "where", "concentration", "expected"), edges_2026())
def test_hj633_2026_every_edge(
    indicator: str, where: str, concentration: float, expected: int
) -> None:
    assert iaqi(indicator, concentration, HJ633_2026) == expected, where


@pytest.mark.parametrize("indicator", sorted(TABLE_2026))
def test_hj633_2026_one_unit_off_an_edge_is_on_its_side(indicator: str) -> None:
    """One rounding unit below an edge the IAQI is at most the edge's, one unit above it more."""
    column = TABLE_2026[indicator]
    unit = 0.1 if indicator.startswith("CO") else 1
    for i, bp in enumerate(column[1:-1], start=1):
        if bp is None or column[i + 1] is None:
            continue
        below = iaqi(indicator, bp - unit, HJ633_2026)
        above = iaqi(indicator, bp + unit, HJ633_2026)
        assert below is not None and above is not None
        assert below <= STEPS[i] < above, (bp, below, above)


# --- rounding -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("indicator", "concentration", "edition", "expected"),
    [
        # IAQI always rounded up ("全部进位取整数").
        ("PM2.5_24h", 35.01, HJ633_2012, 51),
        ("PM2.5_24h", 1, HJ633_2012, 2),  # 1.43 -> 2
        ("PM10_24h", 151, HJ633_2012, 101),  # 100.5 -> 101
        ("NO2_24h", 1, HJ633_2012, 2),  # 1.25 -> 2
        # 0.2 mg/m3 is 0.2, not the binary float just above it (IAQI exactly 5, not 6).
        ("CO_24h", 0.2, HJ633_2012, 5),
        ("CO_24h", 2.05, HJ633_2012, 52),  # 51.25 -> 52: no concentration rounding in 2012
        # HJ 633-2026: GB/T 8170 rounding of the concentration first (a bare 5 rounds to even).
        ("CO_24h", 2.05, HJ633_2026, 50),  # 2.05 -> 2.0
        ("CO_24h", 2.15, HJ633_2026, 55),  # 2.15 -> 2.2
        ("CO_24h", 2.051, HJ633_2026, 53),  # 2.051 -> 2.1 (5 followed by a non-zero digit)
        ("PM2.5_24h", 60.5, HJ633_2026, 100),  # 60.5 -> 60
        ("PM2.5_24h", 61.5, HJ633_2026, 102),  # -> 62: 100 + 50/55*2 = 101.8 -> 102
        ("PM2.5_24h", 35.5, HJ633_2026, 52),  # 35.5 -> 36: 52
        ("O3_8h", 160.49, HJ633_2026, 100),
        ("O3_8h", 160.5, HJ633_2026, 100),  # -> 160 (even)
        ("O3_8h", 161.5, HJ633_2026, 102),  # -> 162: 100 + 50/55*2 = 101.8 -> 102
    ],
)
def test_rounding(indicator: str, concentration: float, edition: Edition, expected: int) -> None:
    column = dict(edition.breakpoints)[Indicator(indicator)]
    used = Fraction(str(round_concentration(indicator, concentration, edition)))
    assert iaqi(indicator, concentration, edition) == expected == formula(column, used)


def test_concentration_as_used_is_reported() -> None:
    result = air_quality(date(2026, 3, 1), {"CO_24h": 2.15, "PM2.5_24h": 60.5})
    assert result is not None
    used = {e.indicator: e.concentration for e in result.iaqi}
    assert used == {Indicator.CO_24H: 2.2, Indicator.PM25_24H: 60.0}


# --- special rules --------------------------------------------------------------------------


def test_2012_so2_1h_above_800_is_reported_from_the_24_hour_value() -> None:
    day = date(2025, 6, 1)
    assert iaqi("SO2_1h", 800, HJ633_2012) == 200
    assert iaqi("SO2_1h", 800.5, HJ633_2012) is None
    result = air_quality(day, {"SO2_1h": 900, "NO2_1h": 100}, so2_24h=150)
    assert result is not None
    so2 = [e for e in result.iaqi if e.pollutant is Pollutant.SO2]
    assert [(e.indicator, e.value, e.concentration) for e in so2] == [
        (Indicator.SO2_24H, 100, 150.0)
    ]
    assert result.aqi == 100 and result.primary_pollutants == (Pollutant.SO2,)
    assert any("24-hour" in n for n in result.notes)


def test_2012_so2_1h_above_800_without_a_24_hour_value_is_missing() -> None:
    result = air_quality(date(2025, 6, 1), {"SO2_1h": 900, "NO2_1h": 100})
    assert result is not None
    assert result.aqi == 50 and result.primary_pollutants == ()
    assert [m[0] for m in result.missing] == [Indicator.SO2_1H]


def test_2012_so2_1h_above_800_with_so2_24h_as_indicator_counts_it_once() -> None:
    result = air_quality(date(2025, 6, 1), {"SO2_1h": 900, "SO2_24h": 475})
    assert result is not None
    assert [(e.indicator, e.value) for e in result.iaqi] == [(Indicator.SO2_24H, 150)]


def test_2026_so2_1h_above_800_is_200() -> None:
    assert iaqi("SO2_1h", 800.4, HJ633_2026) == 200  # rounds to 800: the table
    assert iaqi("SO2_1h", 801, HJ633_2026) == 200
    assert iaqi("SO2_1h", 5000, HJ633_2026) == 200
    result = air_quality(date(2026, 3, 1), {"SO2_1h": 5000}, so2_24h=2000)
    assert result is not None
    assert [(e.indicator, e.value) for e in result.iaqi] == [(Indicator.SO2_1H, 200)]
    assert result.notes == ("SO2_1h > 800: IAQI 200",)


def test_2012_o3_8h_above_800_is_reported_from_the_1_hour_value() -> None:
    assert iaqi("O3_8h", 800, HJ633_2012) == 300
    assert iaqi("O3_8h", 801, HJ633_2012) is None
    result = air_quality(date(2025, 7, 1), {"O3_8h": 850, "O3_1h": 1000, "PM2.5_24h": 10})
    assert result is not None
    assert [(e.indicator, e.value) for e in result.iaqi if e.pollutant is Pollutant.O3] == [
        (Indicator.O3_1H, 400)
    ]
    assert result.aqi == 400 and result.primary_pollutants == (Pollutant.O3,)
    assert result.category.key == "SEVERELY_POLLUTED"


def test_2012_o3_8h_above_800_without_1_hour_value_is_missing() -> None:
    result = air_quality(date(2025, 7, 1), {"O3_8h": 850, "PM2.5_24h": 10})
    assert result is not None
    assert result.aqi == 15
    assert [m[0] for m in result.missing] == [Indicator.O3_8H]


def test_2026_o3_8h_above_800_is_300() -> None:
    assert iaqi("O3_8h", 801, HJ633_2026) == 300
    assert iaqi("O3_8h", 2000, HJ633_2026) == 300
    result = air_quality(date(2026, 7, 1), {"O3_8h": 1500})
    assert result is not None and result.aqi == 300
    assert result.category.key == "HEAVILY_POLLUTED"


@pytest.mark.parametrize("edition", EDITIONS, ids=lambda e: e.standard)
@pytest.mark.parametrize(
    ("indicator", "top"),
    [("SO2_24h", 2620), ("NO2_1h", 3840), ("PM10_24h", 600), ("CO_24h", 60), ("O3_1h", 1200)],
)
def test_beyond_the_table_the_index_is_500(edition: Edition, indicator: str, top: int) -> None:
    assert iaqi(indicator, top * 3, edition) == 500
    result = air_quality(edition.effective, {indicator: top * 3})
    assert result is not None and result.aqi == 500
    assert result.notes == (f"{indicator} above the table's top: IAQI 500",)


def test_indicators_of_another_edition_are_refused() -> None:
    with pytest.raises(ValueError, match=r"PM2\.5_1h is not an indicator of HJ 633-2012"):
        iaqi("PM2.5_1h", 50, HJ633_2012)
    with pytest.raises(ValueError, match="PM10_1h"):
        air_quality(date(2025, 1, 1), {"PM10_1h": None})
    assert iaqi("PM2.5_1h", 60, HJ633_2026) == 100


@pytest.mark.parametrize("bad", [-1, float("inf"), float("-inf"), "12", True])
def test_bad_concentrations_name_the_indicator(bad: object) -> None:
    with pytest.raises(ValueError, match="PM10_24h"):
        iaqi("PM10_24h", bad, HJ633_2026)  # type: ignore[arg-type]


# --- categories, colours, primary pollutants ------------------------------------------------


@pytest.mark.parametrize(
    ("aqi", "level", "level_name", "name", "key", "colour", "hex_"),
    [
        (0, 1, "一级", "优", "EXCELLENT", "绿色", "#00E400"),
        (50, 1, "一级", "优", "EXCELLENT", "绿色", "#00E400"),
        (51, 2, "二级", "良", "GOOD", "黄色", "#FFFF00"),
        (100, 2, "二级", "良", "GOOD", "黄色", "#FFFF00"),
        (101, 3, "三级", "轻度污染", "LIGHTLY_POLLUTED", "橙色", "#FF7E00"),
        (150, 3, "三级", "轻度污染", "LIGHTLY_POLLUTED", "橙色", "#FF7E00"),
        (151, 4, "四级", "中度污染", "MODERATELY_POLLUTED", "红色", "#FF0000"),
        (200, 4, "四级", "中度污染", "MODERATELY_POLLUTED", "红色", "#FF0000"),
        (201, 5, "五级", "重度污染", "HEAVILY_POLLUTED", "紫色", "#99004C"),
        (300, 5, "五级", "重度污染", "HEAVILY_POLLUTED", "紫色", "#99004C"),
        (301, 6, "六级", "严重污染", "SEVERELY_POLLUTED", "褐红色", "#7E0023"),
        (500, 6, "六级", "严重污染", "SEVERELY_POLLUTED", "褐红色", "#7E0023"),
    ],
)
def test_categories_and_colours(
    aqi: int, level: int, level_name: str, name: str, key: str, colour: str, hex_: str
) -> None:
    cat = category_for(aqi)
    assert (cat.level, cat.level_name, cat.name, cat.key, cat.colour, cat.hex) == (
        level,
        level_name,
        name,
        key,
        colour,
        hex_,
    )


def test_category_rgb_from_appendix_a() -> None:
    assert [c.rgb for c in CATEGORIES] == [
        (0, 228, 0),
        (255, 255, 0),
        (255, 126, 0),
        (255, 0, 0),
        (153, 0, 76),
        (126, 0, 35),
    ]


@pytest.mark.parametrize("bad", [-1, 50.5, True])
def test_category_needs_an_integer(bad: object) -> None:
    with pytest.raises(ValueError, match="aqi"):
        category_for(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("concentrations", "aqi", "primary"),
    [
        ({"PM2.5_24h": 35, "PM10_24h": 50}, 50, ()),  # AQI 50: no primary pollutant
        ({"PM2.5_24h": 35.01, "PM10_24h": 50}, 51, (Pollutant.PM25,)),
        ({"PM2.5_24h": 75, "PM10_24h": 150, "NO2_24h": 80}, 100, ("NO2", "PM10", "PM2.5")),
        ({"PM2.5_24h": 75, "PM10_24h": 148}, 100, (Pollutant.PM25,)),
        ({"O3_1h": 200, "O3_8h": 160, "CO_24h": 1}, 100, (Pollutant.O3,)),  # one O3, two columns
    ],
)
def test_primary_pollutants(
    concentrations: dict[str, float], aqi: int, primary: tuple[str, ...]
) -> None:
    result = air_quality(date(2025, 1, 1), concentrations)
    assert result is not None
    assert result.aqi == aqi
    assert result.primary_pollutants == tuple(Pollutant(p) for p in primary)


def test_no_values_no_air_quality() -> None:
    assert air_quality(date(2026, 5, 1), {}) is None
    assert air_quality(date(2026, 5, 1), {"PM2.5_24h": None}) is None
    assert primary_pollutants([]) == ()


# --- editions -------------------------------------------------------------------------------


def test_edition_switch_on_2026_03_01() -> None:
    assert edition_for(date(2026, 2, 28)) is HJ633_2012
    assert edition_for(date(2026, 3, 1)) is HJ633_2026
    assert edition_for(date(2016, 1, 1)) is HJ633_2012
    assert air_standard_for(date(2026, 2, 28)) == "GB 3095-2012"
    assert air_standard_for(date(2026, 3, 1)) == "GB 3095-2026"
    before = air_quality(date(2026, 2, 28), {"PM2.5_24h": 60, "PM10_24h": 120})
    after = air_quality(date(2026, 3, 1), {"PM2.5_24h": 60, "PM10_24h": 120})
    assert before is not None and after is not None
    # HJ 633-2012: PM2.5 60 is 50 + 50/40*25 = 81.25 -> 82, PM10 120 is 50 + 50/100*70 = 85.
    assert (before.standard, before.aqi) == ("HJ 633-2012", 85)
    assert [e.value for e in before.iaqi] == [85, 82]  # in Table 1's order: PM10 first
    assert before.primary_pollutants == (Pollutant.PM10,)
    assert (after.standard, after.aqi) == ("HJ 633-2026", 100)
    assert after.primary_pollutants == (Pollutant.PM10, Pollutant.PM25)


def test_daily_indicators_per_edition() -> None:
    assert Indicator.O3_1H in HJ633_2012.daily_indicators
    assert Indicator.O3_1H not in HJ633_2026.daily_indicators
    assert len(HJ633_2012.daily_indicators) == 7 and len(HJ633_2026.daily_indicators) == 6


@pytest.mark.parametrize(
    ("day", "pm25", "pm10", "so2", "no2"),
    [
        (date(2026, 2, 28), 75, 150, 150, 80),
        (date(2026, 3, 1), 60, 120, 150, 80),
        (date(2030, 12, 31), 60, 120, 150, 80),
        (date(2031, 1, 1), 50, 100, 50, 50),
    ],
)
def test_default_air_limits(day: date, pm25: int, pm10: int, so2: int, no2: int) -> None:
    assert default_air_limits(day) == {
        "a34004": pm25,
        "a34002": pm10,
        "a21026": so2,
        "a21004": no2,
        "a21005": 4,
    }


def test_factor_codes() -> None:
    assert dict(FACTOR_CODES) == {
        "a34004": Pollutant.PM25,
        "a34002": Pollutant.PM10,
        "a21026": Pollutant.SO2,
        "a21004": Pollutant.NO2,
        "a21005": Pollutant.CO,
        "a05024": Pollutant.O3,
    }
    assert pollutant_of("a34004") is Pollutant.PM25
    assert pollutant_of("PM2.5") is Pollutant.PM25
    with pytest.raises(ValueError, match="a21002"):
        pollutant_of("a21002")  # NOx is not an AQI pollutant


# --- daily values from hourly data ------------------------------------------------------------


def hours(n_valid: int, value: float = 50.0) -> list[float | None]:
    return [value if h < n_valid else None for h in range(24)]


@pytest.mark.parametrize(("n", "valid"), [(24, True), (23, True), (20, True), (19, False)])
def test_24_hour_mean_needs_20_hours(n: int, valid: bool) -> None:
    day = [float(h) if h < n else None for h in range(24)]
    mean, why = mean_24h(day)
    if valid:
        assert mean == pytest.approx(sum(range(n)) / n) and why is None
    else:
        assert mean is None and why == f"{n} valid hours, at least {MIN_HOURS_24H} needed"


def test_eight_hour_windows_need_6_hours() -> None:
    day: list[float | None] = [100.0] * 24
    day[0] = day[1] = None  # window 0 (hours 0-7) keeps 6 hours: valid, mean of those
    day[2] = 40.0
    means = moving_8h(day)
    assert len(means) == 17
    assert means[0] == pytest.approx((40 + 5 * 100) / 6)
    day[3] = None  # now 5 valid hours in window 0
    assert moving_8h(day)[0] is None


def o3_day(invalid_from_start: int, value: float) -> list[float | None]:
    return [None if h < invalid_from_start else value for h in range(24)]


@pytest.mark.parametrize(
    ("invalid_hours", "value", "windows", "valid"),
    [
        (0, 100.0, 17, True),
        (5, 100.0, 14, True),  # windows 0-2 have < 6 hours: 14 valid 8-hour means
        (6, 100.0, 13, False),  # 13 valid means, maximum within the limit
        (6, 161.0, 13, True),  # 13 valid means, but the maximum already exceeds 160
        (6, 160.0, 13, False),
        (24, 100.0, 0, False),
    ],
)
def test_o3_daily_max_8h_needs_14_windows(
    invalid_hours: int, value: float, windows: int, valid: bool
) -> None:
    day = o3_day(invalid_hours, value)
    assert sum(m is not None for m in moving_8h(day)) == windows
    top, why = max_8h(day)
    assert (top == value) if valid else (top is None and f"{windows} valid 8-hour" in str(why))


def test_o3_daily_max_8h_is_the_highest_window() -> None:
    day: list[float | None] = [50.0] * 24
    for h in range(12, 20):
        day[h] = 200.0
    assert max_8h(day) == (200.0, None)


@pytest.mark.parametrize(
    ("n", "value", "valid"), [(20, 150.0, True), (19, 150.0, False), (19, 250.0, True)]
)
def test_o3_daily_max_1h(n: int, value: float, valid: bool) -> None:
    top, _ = max_1h(hours(n, value))
    assert (top == value) if valid else top is None


def full_day(**values: float) -> dict[str, dict[int, float | None]]:
    return {code: dict.fromkeys(range(24), v) for code, v in values.items()}


def test_daily_concentrations_by_factor_code_and_edition() -> None:
    hourly = full_day(a34004=80.0, a34002=100.0, a21026=10.0, a21004=30.0, a21005=0.8)
    hourly["a05024"] = {h: 100.0 + h for h in range(24)}
    before = daily_concentrations(date(2026, 2, 28), hourly)
    assert before.standard == "HJ 633-2012"
    assert before.values[Indicator.O3_1H] == 123.0
    assert before.values[Indicator.O3_8H] == pytest.approx(119.5)  # hours 16-23
    assert before.values[Indicator.PM25_24H] == 80.0 and before.invalid == {}
    after = daily_concentrations(date(2026, 3, 1), hourly)
    assert Indicator.O3_1H not in after.values and len(after.values) == 6
    assert after.standard == "HJ 633-2026"


def test_daily_air_quality_end_to_end() -> None:
    hourly = full_day(a34004=80.0, a34002=100.0)
    hourly["a21026"] = {h: 10.0 for h in range(19)}  # 19 hours: no SO2 value
    hourly["a05024"] = {h: float("nan") for h in range(24)}
    result = daily_air_quality(date(2026, 3, 1), hourly)
    assert result is not None
    assert result.standard == "HJ 633-2026"
    # PM2.5 80: 100 + 50/55*20 = 118.2 -> 119; PM10 100: 50 + 50/70*50 = 85.7 -> 86.
    assert [(e.indicator, e.value) for e in result.iaqi] == [
        (Indicator.PM10_24H, 86),
        (Indicator.PM25_24H, 119),
    ]
    assert result.aqi == 119
    assert result.primary_pollutants == (Pollutant.PM25,)
    assert dict(result.missing) == {
        Indicator.SO2_24H: "19 valid hours, at least 20 needed",
        Indicator.NO2_24H: "no data",
        Indicator.CO_24H: "no data",
        Indicator.O3_8H: "0 valid 8-hour means, at least 14 needed",
    }
    assert result.category.key == "LIGHTLY_POLLUTED"


def test_daily_air_quality_without_data() -> None:
    assert daily_air_quality(date(2026, 3, 1), {}) is None
    assert daily_air_quality(date(2026, 3, 1), {"PM2.5": {0: 10.0}}) is None


@pytest.mark.parametrize(
    ("hourly", "message"),
    [
        ({"a34004": {24: 10.0}}, "hour must be an integer 0..23"),
        ({"a34004": {-1: 10.0}}, "hour must be an integer 0..23"),
        ({"a34004": {3: -2.0}}, "PM2.5 hour 3"),
        ({"a34004": {3: float("inf")}}, "PM2.5 hour 3"),
        ({"a21002": {3: 1.0}}, "a21002"),
        ({"a34004": {}, "PM2.5": {}}, "given twice"),
    ],
)
def test_bad_hourly_input_names_the_field(hourly: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        daily_concentrations(date(2026, 3, 1), hourly)


# --- properties -------------------------------------------------------------------------------

EDITION = st.sampled_from(EDITIONS)
CONC = st.floats(min_value=0, max_value=5000, allow_nan=False)


@given(EDITION, st.data(), CONC, CONC)
def test_iaqi_is_monotone(edition: Edition, data: st.DataObject, a: float, b: float) -> None:
    indicator = data.draw(st.sampled_from(sorted(edition.breakpoints)))
    lo, hi = min(a, b), max(a, b)
    if edition is HJ633_2012 and indicator in (Indicator.SO2_1H, Indicator.O3_8H):
        lo, hi = min(lo, 800), min(hi, 800)  # above 800 another averaging time is reported
    if indicator.pollutant is Pollutant.CO:
        lo, hi = lo / 20, hi / 20
    first, second = iaqi(indicator, lo, edition), iaqi(indicator, hi, edition)
    assert first is not None and second is not None
    assert 0 <= first <= second <= 500


def daily_inputs(edition: Edition) -> st.SearchStrategy[dict[Indicator, float]]:
    def conc(ind: Indicator) -> st.SearchStrategy[float]:
        top = 80.0 if ind.pollutant is Pollutant.CO else 1500.0
        return st.floats(min_value=0, max_value=top, allow_nan=False)

    return st.fixed_dictionaries({}, optional={ind: conc(ind) for ind in edition.daily_indicators})


@given(st.data(), st.dates(min_value=date(2016, 1, 1), max_value=date(2035, 12, 31)))
def test_aqi_is_the_max_iaqi_and_primary_only_above_50(data: st.DataObject, day: date) -> None:
    edition = edition_for(day)
    concentrations = data.draw(daily_inputs(edition))
    result = air_quality(day, concentrations)
    if result is None:
        assert not concentrations or set(concentrations) == {Indicator.O3_8H}
        return
    assert result.standard == edition.standard
    assert result.aqi == max(e.value for e in result.iaqi)
    assert result.category == category_for(result.aqi)
    if result.aqi <= 50:
        assert result.primary_pollutants == ()
    else:
        assert result.primary_pollutants
        for pollutant in result.primary_pollutants:
            assert any(e.pollutant is pollutant and e.value == result.aqi for e in result.iaqi)
        others = [e for e in result.iaqi if e.pollutant not in result.primary_pollutants]
        assert all(e.value < result.aqi for e in others)
