"""The device registry: registering monitoring points (by MN) and listing them with their state.

A point is keyed by its MN, the identity its HJ 212 device sends in every packet: registering an
MN again updates that point in place (same id), and may move it to another town the caller sees.
Registering an MN releases the readings its packets carried while it was unknown (quarantine).
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from hub.airquality import aqi
from hub.audit import service as audit
from hub.auth import Scope
from hub.db import utcnow
from hub.errors import invalid, missing, needs_offset, not_found, too_long, unknown_town
from hub.monitoring.model import (
    Interval,
    MonitoringPoint,
    PointKind,
    QuarantinedPacket,
    Reading,
)
from hub.roles import Permission, require
from hub.sources.model import Source
from hub.validation import check_point, parse_id

# A point is online when its device was last heard from at most this long ago. HJ 212 devices
# send real-time data every 30 s to a few minutes and minute data every 10 minutes at most, so a
# device silent for longer than 10 minutes has missed at least one upload.
ONLINE_WINDOW = timedelta(minutes=10)

# HJ 212-2017 Table 3 gives 24 hex digits, but field devices send 14-character (2005) MNs and
# station codes with "_" and "-" (an air station's XXXX01_AIR01_0001): accept those, up to the
# column's 32 characters; never a packet separator (; , = &) or a space.
MN_MAX = 32
MN_PATTERN = re.compile(rf"[A-Za-z0-9_-]{{1,{MN_MAX}}}")
POLLUTANT_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9]{0,15}")  # HJ 212 factor codes: a34004
NAME_MAX = 200
PASSWORD_MAX = 32
UNIT_MAX = 16
LIMITS_MAX = 64
# HJ 212 separates fields with ; , = and & and ends packets with CR LF: a PW holding any of them
# could never be sent by a device.
PASSWORD_FORBIDDEN = set(";,=&\r\n\x00")


@dataclass(frozen=True)
class LimitSpec:
    pollutant: str
    max: float | None = None
    min: float | None = None
    unit: str | None = None


@dataclass(frozen=True)
class PointSpec:
    mn: str
    name: str
    kind: PointKind
    tenant_code: str
    source_id: str | None = None
    password: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    limits: Sequence[LimitSpec] = field(default_factory=tuple)


# An air station registered without limits watches PM2.5 and PM10 against GB 3095's grade II
# 24-hour limits in force on the day (GB 3095-2026: 60 and 120 µg/m³ until 2030).
DEFAULT_AIR_POLLUTANTS = ("a34004", "a34002")


def default_limits(kind: str, day: date) -> list[dict[str, Any]]:
    """The limits in force on ``day`` (the local day) for a point registered without any."""
    if kind != PointKind.AIR_STATION:
        return []
    found = aqi.default_air_limits(day)
    return [
        {"pollutant": code, "max": float(found[code]), "min": None, "unit": aqi.LIMIT_UNITS[code]}
        for code in DEFAULT_AIR_POLLUTANTS
    ]


def is_online(point: MonitoringPoint, now: datetime) -> bool:
    """Heard from within ONLINE_WINDOW of now."""
    return point.last_seen_at is not None and now - point.last_seen_at <= ONLINE_WINDOW


# --- validation (pure) --------------------------------------------------------------------------


def check_mn(mn: str) -> str:
    value = mn.strip()
    if not MN_PATTERN.fullmatch(value):
        raise invalid("mn", f"MN 须为 1 至 {MN_MAX} 个字母、数字、下划线或连字符")
    return value


def check_name(name: str) -> str:
    value = name.strip()
    if not value:
        raise missing("name")
    if len(value) > NAME_MAX or "\x00" in value:
        raise invalid("name", f"名称不能超过 {NAME_MAX} 个字符，且不能含空字符")
    return value


def check_password(password: str | None) -> str | None:
    if password is None or password == "":
        return None  # no PW: the device may send any
    if len(password) > PASSWORD_MAX:
        raise too_long("password", PASSWORD_MAX)
    if PASSWORD_FORBIDDEN & set(password) or not password.isprintable():
        raise invalid("password", "密码不能含有 ; , = & 或控制字符")
    return password


def _finite(value: float | None, what: str) -> None:
    if value is not None and not math.isfinite(value):
        raise invalid("limits", f"{what} 须为有限数值")


def check_limits(limits: Iterable[LimitSpec]) -> list[dict[str, Any]]:
    """The limits as stored: [{pollutant, max, min, unit}], one per pollutant."""
    found: list[dict[str, Any]] = []
    seen: set[str] = set()
    for i, limit in enumerate(limits):
        where = f"limits[{i}]"
        code = limit.pollutant.strip()
        if not POLLUTANT_PATTERN.fullmatch(code):
            raise invalid("limits", f"{where}：污染物须为 HJ 212 因子编码，如 a34004")
        if code in seen:
            raise invalid("limits", f"{where}：污染物 {code} 重复")
        seen.add(code)
        _finite(limit.max, f"{where}.max")
        _finite(limit.min, f"{where}.min")
        if limit.max is None and limit.min is None:
            raise invalid("limits", f"{where}：须给出上限、下限或两者")
        if limit.max is not None and limit.min is not None and limit.min > limit.max:
            raise invalid("limits", f"{where}：下限不能大于上限")
        unit = (limit.unit or "").strip() or None
        if unit is not None and (len(unit) > UNIT_MAX or not unit.isprintable()):
            raise invalid("limits", f"{where}：单位不能超过 {UNIT_MAX} 个字符")
        found.append({"pollutant": code, "max": limit.max, "min": limit.min, "unit": unit})
    if len(found) > LIMITS_MAX:
        raise invalid("limits", f"每个监测点最多 {LIMITS_MAX} 条限值")
    return found


# --- use cases ------------------------------------------------------------------------------------


async def register_point(
    session: AsyncSession, scope: Scope, spec: PointSpec, *, tz: ZoneInfo
) -> tuple[MonitoringPoint, Source | None]:
    """Register a device by its MN, or update the point already registered under it; the point
    and the source it watches."""
    require(scope, Permission.MONITORING_REGISTER)
    mn = check_mn(spec.mn)
    name = check_name(spec.name)
    kind = PointKind(spec.kind).value
    tenant = scope.directory.by_code.get(spec.tenant_code.strip())
    if tenant is None or not scope.sees(tenant.id):
        raise unknown_town("tenantCode", spec.tenant_code)
    password = check_password(spec.password)
    check_point(spec.latitude, spec.longitude)
    limits = check_limits(spec.limits) or default_limits(kind, datetime.now(tz).date())
    source = await _source_for(session, tenant.id, spec.source_id)
    source_id = source.id if source is not None else None

    point = await session.scalar(
        select(MonitoringPoint)
        .where(MonitoringPoint.mn == mn)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    created = point is None
    moved_from = None if point is None or point.tenant_id == tenant.id else point.tenant_id
    if point is None:
        point = MonitoringPoint(mn=mn, tenant_id=tenant.id, limits=[])
        session.add(point)
    point.tenant_id = tenant.id
    point.name = name
    point.kind = kind
    point.source_id = source_id
    point.password = password
    point.latitude = spec.latitude
    point.longitude = spec.longitude
    point.limits = limits
    await (_insert_new(session) if created else session.flush())

    data = {
        "mn": mn,
        "name": name,
        "kind": kind,
        "tenant": tenant.code,
        "source_id": str(source_id) if source_id else None,
        "password_set": password is not None,  # never the PW itself
        "latitude": spec.latitude,
        "longitude": spec.longitude,
        "limits": limits,
    }
    if moved_from is not None:
        data["moved_from"] = scope.directory.by_id[moved_from].code
        await audit.append(
            session,
            moved_from,
            scope.principal,
            "monitoring.move_point",
            "monitoring_point",
            point.id,
            {"mn": mn, "to": tenant.code},
        )
    data["released_packets"] = await release_quarantine(session, point)
    action = "monitoring.register_point" if created else "monitoring.update_point"
    await audit.append(
        session, tenant.id, scope.principal, action, "monitoring_point", point.id, data
    )
    return point, source


async def _insert_new(session: AsyncSession) -> None:
    """MNs are unique across the city, but a town-scoped caller does not see other towns'
    points: an MN taken there surfaces as a unique violation, answered as such (in a savepoint,
    so the answer is a UserError naming mn, not a rolled-back retry)."""
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        raise invalid("mn", "该MN已被登记（属其他镇街，或正被同时登记）") from None


async def _source_for(
    session: AsyncSession, tenant_id: uuid.UUID, source_id: str | None
) -> Source | None:
    if source_id is None:
        return None
    parsed = parse_id(source_id)
    source = None if parsed is None else await session.get(Source, parsed)
    if source is None:
        raise not_found("污染源", "sourceId")
    if source.tenant_id != tenant_id:
        raise invalid("sourceId", "污染源与监测点不属于同一乡镇")
    return source


async def list_points(
    session: AsyncSession, scope: Scope, tenant_code: str | None = None
) -> list[MonitoringPoint]:
    """The points the caller sees, optionally of one tenant and the tenants below it."""
    query = select(MonitoringPoint).order_by(MonitoringPoint.mn)
    if tenant_code is not None:
        tenant = scope.directory.by_code.get(tenant_code)
        if tenant is None or not scope.sees(tenant.id):
            raise unknown_town("tenantCode", tenant_code)
        query = query.where(MonitoringPoint.tenant_id.in_(scope.directory.subtree(tenant.id)))
    return list(await session.scalars(query))


async def points_with_sources(
    session: AsyncSession, scope: Scope, tenant_code: str | None = None
) -> tuple[list[MonitoringPoint], dict[uuid.UUID, Source]]:
    """The points and, in one more query for the whole list, the sources they watch."""
    points = await list_points(session, scope, tenant_code)
    ids = {p.source_id for p in points if p.source_id is not None}
    sources: dict[uuid.UUID, Source] = {}
    if ids:
        rows = await session.scalars(select(Source).where(Source.id.in_(ids)))
        sources = {s.id: s for s in rows}
    return points, sources


# --- readings ---------------------------------------------------------------------------------

READINGS_MAX = 10_000  # rows per readings query: a day of 10-second data, or a year of hours


async def point_by_id(session: AsyncSession, point_id: str) -> MonitoringPoint:
    parsed = parse_id(point_id)
    point = None if parsed is None else await session.get(MonitoringPoint, parsed)
    if point is None:
        raise not_found("监测点", "pointId")
    return point


class ReadingRow(NamedTuple):
    at: datetime
    value: float | None
    min: float | None
    max: float | None
    flag: str | None
    interval: str


async def readings(
    session: AsyncSession,
    scope: Scope,
    point_id: str,
    pollutant: str,
    start: datetime,
    end: datetime,
    interval: Interval | None,
) -> list[ReadingRow]:
    """One pollutant's stored readings at one point in [start, end), oldest first: plain rows
    of the columns the API shows (no ORM objects: a day of minute data is 1,440 of them, and
    building ORM instances cost several times the SQL on a year of data, docs/perf.md)."""
    for name, value in (("from", start), ("to", end)):
        if value.tzinfo is None:
            raise needs_offset(name)
    if end <= start:
        raise invalid("to", "结束时间须晚于开始时间")
    if not POLLUTANT_PATTERN.fullmatch(pollutant):
        raise invalid("pollutant", "污染物须为 HJ 212 因子编码，如 a34004")
    point = await point_by_id(session, point_id)
    query = (
        select(Reading.at, Reading.value, Reading.min, Reading.max, Reading.flag, Reading.interval)
        .where(
            Reading.point_id == point.id,
            Reading.pollutant == pollutant,
            Reading.at >= start,
            Reading.at < end,
        )
        .order_by(Reading.at, Reading.interval)
        .limit(READINGS_MAX + 1)
    )
    if interval is not None:
        query = query.where(Reading.interval == interval.value)
    rows = [ReadingRow(*row) for row in await session.execute(query)]
    if len(rows) > READINGS_MAX:
        raise invalid("to", f"读数超过 {READINGS_MAX} 条，请缩短时间范围")
    return rows


def latest_of(point: MonitoringPoint) -> list[dict[str, Any]]:
    """The newest value per pollutant, as the reading writer keeps it, by pollutant code."""
    found = []
    for code, item in sorted((point.latest or {}).items()):
        found.append(
            {
                "pollutant": code,
                "value": item.get("value"),
                "unit": item.get("unit"),
                "flag": item.get("flag"),
                "at": datetime.fromisoformat(item["at"]),
            }
        )
    return found


async def quarantined(
    session: AsyncSession, scope: Scope, mn: str | None, first: int
) -> list[QuarantinedPacket]:
    """Packets held back from unknown devices or wrong PWs, newest first (MONITOR, ADMIN)."""
    require(scope, Permission.QUARANTINE_READ)
    if not 1 <= first <= 500:
        raise invalid("first", "条数须在 1 至 500 之间")
    query = select(QuarantinedPacket).order_by(QuarantinedPacket.received_at.desc()).limit(first)
    if mn is not None:
        query = query.where(QuarantinedPacket.mn == check_mn(mn))
    if len(scope.tenant_ids) < len(scope.directory.tenants):
        # Quarantine belongs to no town: a town-scoped caller sees the packets of its towns'
        # points (a wrong PW), not other towns' devices nor devices nobody has registered.
        mine = select(MonitoringPoint.mn).where(MonitoringPoint.tenant_id.in_(scope.tenant_ids))
        query = query.where(QuarantinedPacket.mn.in_(mine))
    return list(await session.scalars(query))


async def release_quarantine(session: AsyncSession, point: MonitoringPoint) -> int:
    """Store the readings held for a device registered now: its first data is not lost.
    Packets refused for a wrong PW are released only if they carried the PW now registered."""
    held = await session.scalars(
        select(QuarantinedPacket).where(
            QuarantinedPacket.mn == point.mn, QuarantinedPacket.released_at.is_(None)
        )
    )
    rows: dict[tuple[str, str, datetime], dict[str, Any]] = {}
    released = 0
    now = utcnow()
    for packet in held:
        if packet.reason == "BAD_PASSWORD" and not _sent_password(packet.raw, point.password):
            continue
        packet.released_at = now
        released += 1
        for s in packet.samples:
            at = datetime.fromisoformat(s["at"])
            rows[(s["pollutant"], s["interval"], at)] = {
                "point_id": point.id,
                "tenant_id": point.tenant_id,
                "pollutant": s["pollutant"],
                "interval": s["interval"],
                "at": at,
                "value": s.get("value"),
                "min": s.get("min"),
                "max": s.get("max"),
                "flag": s.get("flag"),
            }
    await insert_ignoring_repeats(session, list(rows.values()))
    return released


def _sent_password(raw: str, password: str | None) -> bool:
    if password is None:
        return True
    return f"PW={password};" in raw


async def insert_ignoring_repeats(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Readings as dicts; a key stored before is skipped (the writer's PostgreSQL batches take
    the faster COPY path in hub.monitoring.writer)."""
    if not rows:
        return
    from sqlalchemy.dialects import postgresql, sqlite

    dialect_insert = sqlite.insert if session.info["db"].is_sqlite else postgresql.insert
    await session.execute(dialect_insert(Reading.__table__).on_conflict_do_nothing(), rows)


# --- air quality ------------------------------------------------------------------------------

NORMAL_FLAGS = (None, "N", "3")  # 2017/2025 "N"; HJ/T 212-2005 air stations "3"


async def daily_air_quality(
    session: AsyncSession, scope: Scope, point_id: str, day: date, tz: ZoneInfo
) -> aqi.AirQuality | None:
    """The day's AQI of an air station from its stored hourly data (values flagged normal),
    by the edition of HJ 633 in force that day; None when no pollutant has a valid value."""
    point = await point_by_id(session, point_id)
    if point.kind != PointKind.AIR_STATION:
        raise invalid("pointId", "只有空气站计算空气质量")
    start = datetime.combine(day, time(0), tz)
    end = start + timedelta(days=1)
    codes = list(aqi.FACTOR_CODES)
    rows = await session.execute(
        select(Reading.pollutant, Reading.at, Reading.value, Reading.flag).where(
            Reading.point_id == point.id,
            Reading.pollutant.in_(codes),
            Reading.interval == "HOUR",
            Reading.at >= start,
            Reading.at < end,
        )
    )
    hourly: dict[str, dict[int, float | None]] = {}
    for pollutant, at, value, flag in rows:
        normal = flag in NORMAL_FLAGS and value is not None and value >= 0
        hourly.setdefault(pollutant, {})[at.astimezone(tz).hour] = value if normal else None
    return aqi.daily_air_quality(day, hourly)
