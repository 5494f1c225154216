"""Checks of what people type, shared by every feature: texts (their limits), points, times,
ids. Pure: it knows no feature's tables, so any service may use it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from hub.errors import has_nul, invalid, missing, needs_offset, out_of_range, too_long

# The longest text each field takes, by the field's name in the API (errors name it).
LIMITS = {
    "title": 200,
    "description": 10_000,
    "externalId": 128,
    "address": 500,
    "reporterName": 100,
    "reporterPhone": 32,
    "note": 4_000,
    "reason": 4_000,
    "result": 10_000,
}


def check_text(name: str, value: str | None, *, required: bool = False) -> str | None:
    """The text stripped, or None when blank; too long, NUL or a missing required one: refused."""
    if value is None or not value.strip():
        if required:
            raise missing(name)
        return None
    if len(value) > LIMITS[name]:
        raise too_long(name, LIMITS[name])
    if "\x00" in value:
        raise has_nul(name)
    return value.strip()


def check_point(latitude: float | None, longitude: float | None) -> None:
    """Both coordinates or neither, each in its range (WGS 84 degrees)."""
    if (latitude is None) != (longitude is None):
        raise invalid("latitude" if latitude is None else "longitude", "经度和纬度须同时填写")
    if latitude is not None and not -90 <= latitude <= 90:
        raise invalid("latitude", "纬度须在 -90 至 90 之间")
    if longitude is not None and not -180 <= longitude <= 180:
        raise invalid("longitude", "经度须在 -180 至 180 之间")


def check_time(name: str, value: datetime | None) -> None:
    """A time with its UTC offset, one that has a UTC time."""
    if value is None:
        return
    if value.tzinfo is None:
        raise needs_offset(name)
    try:
        value.astimezone(UTC)
    except OverflowError:  # e.g. 9999-12-31T23:59:59-05:00 has no UTC time
        raise out_of_range(name) from None


def parse_id(value: str | uuid.UUID | None) -> uuid.UUID | None:
    """The id, or None when the text is not one (callers answer "not found", not a crash)."""
    if value is None or isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def check_label(field: str, label: str, value: str | None, limit: int) -> str:
    """A required one-line text, stripped: VALIDATION naming the field, in Chinese."""
    text = (value or "").strip()
    if not text:
        raise invalid(field, f"{label}（{field}）不能为空")
    if len(text) > limit:
        raise invalid(field, f"{label}（{field}）不能超过 {limit} 个字")
    if not text.isprintable():
        raise invalid(field, f"{label}（{field}）含有换行或控制字符")
    return text
