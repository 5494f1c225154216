"""From HJ 212 messages to the hub's uploads (pure): which CN is which kind of data, when the
values were taken, and which values count as normal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from connectors.hj212.assembly import Message
from connectors.hj212.codec import Version, is_normal_flag
from connectors.hj212.errors import HJ212Error, Reason
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
# A DataTime outside [EARLIEST, arrival + AHEAD] is refused: no online monitoring ran before 2000
# (a device clock gone wrong says 0001), and a time far ahead would stay a point's "latest".
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
AHEAD = timedelta(days=1)


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
        return local.replace(tzinfo=tz).astimezone(UTC)
    except (ValueError, OverflowError):  # no such day; year 1 at UTC+8 is before year 1 in UTC
        return None


def samples_of(message: Message, tz: ZoneInfo, received_at: datetime) -> list[Sample]:
    """The values a data message carries; none for other commands. A message without DataTime
    is dated when it arrived; one whose DataTime is no plausible time raises
    :class:`HJ212Error` ``BAD_DATA_TIME`` (the device is refused, not its values misdated)."""
    first = message.parts[0]
    interval = INTERVAL_OF_CN.get(first.cn)
    if interval is None:
        return []
    raw_time = message.cp.get("DataTime")
    at = received_at.replace(microsecond=0)
    if raw_time is not None:
        at = _checked_time(raw_time, tz, received_at)
    version = first.version
    realtime = interval is Interval.REALTIME
    pick = "Rtd" if realtime else "Avg"
    normal_flags = _NORMAL_2005 if version is Version.V2005 else _NORMAL
    new = tuple.__new__  # a Sample without the call of its Python-level __new__
    found = []
    # one pass per value, inlined (tens of thousands a second): what _sample() says, faster
    for code, fields in message.cp.items():
        if type(fields) is not dict or len(code) > POLLUTANT_MAX:
            continue
        value = _number(fields.get(pick))
        if value is None:
            if not realtime:
                continue
            value = _number(fields.get("Avg"))
            if value is None:
                continue  # information items (i-codes), state items without a value
        low, high, flag = fields.get("Min"), fields.get("Max"), fields.get("Flag")
        if low is not None:
            low = _number(low)
        if high is not None:
            high = _number(high)
        if type(flag) is str:
            flag = flag[:4]
            normal = flag in normal_flags
        else:
            flag, normal = None, True
        found.append(new(Sample, (code, interval, at, value, low, high, flag, normal)))
    return found


_NORMAL = frozenset({"N"})  # is_normal_flag() of 2017 and later
_NORMAL_2005 = frozenset({"N", "3"})


def _checked_time(raw: object, tz: ZoneInfo, received_at: datetime) -> datetime:
    at = data_time(raw if isinstance(raw, str) else None, tz)
    if at is None or not EARLIEST <= at <= received_at + AHEAD:
        raise HJ212Error(
            Reason.BAD_DATA_TIME,
            f"DataTime={str(raw)[:40]} 不是 2000 年以后、接收时刻一天以内的本地时间"
            " (yyyyMMddHHmmss)",
        )
    return at


def _sample(
    code: str, fields: dict[str, object], interval: Interval, at: datetime, version: Version
) -> Sample | None:
    """One value: the readable definition of what samples_of() does inline (a test holds them
    equal)."""
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
    parts = message.parts
    first = parts[0]
    raw = (first.data or "") if len(parts) == 1 else "".join(p.data or "" for p in parts)
    return Upload(
        mn=first.mn or "",
        password=first.pw,
        samples=samples_of(message, tz, received_at),
        cn=first.cn,
        raw=raw,
        peer=peer,
    )
