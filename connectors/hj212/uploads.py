"""From HJ 212 messages to the hub's uploads (pure): which CN is which kind of data, when the
values were taken, and which values count as normal."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

from connectors.hj212.assembly import Message
from connectors.hj212.codec import Version, is_normal_flag
from hub.monitoring.model import Interval
from hub.monitoring.writer import Sample, Upload

# HJ 212 data uploads (2017 Table 9; the same codes in 2005 and 2025).
INTERVAL_OF_CN = {
    "2011": Interval.REALTIME,
    "2051": Interval.MINUTE,
    "2061": Interval.HOUR,
    "2031": Interval.DAY,
}
POLLUTANT_MAX = 16  # the readings table's column


def data_time(text: str | None, tz: ZoneInfo) -> datetime | None:
    """``DataTime`` (yyyyMMddHHmmss, local time; some devices add milliseconds) as UTC."""
    if not text or len(text) < 14 or not text[:14].isdigit():
        return None
    return _local_time(text[:14], tz)


@lru_cache(maxsize=4096)  # every device of a round sends the same DataTime
def _local_time(digits: str, tz: ZoneInfo) -> datetime | None:
    try:
        local = datetime(
            int(digits[:4]), int(digits[4:6]), int(digits[6:8]),
            int(digits[8:10]), int(digits[10:12]), int(digits[12:14]),
        )  # fmt: skip
    except ValueError:
        return None
    return local.replace(tzinfo=tz).astimezone(UTC)


def samples_of(message: Message, tz: ZoneInfo, received_at: datetime) -> list[Sample]:
    """The values a data message carries; none for other commands. A message without a usable
    DataTime is dated when it arrived."""
    first = message.parts[0]
    interval = INTERVAL_OF_CN.get(first.cn)
    if interval is None:
        return []
    raw_time = message.cp.get("DataTime")
    at = data_time(raw_time if isinstance(raw_time, str) else None, tz)
    at = at or received_at.replace(microsecond=0)
    found = []
    version = first.version
    for code, fields in message.cp.items():
        if type(fields) is not dict or len(code) > POLLUTANT_MAX:
            continue
        sample = _sample(code, fields, interval, at, version)
        if sample is not None:
            found.append(sample)
    return found


def _sample(
    code: str, fields: dict[str, object], interval: Interval, at: datetime, version: Version
) -> Sample | None:
    value = _number(fields.get("Rtd" if interval is Interval.REALTIME else "Avg"))
    if value is None and interval is Interval.REALTIME:
        value = _number(fields.get("Avg"))
    if value is None:
        return None  # information items (i-codes), state items without a value
    flag = fields.get("Flag")
    flag_text = flag[:4] if type(flag) is str else None
    return Sample(
        code,
        interval,
        at,
        value,
        _number(fields.get("Min")),
        _number(fields.get("Max")),
        flag_text,
        flag_text is None or is_normal_flag(flag_text, version),
    )


def _number(value: object) -> float | None:
    kind = type(value)
    if kind is float:
        return value if value - value == 0.0 else None  # type: ignore[return-value,operator]
    if kind is int:
        return float(value)  # type: ignore[arg-type]
    return None


def upload_of(
    message: Message, tz: ZoneInfo, received_at: datetime, peer: str | None = None
) -> Upload:
    first = message.parts[0]
    raw = "".join(part.data or "" for part in message.parts)
    return Upload(
        mn=first.mn or "",
        password=first.pw,
        samples=samples_of(message, tz, received_at),
        cn=first.cn,
        raw=raw,
        peer=peer,
    )
