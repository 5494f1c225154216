"""The monitoring pages, /console/monitoring: stations and enterprise points with their latest
values against their limits, a pollutant over a chosen day (ECharts), the AQI per station per
day, the outfall cameras (state, last event, last snapshot, the recorder's live view in a new
tab: the hub never proxies video), and the quarantined packets (MONITOR, ADMIN).

Reads call the services the GraphQL fields `monitoringPoints`, `readings`, `airQuality`,
`cameras`, `quarantinedPackets` and `quarantinedVideoEvents` call, in a session scoped to the
caller's towns: a town's account sees its town's devices only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hub.airquality import aqi
from hub.auth import Scope
from hub.cameras import service as cameras
from hub.db import utcnow
from hub.errors import DomainError
from hub.monitoring import service as monitoring
from hub.monitoring.model import Interval, MonitoringPoint, PointKind
from hub.monitoring.pollutants import name_of
from hub.roles import Permission, allows

from .board import air_entry
from .files import attachment_response
from .web import PageNotFound, console_of, error_page, page, read, render

KIND_WORDS = {
    PointKind.AIR_STATION: "空气站",
    PointKind.FLUE_GAS: "废气排口",
    PointKind.WASTEWATER: "废水排口",
    PointKind.NOISE: "噪声",
    PointKind.OTHER: "其他",
}
INTERVAL_WORDS = {
    Interval.REALTIME: "实时数据",
    Interval.MINUTE: "分钟数据",
    Interval.HOUR: "小时数据",
    Interval.DAY: "日数据",
}
QUARANTINE_REASONS = {"UNKNOWN_MN": "未登记的设备", "BAD_PASSWORD": "密码错误"}
AIR_DAYS = 7  # the AQI table: the chosen day and the six before it


def _tabs(scope: Scope) -> list[tuple[str, str]]:
    tabs = [
        ("/console/monitoring", "监测点"),
        ("/console/monitoring/air", "空气质量"),
        ("/console/monitoring/cameras", "摄像头"),
    ]
    if allows(scope, Permission.QUARANTINE_READ):
        tabs.append(("/console/monitoring/quarantine", "隔离报文"))
    return tabs


def _render(request: Request, scope: Scope, template: str, values: dict[str, Any]) -> Response:
    return render(
        request,
        template,
        {"tabs": _tabs(scope), "KIND_WORDS": KIND_WORDS, "name_of": name_of, **values},
    )


class BadInput(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def parse_day(text: str | None, tz: ZoneInfo) -> date:
    """A day of the query string (YYYY-MM-DD), today in local time when absent."""
    if not text:
        return utcnow().astimezone(tz).date()
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise BadInput("日期格式应为 YYYY-MM-DD，如 2026-12-04") from None
    if not date(2000, 1, 1) <= day <= date(2100, 12, 31):
        raise BadInput("日期超出可查询的范围（2000 至 2100 年）")
    return day


# --- points -----------------------------------------------------------------------------------


@dataclass
class LatestValue:
    pollutant: str
    name: str
    value: float | None
    unit: str | None
    at: datetime
    max: float | None
    min: float | None
    exceeded: bool


def latest_against_limits(point: MonitoringPoint) -> list[LatestValue]:
    """The newest value per pollutant beside the point's limit; `exceeded` past max or min."""
    limits = {item["pollutant"]: item for item in point.limits or []}
    found = []
    for item in monitoring.latest_of(point):
        limit = limits.get(item["pollutant"], {})
        value, high, low = item["value"], limit.get("max"), limit.get("min")
        exceeded = value is not None and (
            (high is not None and value > high) or (low is not None and value < low)
        )
        found.append(
            LatestValue(
                item["pollutant"],
                name_of(item["pollutant"]),
                value,
                item["unit"] or limit.get("unit"),
                item["at"],
                high,
                low,
                exceeded,
            )
        )
    return found


async def points_view(session: AsyncSession, scope: Scope) -> list[dict[str, Any]]:
    points, sources = await monitoring.points_with_sources(session, scope)
    now = utcnow()
    return [
        {
            "point": p,
            "town": scope.directory.by_id[p.tenant_id].name,
            "source": sources[p.source_id].name if p.source_id in sources else None,
            "online": monitoring.is_online(p, now),
            "latest": latest_against_limits(p),
        }
        for p in points
    ]


@page()
async def points(request: Request, scope: Scope) -> Response:
    rows = await read(request, points_view)
    return _render(request, scope, "monitoring/points.html", {"rows": rows})


async def _point(session: AsyncSession, scope: Scope, point_id: str) -> MonitoringPoint | None:
    try:
        return await monitoring.point_by_id(session, point_id)
    except DomainError:
        return None


@page()
async def point_chart(request: Request, scope: Scope) -> Response:
    """One pollutant of one point over one local day: the readings and the limit line."""
    tz = console_of(request).runtime.tz
    point = await read(request, _point, request.path_params["point_id"])
    if point is None:
        raise PageNotFound
    known = sorted(
        {item["pollutant"] for item in point.limits or []} | set((point.latest or {}).keys())
    )
    pollutant = request.query_params.get("pollutant") or (known[0] if known else "")
    interval_text = request.query_params.get("interval") or Interval.HOUR.value
    try:
        day = parse_day(request.query_params.get("day"), tz)
        if interval_text not in Interval.__members__:
            raise BadInput("数据类型须为 实时、分钟、小时 或 日 数据之一")
        if known and pollutant not in known:
            raise BadInput(f"该监测点没有污染物“{pollutant or '（空）'}”的数据或限值")
    except BadInput as exc:
        return error_page(request, 400, exc.message)
    interval = Interval(interval_text)
    start = datetime.combine(day, time(0), tz)
    end = start + timedelta(days=1)
    rows = []
    if known:  # a point with neither data nor limits has nothing to draw yet
        try:
            rows = await read(
                request, monitoring.readings, str(point.id), pollutant, start, end, interval
            )
        except DomainError as exc:
            return error_page(request, 400, exc.message)
    limit = next((item for item in point.limits or [] if item["pollutant"] == pollutant), None)
    series = [[r.at.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S"), r.value] for r in rows]
    return _render(
        request,
        scope,
        "monitoring/chart.html",
        {
            "point": point,
            "town": scope.directory.by_id[point.tenant_id].name,
            "pollutant": pollutant,
            "known": known,
            "day": day,
            "interval": interval,
            "INTERVAL_WORDS": INTERVAL_WORDS,
            "limit": limit,
            "count": len(rows),
            "chart": json.dumps(
                {
                    "series": series,
                    "name": name_of(pollutant),
                    "unit": (limit or {}).get("unit")
                    or ((point.latest or {}).get(pollutant) or {}).get("unit")
                    or "",
                    "max": (limit or {}).get("max"),
                    "min": (limit or {}).get("min"),
                    "day": day.isoformat(),
                },
                ensure_ascii=False,
            ),
        },
    )


# --- air quality ----------------------------------------------------------------------------


async def air_table(
    session: AsyncSession, scope: Scope, last: date, tz: ZoneInfo
) -> list[dict[str, Any]]:
    """Per air station the AQI of each of AIR_DAYS days ending at `last`."""
    days = [last - timedelta(days=n) for n in range(AIR_DAYS - 1, -1, -1)]
    found = []
    for p in await monitoring.list_points(session, scope):
        if p.kind != PointKind.AIR_STATION:
            continue
        town = scope.directory.by_id[p.tenant_id].name
        per_day = []
        for day in days:
            quality = await monitoring.daily_air_quality(session, scope, str(p.id), day, tz)
            per_day.append(air_entry(p.id, p.name, town, quality))
        found.append({"point": p, "town": town, "days": per_day})
    return found


@page()
async def air(request: Request, scope: Scope) -> Response:
    tz = console_of(request).runtime.tz
    try:
        last = parse_day(request.query_params.get("day"), tz)
    except BadInput as exc:
        return error_page(request, 400, exc.message)
    rows = await read(request, air_table, last, tz)
    days = [last - timedelta(days=n) for n in range(AIR_DAYS - 1, -1, -1)]
    return _render(
        request,
        scope,
        "monitoring/air.html",
        {"rows": rows, "days": days, "day": last, "categories": aqi.CATEGORIES},
    )


# --- cameras --------------------------------------------------------------------------------


async def cameras_view(session: AsyncSession, scope: Scope) -> list[dict[str, Any]]:
    rows, sources = await cameras.list_cameras(session, scope)
    return [
        {
            "camera": c,
            "town": scope.directory.by_id[c.tenant_id].name,
            "source": sources[c.source_id].name if c.source_id in sources else None,
            "online": cameras.is_online(c),
            "event": c.last_event or {},
            "snapshot": (c.last_event or {}).get("snapshotId"),
        }
        for c in rows
    ]


@page()
async def camera_list(request: Request, scope: Scope) -> Response:
    rows = await read(request, cameras_view)
    return _render(request, scope, "monitoring/cameras.html", {"rows": rows})


@page()
async def snapshot(request: Request, scope: Scope) -> Response:
    """A camera's snapshot (an attachment), as /console/attachments/{id} serves it."""
    return await attachment_response(request, request.path_params["attachment_id"])


# --- quarantine -----------------------------------------------------------------------------


async def quarantine_view(session: AsyncSession, scope: Scope) -> dict[str, Any]:
    return {
        "packets": await monitoring.quarantined(session, scope, None, 200),
        "events": await cameras.quarantined(session, scope, None, 200),
    }


@page(Permission.QUARANTINE_READ)
async def quarantine(request: Request, scope: Scope) -> Response:
    found = await read(request, quarantine_view)
    return _render(
        request, scope, "monitoring/quarantine.html", {**found, "REASONS": QUARANTINE_REASONS}
    )


ROUTES = [
    Route("/monitoring", points),
    Route("/monitoring/points/{point_id}", point_chart),
    Route("/monitoring/air", air),
    Route("/monitoring/cameras", camera_list),
    Route("/monitoring/snapshots/{attachment_id}", snapshot),
    Route("/monitoring/quarantine", quarantine),
]
