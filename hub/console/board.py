"""The command centre's big screen, /console/board: the grid map, today's intake per network,
cards, air quality, devices offline and the longest-overdue cases, kept live through the
caseEvents subscription.

- `/console/board`: the page (dark, for a wall screen); static/board.js draws it.
- `/console/board/data.json`: every figure, from the same services as GraphQL's
  `supervisionBoard`, `caseStats`, `cardCounts`, `monitoringPoints`, `airQuality`, `cameras`.
- `/console/board/grid.geojson`: the towns' and cells' polygons (hub/grid), for ECharts' map.
- `/console/board/socket-token` (POST, CSRF): a short-lived read-only JWT for the subscription
  socket (docs/console.md, "The command centre").
"""

from __future__ import annotations

import asyncio
import time as clock
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hub.airquality import aqi
from hub.auth import Scope, issue_jwt
from hub.cameras import service as cameras
from hub.cases.enums import CHANNEL_LABELS, Channel
from hub.db import utcnow
from hub.events import changes as case_changes
from hub.grid.service import list_cells
from hub.monitoring import service as monitoring
from hub.monitoring.model import PointKind
from hub.roles import Permission, Role
from hub.supervision import stats

from .web import console_of, page, read, render

# The four networks of 三网合一 in the order the screen shows them.
NETWORKS = (Channel.HOTLINE, Channel.PLATFORM, Channel.MONITORING, Channel.GRID)
OVERDUE_SHOWN = 10
SOCKET_TOKEN_MINUTES = 15  # the socket closes at the token's expiry; the page reconnects


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


def local_day(tz: ZoneInfo, now: datetime | None = None) -> tuple[date, datetime, datetime]:
    """Today in local time and its [start, end) as aware datetimes."""
    day = (now or utcnow()).astimezone(tz).date()
    start = datetime.combine(day, time(0), tz)
    return day, start, datetime.combine(day + timedelta(days=1), time(0), tz)


async def _towns(session: AsyncSession, scope: Scope) -> list[dict[str, Any]]:
    by_id = scope.directory.by_id
    return [
        {
            "code": by_id[r.tenant_id].code,
            "name": by_id[r.tenant_id].name,
            "open": r.open,
            "overdue": r.overdue,
            "dueSoon": r.due_soon,
            "yellowCards": r.yellow,
            "redCards": r.red,
        }
        for r in await stats.board(session, scope)
    ]


async def _cells(session: AsyncSession, scope: Scope) -> list[dict[str, Any]]:
    return [
        {"id": str(c.cell_id), "open": c.open, "overdue": c.overdue}
        for c in await stats.cell_counts(session, scope)
    ]


async def _today(
    session: AsyncSession, scope: Scope, start: datetime, end: datetime
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Today's intake per network and the cards issued today."""
    per_channel = {
        r.key: r.total
        for r in await stats.case_stats(session, scope, start, end, stats.StatsGroup.CHANNEL)
    }
    intake = [
        {"channel": c.value, "label": CHANNEL_LABELS[c], "count": per_channel.get(c.value, 0)}
        for c in NETWORKS
    ]
    issued = await stats.card_counts(session, scope, start, end, stats.CardGroup.TENANT)
    cards = {"todayYellow": sum(c.yellow for c in issued), "todayRed": sum(c.red for c in issued)}
    return intake, cards


async def _overdue(session: AsyncSession, scope: Scope, now: datetime) -> list[dict[str, Any]]:
    by_id = scope.directory.by_id
    return [
        {
            "number": c.number,
            "title": c.title,
            "town": by_id[c.tenant_id].name,
            "dueAt": _iso(c.due_at),
            "overdueHours": round((now - c.due_at).total_seconds() / 3600, 1) if c.due_at else 0,
        }
        for c in await stats.longest_overdue(session, scope, OVERDUE_SHOWN)
    ]


async def _devices(
    session: AsyncSession, scope: Scope, day: date, now: datetime, tz: ZoneInfo
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Today's AQI per air station, and the points and cameras offline."""
    by_id = scope.directory.by_id
    points = await monitoring.list_points(session, scope)
    air = []
    for p in points:
        if p.kind != PointKind.AIR_STATION:
            continue
        found = await monitoring.daily_air_quality(session, scope, str(p.id), day, tz)
        air.append(air_entry(p.id, p.name, by_id[p.tenant_id].name, found))
    camera_rows, _ = await cameras.list_cameras(session, scope)
    devices = {
        "points": len(points),
        "cameras": len(camera_rows),
        "offlinePoints": [
            {
                "mn": p.mn,
                "name": p.name,
                "town": by_id[p.tenant_id].name,
                "lastSeenAt": _iso(p.last_seen_at),
            }
            for p in points
            if not monitoring.is_online(p, now)
        ],
        "offlineCameras": [
            {
                "cameraId": c.camera_id,
                "name": c.name,
                "town": by_id[c.tenant_id].name,
                "lastSeenAt": _iso(c.last_seen_at),
            }
            for c in camera_rows
            if not cameras.is_online(c)
        ],
    }
    return air, devices


Reader = Callable[..., Awaitable[Any]]  # (service, *args): the service in a session of its own


async def figures(read_part: Reader, tz: ZoneInfo) -> dict[str, Any]:
    """Every figure of the board, through the services; the independent parts are read at
    the same time, each in a session of its own (scoped to the caller's towns)."""
    now = utcnow()
    day, start, end = local_day(tz, now)
    towns, cells, (intake, issued), overdue, (air, devices) = await asyncio.gather(
        read_part(_towns),
        read_part(_cells),
        read_part(_today, start, end),
        read_part(_overdue, now),
        read_part(_devices, day, now, tz),
    )
    cards = {
        "openYellow": sum(t["yellowCards"] for t in towns),
        "openRed": sum(t["redCards"] for t in towns),
        **issued,
    }
    return {
        "generatedAt": now.isoformat(),
        "day": day.isoformat(),
        "towns": towns,
        "cells": cells,
        "intake": intake,
        "intakeTotal": sum(i["count"] for i in intake),
        "cards": cards,
        "air": air,
        "devices": devices,
        "overdue": overdue,
    }


def air_entry(
    point_id: uuid.UUID, name: str, town: str, found: aqi.AirQuality | None
) -> dict[str, Any]:
    """One station's AQI of a day with its HJ 633 category and colour (none: no valid data)."""
    if found is None:
        return {"pointId": str(point_id), "name": name, "town": town, "aqi": None}
    return {
        "pointId": str(point_id),
        "name": name,
        "town": town,
        "aqi": found.aqi,
        "category": found.category.name,
        "level": found.category.level,
        "colour": found.category.hex,
        "primary": [p.name for p in found.primary_pollutants],
    }


async def grid_features(session: AsyncSession, scope: Scope) -> dict[str, Any]:
    """The caller's towns' cells with a polygon as a GeoJSON FeatureCollection (lon, lat);
    `level` 2 is a town's outline, 3 a village or community cell."""
    features = []
    for cell in await list_cells(session, scope, None):
        if cell.polygon is None or not cell.active or not scope.sees(cell.tenant_id):
            continue
        tenant = scope.directory.by_id[cell.tenant_id]
        features.append(
            {
                "type": "Feature",
                "id": str(cell.id),
                "properties": {
                    "key": str(cell.id),
                    "name": cell.name,
                    "code": cell.code,
                    "level": cell.level,
                    "town": tenant.code,
                    "townName": tenant.name,
                },
                "geometry": cell.polygon,
            }
        )
    return {"type": "FeatureCollection", "features": features}


# --- one computation for every screen ------------------------------------------------------------

FIGURES_TTL = 5.0  # seconds; devices and air quality move without case events


@dataclass
class Shared:
    made: int  # the generation when the computation started
    at: float  # monotonic start
    task: asyncio.Task[dict[str, Any]]


class FiguresCache:
    """The board's figures shared by the screens that see the same towns (50 wall screens cost
    one computation per change, not 50): a result, or a computation under way, is used only if
    no case change committed since it started and it is younger than FIGURES_TTL. The
    computation is a task of its own: a screen that goes away does not cancel it for others."""

    def __init__(self) -> None:
        self._entries: dict[tuple[str, ...], Shared] = {}

    async def get(
        self, key: tuple[str, ...], compute: Callable[[], Awaitable[dict[str, Any]]]
    ) -> dict[str, Any]:
        now, made = clock.monotonic(), case_changes.value
        found = self._entries.get(key)
        usable = found is not None and found.made == made and now - found.at < FIGURES_TTL
        failed = (
            found is not None
            and found.task.done()
            and (found.task.cancelled() or found.task.exception() is not None)
        )
        if found is None or not usable or failed:
            found = Shared(made, now, asyncio.ensure_future(compute()))
            self._entries[key] = found
        return await asyncio.shield(found.task)


# --- pages ---------------------------------------------------------------------------------------


@page()
async def board(request: Request, scope: Scope) -> Response:
    tz = console_of(request).runtime.tz
    return render(request, "board.html", {"socket_minutes": SOCKET_TOKEN_MINUTES, "tz": tz.key})


@page()
async def board_data(request: Request, scope: Scope) -> Response:
    console = console_of(request)
    cache = getattr(request.app.state, "board_figures", None)
    if cache is None:
        cache = request.app.state.board_figures = FiguresCache()
    found = await cache.get(
        tuple(sorted(str(t) for t in scope.tenant_ids)),
        lambda: figures(partial(read, request), console.runtime.tz),
    )
    return JSONResponse(found, headers={"Cache-Control": "no-store"})


@page(Permission.GRID_READ)
async def grid_geojson(request: Request, scope: Scope) -> Response:
    found = await read(request, grid_features)
    return JSONResponse(
        found, media_type="application/geo+json", headers={"Cache-Control": "private, max-age=60"}
    )


def socket_token(key: str, scope: Scope, minutes: float = SOCKET_TOKEN_MINUTES) -> str:
    """A JWT for the board's subscription socket: the signed-in person's name and towns, but
    the read-only VIEWER role only (it can read, never change anything, if it leaked), valid
    for a few minutes. A town's account keeps its towns; a city-wide one stays city-wide."""
    principal = scope.principal
    return issue_jwt(
        key,
        f"board:{principal.id}",
        [Role.VIEWER.value],
        list(principal.tenant_codes),
        hours=minutes / 60,
        name=principal.name,
    )


@page()
async def board_socket_token(request: Request, scope: Scope) -> Response:
    token = socket_token(console_of(request).key, scope)
    return JSONResponse(
        {"token": token, "expiresInSeconds": SOCKET_TOKEN_MINUTES * 60},
        headers={"Cache-Control": "no-store"},
    )


ROUTES = [
    Route("/board", board),
    Route("/board/data.json", board_data),
    Route("/board/grid.geojson", grid_geojson),
    Route("/board/socket-token", board_socket_token, methods=["POST"]),
]
