"""China's air quality index (AQI) by HJ 633, edition by date, from concentrations or hourly data.

Pure: no I/O, no clock, no database. The tables below are the single source of truth; they follow
../shared/notes/hj212.md section 7 (HJ 633-2012 Table 1, Table 2 and Appendix A; HJ 633-2026 and
GB 3095-2026 as checked against the page images), and the data-validity rules of GB 3095-2012
Table 4 with HJ 663-2013 for the ozone daily maximum 8-hour mean. docs/airquality.md has the
sources and the points the notes could not settle.

Units: µg/m³, CO mg/m³. Hourly data of a day map hour h (0..23) to the mean over [h:00, h+1:00);
None or NaN marks an hour without a valid value.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction
from types import MappingProxyType


class Pollutant(enum.StrEnum):
    SO2 = "SO2"
    NO2 = "NO2"
    PM10 = "PM10"
    CO = "CO"
    O3 = "O3"
    PM25 = "PM2.5"


# HJ 212-2017 Appendix B factor codes; O3 is not in HJ 212-2017, a05024 is what devices send.
FACTOR_CODES: Mapping[str, Pollutant] = MappingProxyType(
    {
        "a21026": Pollutant.SO2,
        "a21004": Pollutant.NO2,
        "a34002": Pollutant.PM10,
        "a21005": Pollutant.CO,
        "a05024": Pollutant.O3,
        "a34004": Pollutant.PM25,
    }
)
FACTOR_OF: Mapping[Pollutant, str] = MappingProxyType({p: c for c, p in FACTOR_CODES.items()})


def pollutant_of(key: str) -> Pollutant:
    """The pollutant named by an HJ 212 factor code ("a34004") or an AQI name ("PM2.5")."""
    if key in FACTOR_CODES:
        return FACTOR_CODES[key]
    try:
        return Pollutant(key)
    except ValueError:
        known = ", ".join(f"{c} ({p})" for c, p in FACTOR_CODES.items())
        raise ValueError(f"{key!r} is not an AQI pollutant; known: {known}") from None


class Indicator(enum.StrEnum):
    """A pollutant over an averaging time: one column of HJ 633 Table 1."""

    SO2_24H = "SO2_24h"
    SO2_1H = "SO2_1h"
    NO2_24H = "NO2_24h"
    NO2_1H = "NO2_1h"
    PM10_24H = "PM10_24h"
    PM10_1H = "PM10_1h"  # HJ 633-2026 real-time report only: read against the 24-hour column
    CO_24H = "CO_24h"
    CO_1H = "CO_1h"
    O3_1H = "O3_1h"
    O3_8H = "O3_8h"
    PM25_24H = "PM2.5_24h"
    PM25_1H = "PM2.5_1h"  # HJ 633-2026 real-time report only: read against the 24-hour column

    @property
    def pollutant(self) -> Pollutant:
        return Pollutant(self.value.rsplit("_", 1)[0])


# The IAQI rows of HJ 633 Table 1; every column gives the concentration at each of them.
IAQI_STEPS: tuple[int, ...] = (0, 50, 100, 150, 200, 300, 400, 500)
IAQI_MAX = IAQI_STEPS[-1]

Column = tuple[int | None, ...]  # None: the standard gives no breakpoint at that IAQI

_TABLE_2012: dict[Indicator, Column] = {
    Indicator.SO2_24H: (0, 50, 150, 475, 800, 1600, 2100, 2620),
    Indicator.SO2_1H: (0, 150, 500, 650, 800, None, None, None),
    Indicator.NO2_24H: (0, 40, 80, 180, 280, 565, 750, 940),
    Indicator.NO2_1H: (0, 100, 200, 700, 1200, 2340, 3090, 3840),
    Indicator.PM10_24H: (0, 50, 150, 250, 350, 420, 500, 600),
    Indicator.CO_24H: (0, 2, 4, 14, 24, 36, 48, 60),
    Indicator.CO_1H: (0, 5, 10, 35, 60, 90, 120, 150),
    Indicator.O3_1H: (0, 160, 200, 300, 400, 800, 1000, 1200),
    Indicator.O3_8H: (0, 100, 160, 215, 265, 800, None, None),
    Indicator.PM25_24H: (0, 35, 75, 115, 150, 250, 350, 500),
}

# HJ 633-2026 changes only the particulate columns (IAQI 100 at GB 3095-2026's 120 and 60).
_PM10_2026: Column = (0, 50, 120, 250, 350, 420, 500, 600)
_PM25_2026: Column = (0, 35, 60, 115, 150, 250, 350, 500)
_TABLE_2026: dict[Indicator, Column] = {
    **_TABLE_2012,
    Indicator.PM10_24H: _PM10_2026,
    Indicator.PM25_24H: _PM25_2026,
    Indicator.PM10_1H: _PM10_2026,
    Indicator.PM25_1H: _PM25_2026,
}

# The column top beyond which the special rules apply (SO2 1h and O3 8h: 800 µg/m³).
SPECIAL_TOP = 800


@dataclass(frozen=True)
class Edition:
    """One edition of HJ 633 and the GB 3095 edition it goes with."""

    standard: str  # "HJ 633-2026": what the airQuality query reports
    effective: date
    air_standard: str  # the GB 3095 edition whose limits IAQI 100 stands for
    breakpoints: Mapping[Indicator, Column] = field(compare=False, repr=False)
    daily_indicators: tuple[Indicator, ...]
    # IAQI when SO2 1h > 800 / O3 8h > 800; None: report the other averaging time instead.
    so2_1h_above_800: int | None
    o3_8h_above_800: int | None
    rounds_concentrations: bool  # GB/T 8170 rounding of concentrations before the IAQI

    def column(self, indicator: Indicator | str) -> Column:
        ind = Indicator(indicator)
        if ind not in self.breakpoints:
            raise ValueError(f"{ind} is not an indicator of {self.standard}")
        return self.breakpoints[ind]


HJ633_2012 = Edition(
    standard="HJ 633-2012",
    effective=date(2016, 1, 1),
    air_standard="GB 3095-2012",
    breakpoints=MappingProxyType(_TABLE_2012),
    daily_indicators=(
        Indicator.SO2_24H,
        Indicator.NO2_24H,
        Indicator.PM10_24H,
        Indicator.CO_24H,
        Indicator.O3_1H,
        Indicator.O3_8H,
        Indicator.PM25_24H,
    ),
    so2_1h_above_800=None,  # reported from the 24-hour value
    o3_8h_above_800=None,  # reported from the 1-hour value
    rounds_concentrations=False,
)

HJ633_2026 = Edition(
    standard="HJ 633-2026",
    effective=date(2026, 3, 1),
    air_standard="GB 3095-2026",
    breakpoints=MappingProxyType(_TABLE_2026),
    daily_indicators=(
        Indicator.SO2_24H,
        Indicator.NO2_24H,
        Indicator.PM10_24H,
        Indicator.CO_24H,
        Indicator.O3_8H,
        Indicator.PM25_24H,
    ),
    so2_1h_above_800=200,
    o3_8h_above_800=300,
    rounds_concentrations=True,
)

EDITIONS: tuple[Edition, ...] = (HJ633_2012, HJ633_2026)


def edition_for(day: date) -> Edition:
    """The edition in force on a day: HJ 633-2026 from 2026-03-01, HJ 633-2012 before."""
    return HJ633_2026 if day >= HJ633_2026.effective else HJ633_2012


# --- concentrations --------------------------------------------------------------------------


def _decimal(concentration: float, what: str) -> Decimal:
    """The concentration as the decimal it prints as, so 0.2 mg/m³ is 0.2 and not 0.2000...01."""
    if isinstance(concentration, bool) or not isinstance(concentration, int | float | Decimal):
        raise ValueError(f"{what}: concentration must be a number, got {concentration!r}")
    value = Decimal(str(concentration))
    if not value.is_finite() or value < 0:
        raise ValueError(f"{what}: concentration must be finite and >= 0, got {concentration!r}")
    return value


def round_concentration(
    indicator: Indicator | str, concentration: float, edition: Edition
) -> float:
    """The concentration the IAQI is computed from.

    HJ 633-2026 rounds by GB/T 8170 (a 5 followed by nothing rounds to even) to integers, CO to
    one decimal; HJ 633-2012 uses the concentration as given.
    """
    ind = Indicator(indicator)
    value = _decimal(concentration, str(ind))
    if not edition.rounds_concentrations:
        return float(value)
    quantum = Decimal("0.1") if ind.pollutant is Pollutant.CO else Decimal(1)
    return float(value.quantize(quantum, rounding=ROUND_HALF_EVEN))


def _lookup(
    ind: Indicator, concentration: float, edition: Edition
) -> tuple[int | None, str | None]:
    """(IAQI rounded up, note on a special rule); IAQI None: report the other averaging time."""
    column = edition.column(ind)
    c = Fraction(_decimal(round_concentration(ind, concentration, edition), str(ind)))
    top = max(i for i, bp in enumerate(column) if bp is not None)
    ceiling = column[top]
    assert ceiling is not None
    if c > ceiling:
        return _above_top(ind, edition, top)
    for i in range(1, top + 1):
        lo, hi = column[i - 1], column[i]
        assert lo is not None and hi is not None
        if c <= hi:
            i_lo, i_hi = IAQI_STEPS[i - 1], IAQI_STEPS[i]
            # Formula (1), then "全部进位取整数": always rounded up.
            return math.ceil(Fraction(i_hi - i_lo, hi - lo) * (c - lo) + i_lo), None
    raise AssertionError("unreachable: c <= column top")


def _above_top(ind: Indicator, edition: Edition, top: int) -> tuple[int | None, str | None]:
    if ind is Indicator.SO2_1H:
        if edition.so2_1h_above_800 is None:
            return None, f"SO2_1h > {SPECIAL_TOP}: SO2 reported from the 24-hour value"
        return edition.so2_1h_above_800, f"SO2_1h > {SPECIAL_TOP}: IAQI {edition.so2_1h_above_800}"
    if ind is Indicator.O3_8H:
        if edition.o3_8h_above_800 is None:
            return None, f"O3_8h > {SPECIAL_TOP}: O3 reported from the 1-hour value"
        return edition.o3_8h_above_800, f"O3_8h > {SPECIAL_TOP}: IAQI {edition.o3_8h_above_800}"
    assert IAQI_STEPS[top] == IAQI_MAX
    # The index scale ends at 500 (the "off the chart" case): report 500, say so.
    return IAQI_MAX, f"{ind} above the table's top: IAQI {IAQI_MAX}"


def iaqi(indicator: Indicator | str, concentration: float, edition: Edition) -> int | None:
    """The individual AQI of one concentration, rounded up to an integer.

    None when the edition reports another averaging time instead (HJ 633-2012: SO2 1h > 800 is
    reported from the 24-hour value, O3 8h > 800 from the 1-hour value). Above the top of a
    column the IAQI is 500, the top of the scale.
    """
    return _lookup(Indicator(indicator), concentration, edition)[0]


# --- categories ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Category:
    """One row of HJ 633 Table 2, with the colour of Appendix A."""

    level: int  # 1..6
    level_name: str  # 一级
    name: str  # 优
    key: str  # EXCELLENT: the enum-like English name
    colour: str  # 绿色
    colour_en: str
    rgb: tuple[int, int, int]
    low: int  # AQI range, inclusive
    high: int | None  # None: no upper bound

    @property
    def hex(self) -> str:
        return "#{:02X}{:02X}{:02X}".format(*self.rgb)


CATEGORIES: tuple[Category, ...] = (
    Category(1, "一级", "优", "EXCELLENT", "绿色", "green", (0, 228, 0), 0, 50),
    Category(2, "二级", "良", "GOOD", "黄色", "yellow", (255, 255, 0), 51, 100),
    Category(3, "三级", "轻度污染", "LIGHTLY_POLLUTED", "橙色", "orange", (255, 126, 0), 101, 150),
    Category(4, "四级", "中度污染", "MODERATELY_POLLUTED", "红色", "red", (255, 0, 0), 151, 200),
    Category(5, "五级", "重度污染", "HEAVILY_POLLUTED", "紫色", "purple", (153, 0, 76), 201, 300),
    Category(
        6, "六级", "严重污染", "SEVERELY_POLLUTED", "褐红色", "maroon", (126, 0, 35), 301, None
    ),
)


def category_for(aqi: int) -> Category:
    """The category of an (integer) AQI."""
    if isinstance(aqi, bool) or not isinstance(aqi, int) or aqi < 0:
        raise ValueError(f"aqi must be an integer >= 0, got {aqi!r}")
    for cat in CATEGORIES:
        if cat.high is None or aqi <= cat.high:
            return cat
    raise AssertionError("unreachable: the last category is open-ended")


# --- AQI ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IAQI:
    indicator: Indicator
    value: int
    concentration: float  # as used: rounded by GB/T 8170 under HJ 633-2026
    note: str | None = None  # the special rule applied, if any

    @property
    def pollutant(self) -> Pollutant:
        return self.indicator.pollutant


@dataclass(frozen=True)
class AirQuality:
    aqi: int
    category: Category
    standard: str  # "HJ 633-2026"
    primary_pollutants: tuple[Pollutant, ...]  # empty when AQI <= 50
    iaqi: tuple[IAQI, ...]
    missing: tuple[tuple[Indicator, str], ...] = ()  # indicators without a value, and why
    notes: tuple[str, ...] = ()  # special rules applied


def primary_pollutants(entries: Iterable[IAQI]) -> tuple[Pollutant, ...]:
    """首要污染物: when AQI > 50, every pollutant whose IAQI is the AQI (ties: all of them)."""
    items = list(entries)
    if not items:
        return ()
    aqi = max(e.value for e in items)
    if aqi <= 50:
        return ()
    found = {e.pollutant for e in items if e.value == aqi}
    return tuple(p for p in Pollutant if p in found)


def air_quality(
    day: date,
    concentrations: Mapping[Indicator, float | None] | Mapping[str, float | None],
    *,
    edition: Edition | None = None,
    so2_24h: float | None = None,
) -> AirQuality | None:
    """AQI = max IAQI over the indicators given, by the edition in force on `day`.

    concentrations: indicator -> concentration (None: no valid value). so2_24h is the SO2
    24-hour value HJ 633-2012 falls back on when SO2_1h > 800 (real-time report). None when no
    indicator has a value.
    """
    ed = edition or edition_for(day)
    entries: dict[Indicator, IAQI] = {}
    missing: list[tuple[Indicator, str]] = []
    notes: list[str] = []
    given = {Indicator(k): v for k, v in concentrations.items()}
    for ind, c in given.items():
        ed.column(ind)  # an indicator of another edition is an error even without a value
        if c is None or (isinstance(c, float) and math.isnan(c)):
            missing.append((ind, "no valid value"))
            continue
        value, note = _lookup(ind, c, ed)
        if note:
            notes.append(note)
        if value is not None:
            entries[ind] = IAQI(ind, value, round_concentration(ind, c, ed), note)
        elif ind is Indicator.SO2_1H:
            _so2_from_24h(ed, given, so2_24h, entries, missing)
        elif given.get(Indicator.O3_1H) is None:  # O3_8h > 800 under HJ 633-2012
            missing.append((ind, "O3_8h > 800 and no O3_1h value to report O3 from"))
    if not entries:
        return None
    order = list(Indicator)  # HJ 633 Table 1's column order, whatever order they came in
    result = tuple(sorted(entries.values(), key=lambda e: order.index(e.indicator)))
    aqi = max(e.value for e in result)
    return AirQuality(
        aqi=aqi,
        category=category_for(aqi),
        standard=ed.standard,
        primary_pollutants=primary_pollutants(result),
        iaqi=result,
        missing=tuple(missing),
        notes=tuple(notes),
    )


def _so2_from_24h(
    ed: Edition,
    given: Mapping[Indicator, float | None],
    so2_24h: float | None,
    entries: dict[Indicator, IAQI],
    missing: list[tuple[Indicator, str]],
) -> None:
    """HJ 633-2012: SO2 1h > 800 is not indexed; SO2 is reported from its 24-hour value."""
    if given.get(Indicator.SO2_24H) is not None:
        return  # already an indicator of its own
    if so2_24h is None:
        missing.append((Indicator.SO2_1H, "SO2_1h > 800 and no SO2 24-hour value"))
        return
    value = iaqi(Indicator.SO2_24H, so2_24h, ed)
    assert value is not None
    concentration = round_concentration(Indicator.SO2_24H, so2_24h, ed)
    note = "SO2_1h > 800: reported from the 24-hour value"
    entries[Indicator.SO2_24H] = IAQI(Indicator.SO2_24H, value, concentration, note)


# --- daily values from hourly data -----------------------------------------------------------

MIN_HOURS_24H = 20  # GB 3095-2012 Table 4: a 24-hour mean needs >= 20 hourly values
MIN_HOURS_8H = 6  # GB 3095-2012 Table 4: an 8-hour mean needs >= 6 hourly values
MIN_WINDOWS_8H = 14  # HJ 663-2013: >= 14 of the day's 17 8-hour means (ending 8:00..24:00)
O3_8H_LIMIT = 160  # GB 3095 grade II, daily max 8-hour (unchanged in 2026)
O3_1H_LIMIT = 200  # GB 3095 grade II, 1-hour (unchanged in 2026)
HOURS = range(24)
WINDOW = 8

Hourly = Mapping[str, Mapping[int, float | None]]
Day = list[float | None]  # 24 slots, None = no valid value


@dataclass(frozen=True)
class DailyConcentrations:
    """The day's concentrations for the daily AQI, and why any indicator has none."""

    standard: str
    values: Mapping[Indicator, float]
    invalid: Mapping[Indicator, str]


def _hours(pollutant: Pollutant, series: Mapping[int, float | None]) -> Day:
    day: Day = [None] * 24
    for hour, value in series.items():
        if isinstance(hour, bool) or not isinstance(hour, int) or hour not in HOURS:
            raise ValueError(f"{pollutant}: hour must be an integer 0..23, got {hour!r}")
        if value is None or (isinstance(value, float) and math.isnan(value)):
            continue
        day[hour] = float(_decimal(value, f"{pollutant} hour {hour}"))
    return day


def _by_pollutant(hourly: Hourly) -> dict[Pollutant, Day]:
    days: dict[Pollutant, Day] = {}
    for key, series in hourly.items():
        pollutant = pollutant_of(key)
        if pollutant in days:
            raise ValueError(f"{key}: {pollutant} given twice")
        days[pollutant] = _hours(pollutant, series)
    return days


def _valid(values: Iterable[float | None]) -> list[float]:
    return [v for v in values if v is not None]


def mean_24h(day: Day) -> tuple[float | None, str | None]:
    """24-hour mean of the valid hours; needs MIN_HOURS_24H of them."""
    valid = _valid(day)
    if len(valid) < MIN_HOURS_24H:
        return None, f"{len(valid)} valid hours, at least {MIN_HOURS_24H} needed"
    return sum(valid) / len(valid), None


def moving_8h(day: Day) -> list[float | None]:
    """The day's 17 8-hour means over hours s..s+7 (ending 8:00..24:00); None: < 6 valid hours."""
    means: list[float | None] = []
    for start in range(24 - WINDOW + 1):
        valid = _valid(day[start : start + WINDOW])
        means.append(sum(valid) / len(valid) if len(valid) >= MIN_HOURS_8H else None)
    return means


def max_8h(day: Day, limit: float = O3_8H_LIMIT) -> tuple[float | None, str | None]:
    """Daily maximum 8-hour mean: needs MIN_WINDOWS_8H valid 8-hour means, unless the maximum of
    fewer already exceeds the limit (HJ 663-2013: the result then stands, more data cannot lower
    it)."""
    valid = _valid(moving_8h(day))
    if not valid:
        return None, f"0 valid 8-hour means, at least {MIN_WINDOWS_8H} needed"
    top = max(valid)
    if len(valid) < MIN_WINDOWS_8H and top <= limit:
        return None, f"{len(valid)} valid 8-hour means, at least {MIN_WINDOWS_8H} needed"
    return top, None


def max_1h(day: Day, limit: float = O3_1H_LIMIT) -> tuple[float | None, str | None]:
    """Daily maximum 1-hour value: needs MIN_HOURS_24H valid hours, unless the maximum of fewer
    already exceeds the limit (the same reasoning as for the 8-hour maximum)."""
    valid = _valid(day)
    if not valid:
        return None, f"0 valid hours, at least {MIN_HOURS_24H} needed"
    top = max(valid)
    if len(valid) < MIN_HOURS_24H and top <= limit:
        return None, f"{len(valid)} valid hours, at least {MIN_HOURS_24H} needed"
    return top, None


def daily_concentrations(day: date, hourly: Hourly) -> DailyConcentrations:
    """The daily-report concentrations of the edition in force on `day` from its hourly data.

    hourly: pollutant (HJ 212 factor code or AQI name) -> {hour 0..23: value or None}.
    """
    ed = edition_for(day)
    days = _by_pollutant(hourly)
    values: dict[Indicator, float] = {}
    invalid: dict[Indicator, str] = {}
    value: float | None
    why: str | None
    for ind in ed.daily_indicators:
        series = days.get(ind.pollutant)
        if series is None:
            value, why = None, "no data"
        elif ind is Indicator.O3_8H:
            value, why = max_8h(series)
        elif ind is Indicator.O3_1H:
            value, why = max_1h(series)
        else:
            value, why = mean_24h(series)
        if value is None:
            invalid[ind] = why or "no value"
        else:
            values[ind] = value
    return DailyConcentrations(ed.standard, MappingProxyType(values), MappingProxyType(invalid))


def daily_air_quality(day: date, hourly: Hourly) -> AirQuality | None:
    """The daily AQI of a station from its hourly data (HJ 633 daily report); None: no data."""
    daily = daily_concentrations(day, hourly)
    result = air_quality(day, daily.values)
    if result is None:
        return None
    missing = tuple(daily.invalid.items()) + result.missing
    return AirQuality(
        aqi=result.aqi,
        category=result.category,
        standard=result.standard,
        primary_pollutants=result.primary_pollutants,
        iaqi=result.iaqi,
        missing=missing,
        notes=result.notes,
    )


# --- GB 3095 limits as defaults for air stations ---------------------------------------------

GB3095_2026_FINAL = date(2031, 1, 1)  # the transition limits apply until 2030-12-31

LIMIT_UNITS: Mapping[str, str] = MappingProxyType(
    {"a34004": "ug/m3", "a34002": "ug/m3", "a21026": "ug/m3", "a21004": "ug/m3", "a21005": "mg/m3"}
)


def air_standard_for(day: date) -> str:
    """The GB 3095 edition in force on a day."""
    return "GB 3095-2026" if day >= HJ633_2026.effective else "GB 3095-2012"


def default_air_limits(day: date) -> dict[str, float]:
    """GB 3095 grade II 24-hour limits in force on a day, by HJ 212 factor code (units in
    LIMIT_UNITS). O3 has no 24-hour limit and is left out."""
    if day < HJ633_2026.effective:  # GB 3095-2012
        return {"a34004": 75, "a34002": 150, "a21026": 150, "a21004": 80, "a21005": 4}
    if day < GB3095_2026_FINAL:  # GB 3095-2026 transition limits
        return {"a34004": 60, "a34002": 120, "a21026": 150, "a21004": 80, "a21005": 4}
    return {"a34004": 50, "a34002": 100, "a21026": 50, "a21004": 50, "a21005": 4}
