"""From HJ 212 messages to the hub's uploads (pure): which CN is which kind of data, when the
values were taken, and which values count as normal."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from connectors.hj212.assembly import Message
from connectors.hj212.codec import Packet, is_normal_flag
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
    try:
        local = datetime.strptime(text[:14], "%Y%m%d%H%M%S")
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
    for code, fields in message.cp.items():
        if not isinstance(fields, dict) or len(code) > POLLUTANT_MAX:
            continue
        sample = _sample(code, fields, interval, at, first)
        if sample is not None:
            found.append(sample)
    return found


def _sample(
    code: str, fields: dict[str, object], interval: Interval, at: datetime, packet: Packet
) -> Sample | None:
    main = "Rtd" if interval is Interval.REALTIME else "Avg"
    value = _number(fields.get(main))
    if value is None and interval is Interval.REALTIME:
        value = _number(fields.get("Avg"))
    if value is None:
        return None  # information items (i-codes), state items without a value
    flag = fields.get("Flag")
    flag_text = flag[:4] if isinstance(flag, str) else None
    return Sample(
        pollutant=code,
        interval=interval,
        at=at,
        value=value,
        min=_number(fields.get("Min")),
        max=_number(fields.get("Max")),
        flag=flag_text,
        normal=flag_text is None or is_normal_flag(flag_text, packet.version),
    )


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


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
