"""When an air station's values are an alarm: by the index the standards define (pure).

GB 3095 limits are for 24-hour (and 1-hour) means; a real-time value above the 24-hour limit
says nothing about the day, and judged that way one station opened a case an hour while its
AQI that day was 良. So air stations are judged on what HJ 633 defines: an hourly mean by its
1-hour individual index (IAQI; PM10 and PM2.5 read against the 24-hour column as the real-time
report does), a 24-hour mean by its 24-hour IAQI, each against the AQI category the bureau
chooses as its alarm threshold (``SANWANG_AIR_ALARM_CATEGORY``, default 中度污染: IAQI > 150).
"""

from __future__ import annotations

from datetime import date
from types import MappingProxyType

from hub.airquality.aqi import (
    CATEGORIES,
    FACTOR_CODES,
    Category,
    Indicator,
    Pollutant,
    category_for,
    edition_for,
    iaqi,
)

HOURLY = MappingProxyType(
    {
        Pollutant.SO2: Indicator.SO2_1H,
        Pollutant.NO2: Indicator.NO2_1H,
        Pollutant.CO: Indicator.CO_1H,
        Pollutant.O3: Indicator.O3_1H,
        Pollutant.PM10: Indicator.PM10_1H,
        Pollutant.PM25: Indicator.PM25_1H,
    }
)
DAILY = MappingProxyType(
    {
        Pollutant.SO2: Indicator.SO2_24H,
        Pollutant.NO2: Indicator.NO2_24H,
        Pollutant.CO: Indicator.CO_24H,
        Pollutant.PM10: Indicator.PM10_24H,
        Pollutant.PM25: Indicator.PM25_24H,
    }
)
# HJ 633-2012 has no 1-hour particulate column: its real-time report reads the hourly mean
# against the 24-hour one, as HJ 633-2026 says in so many words.
_PM_2012 = MappingProxyType(
    {Indicator.PM10_1H: Indicator.PM10_24H, Indicator.PM25_1H: Indicator.PM25_24H}
)
# SO2 1h above 800 ug/m3 has no 1-hour IAQI in HJ 633-2012; HJ 633-2026 calls it 200.
SO2_1H_ABOVE_TOP = 200


def category_named(name: str) -> Category:
    """A category by its Chinese name (中度污染) or key (MODERATELY_POLLUTED)."""
    for cat in CATEGORIES:
        if name.strip() in (cat.name, cat.key):
            return cat
    known = ", ".join(f"{c.name} ({c.key})" for c in CATEGORIES)
    raise ValueError(f"{name!r} is not an AQI category; known: {known}")


def alarm_threshold(category: str) -> int:
    """The IAQI an alarm is above: the top of the category below the chosen one."""
    return category_named(category).low - 1


def alarm_index(code: str, daily: bool, concentration: float, day: date) -> int | None:
    """The IAQI of an hourly (or, ``daily``, 24-hour) mean of HJ 212 factor ``code`` on ``day``;
    None when the factor has no index for that averaging time (O3 has no 24-hour one) or is not
    an AQI pollutant."""
    pollutant = FACTOR_CODES.get(code)
    if pollutant is None:
        return None
    indicator = (DAILY if daily else HOURLY).get(pollutant)
    if indicator is None:
        return None
    edition = edition_for(day)
    if indicator not in edition.breakpoints:
        indicator = _PM_2012[indicator]
    found = iaqi(indicator, concentration, edition)
    return SO2_1H_ABOVE_TOP if found is None else found


def category_name(index: int) -> str:
    return category_for(index).name
