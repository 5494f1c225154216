"""Alarm episodes become cases: an over-limit or offline episode is one MONITORING report,
registered through the same intake path as every other channel, so that one episode is one
case (and a second alarm at the same source joins the case already open about it); the end of
an episode is written on the case's timeline.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.auth import Principal, Scope
from hub.cases import inputs, intake, timeline
from hub.cases.enums import Category, Channel, EventKind
from hub.cases.model import Case
from hub.config import Settings, local_tz
from hub.metrics import ALARM_EPISODES
from hub.monitoring.alarms import Limit
from hub.monitoring.model import AlarmEpisode, AlarmKind, MonitoringPoint, PointKind
from hub.monitoring.pollutants import name_of
from hub.roles import Role

# Who registers alarm cases: the online-monitoring network itself.
MONITORING = Principal("hj212", "在线监控（HJ 212）", frozenset({Role.MONITOR}), ())

CATEGORY_OF_KIND = {
    PointKind.AIR_STATION: Category.AIR,
    PointKind.FLUE_GAS: Category.AIR,
    PointKind.WASTEWATER: Category.WATER,
    PointKind.NOISE: Category.NOISE,
    PointKind.OTHER: Category.OTHER,
}


@dataclass(frozen=True, slots=True)
class Trigger:
    """What opened an episode: the first alarming value (or, offline, the last data time)."""

    at: datetime
    value: float | None = None
    limit: Limit | None = None
    bound: float | None = None
    consecutive: int | None = None  # real-time values that made the streak; None: hourly


def external_id(
    point: MonitoringPoint, kind: AlarmKind, pollutant: str | None, at: datetime
) -> str:
    """Names the point, the pollutant and the episode (its start, UTC)."""
    what = pollutant or "-"
    return f"hj212:{point.mn}:{what}:{kind.lower()}:{at.strftime('%Y%m%dT%H%M%SZ')}"


async def open_episode(
    session: AsyncSession,
    scope: Scope,
    settings: Settings,
    point: MonitoringPoint,
    kind: AlarmKind,
    pollutant: str | None,
    trigger: Trigger,
) -> AlarmEpisode:
    """The open episode of (point, kind, pollutant), opening it (and registering its report)
    when there is none: safe to call twice."""
    existing = await open_episode_of(session, point.id, kind, pollutant)
    if existing is not None:
        return existing
    ext = external_id(point, kind, pollutant, trigger.at)
    title, text = _words(point, kind, pollutant, trigger)
    done = await intake.register(
        session,
        scope,
        inputs.RegisterInput(
            channel=Channel.MONITORING,
            title=title,
            description=text,
            category=CATEGORY_OF_KIND.get(PointKind(point.kind), Category.OTHER),
            external_id=ext,
            tenant_code=scope.directory.by_id[point.tenant_id].code,
            latitude=point.latitude,
            longitude=point.longitude,
            source_id=point.source_id,
            occurred_at=trigger.at,
            payload=_payload(point, kind, pollutant, trigger),
        ),
        tz=ZoneInfo(settings.timezone),
        prefix=settings.case_number_prefix,
    )
    limit = trigger.limit
    episode = AlarmEpisode(
        tenant_id=point.tenant_id,
        point_id=point.id,
        pollutant=pollutant,
        kind=kind.value,
        started_at=trigger.at,
        last_at=trigger.at,
        peak=trigger.value,
        limit=trigger.bound,
        unit=limit.unit if limit is not None else None,
        values=trigger.consecutive or (1 if trigger.value is not None else 0),
        external_id=ext,
        case_id=done.case.id,
    )
    session.add(episode)
    await session.flush()
    ALARM_EPISODES.labels(kind.value, "opened").inc()
    return episode


async def open_episode_of(
    session: AsyncSession, point_id: uuid.UUID, kind: AlarmKind, pollutant: str | None
) -> AlarmEpisode | None:
    query = select(AlarmEpisode).where(
        AlarmEpisode.point_id == point_id,
        AlarmEpisode.ended_at.is_(None),
        AlarmEpisode.kind == kind.value,
        AlarmEpisode.pollutant.is_(None)
        if pollutant is None
        else AlarmEpisode.pollutant == pollutant,
    )
    return await session.scalar(query.order_by(AlarmEpisode.started_at).limit(1))


async def end_episode(
    session: AsyncSession, episode: AlarmEpisode, at: datetime, point_name: str
) -> None:
    """Close the episode and say so on its case's timeline."""
    episode.ended_at = at
    ALARM_EPISODES.labels(episode.kind, "ended").inc()
    if episode.case_id is None:
        return
    case = await session.get(Case, episode.case_id)
    if case is None:
        return
    minutes = max(0, round((at - episode.started_at).total_seconds() / 60))
    if episode.kind == AlarmKind.OFFLINE:
        note = f"{point_name}恢复数据上传，离线约{minutes}分钟"
    else:
        unit = episode.unit or ""
        note = (
            f"{point_name}{name_of(episode.pollutant or '')}恢复达标：超标约{minutes}分钟，"
            f"{episode.values}个超标值，最高{_number(episode.peak)}{unit}"
            f"（限值{_number(episode.limit)}{unit}）"
        )
    data = {
        "episode": episode.external_id,
        "startedAt": episode.started_at.isoformat(),
        "endedAt": at.isoformat(),
        "peak": episode.peak,
        "values": episode.values,
    }
    await timeline.record(
        session, MONITORING, case, EventKind.ALARM_ENDED, case.status, case.status, note, data
    )


async def open_offline_episodes(
    session: AsyncSession, scope: Scope, settings: Settings, now: datetime
) -> int:
    """Open an offline episode for every device silent longer than the setting (devices never
    heard from are not installed yet, not offline)."""
    silent_since = now - timedelta(minutes=settings.offline_minutes)
    open_offline = select(AlarmEpisode.point_id).where(
        AlarmEpisode.kind == AlarmKind.OFFLINE.value, AlarmEpisode.ended_at.is_(None)
    )
    points = await session.scalars(
        select(MonitoringPoint).where(
            MonitoringPoint.last_seen_at.is_not(None),
            MonitoringPoint.last_seen_at < silent_since,
            MonitoringPoint.id.not_in(open_offline),
        )
    )
    opened = 0
    for point in points:
        assert point.last_seen_at is not None
        await open_episode(
            session, scope, settings, point, AlarmKind.OFFLINE, None, Trigger(point.last_seen_at)
        )
        opened += 1
    return opened


def _words(
    point: MonitoringPoint, kind: AlarmKind, pollutant: str | None, trigger: Trigger
) -> tuple[str, str]:
    when = trigger.at.astimezone(local_tz()).strftime("%Y-%m-%d %H:%M")
    if kind is AlarmKind.OFFLINE:
        return (
            f"{point.name}在线监控设备离线",
            f"{point.name}（MN {point.mn}）自{when}起未上传数据，请核查设备与传输链路。",
        )
    name = name_of(pollutant or "")
    unit = trigger.limit.unit if trigger.limit is not None and trigger.limit.unit else ""
    how = (
        f"连续{trigger.consecutive}个实时值超过限值" if trigger.consecutive else "小时均值超过限值"
    )
    return (
        f"{point.name}{name}超标",
        f"{point.name}（MN {point.mn}）{name}自{when}起{how}"
        f"{_number(trigger.bound)}{unit}，当前{_number(trigger.value)}{unit}。",
    )


def _payload(
    point: MonitoringPoint, kind: AlarmKind, pollutant: str | None, trigger: Trigger
) -> dict[str, Any]:
    return {
        "mn": point.mn,
        "pointId": str(point.id),
        "kind": kind.value,
        "pollutant": pollutant,
        "at": trigger.at.isoformat(),
        "value": trigger.value,
        "limit": trigger.bound,
        "unit": trigger.limit.unit if trigger.limit is not None else None,
        "consecutive": trigger.consecutive,
    }


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"
