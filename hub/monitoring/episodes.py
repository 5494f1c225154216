"""Alarm episodes, every rule of them: when an episode opens, continues and ends (the judge
of values, ``hub.monitoring.alarms``, stays pure; this module acts on its verdicts).

An over-limit or offline episode is one MONITORING report, registered through the same intake
path as every other channel, so that one episode is one case (and a second alarm at the same
source joins the case already open about it); the end of an episode is written on the case's
timeline. Over-limit episodes follow the judge's verdicts on every value the reading writer
stores (:class:`OverLimit`); offline ones are opened by the periodic check
(:func:`open_offline_episodes`) and ended when the device is heard from again
(:func:`end_offline_episodes`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.auth import Principal, Scope
from hub.cases import inputs, intake, timeline
from hub.cases.enums import Category, Channel, EventKind
from hub.cases.model import Case
from hub.config import Settings
from hub.db import utcnow
from hub.metrics import ALARM_EPISODES
from hub.monitoring.alarms import Limit, Verdict, Watch, judge
from hub.monitoring.model import AlarmEpisode, AlarmKind, Interval, MonitoringPoint, PointKind
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
    tz = ZoneInfo(settings.timezone)
    title, text = _words(point, kind, pollutant, trigger, tz)
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
        tz=tz,
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


Key = tuple[uuid.UUID, str]  # (point, pollutant) of an over-limit episode


class Reading(Protocol):
    """One value as the writer judges it (``hub.monitoring.writer.Sample``)."""

    @property
    def pollutant(self) -> str: ...
    @property
    def interval(self) -> Interval: ...
    @property
    def at(self) -> datetime: ...
    @property
    def value(self) -> float | None: ...
    @property
    def normal(self) -> bool: ...


class Watched(Protocol):
    """A point as the writer keeps it: its limits, and a detached row to open episodes on."""

    id: uuid.UUID
    name: str
    limits: dict[str, Limit]
    row: MonitoringPoint


@dataclass(slots=True)
class Staged:
    """One batch's transaction, and the alarm state it changed: taken over only after the
    batch commits."""

    session: AsyncSession
    scope: Scope
    settings: Settings
    watches: dict[Key, Watch] = field(default_factory=dict)
    episodes: dict[Key, AlarmEpisode | None] = field(default_factory=dict)  # None: ended


class OverLimit:
    """The over-limit alarm state of every (point, pollutant): the judge's watch and the open
    episode. A batch's changes are staged and only taken over after its commit, so a failed
    batch leaves the state as it was."""

    def __init__(self) -> None:
        self.watches: dict[Key, Watch] = {}
        self.episodes: dict[Key, AlarmEpisode] = {}

    async def load(self, session: AsyncSession) -> None:
        """Take over the episodes left open (by an earlier run, another process)."""
        rows = await session.scalars(
            select(AlarmEpisode).where(
                AlarmEpisode.ended_at.is_(None),
                AlarmEpisode.kind == AlarmKind.OVER_LIMIT.value,
            )
        )
        for episode in rows:
            key = (episode.point_id, episode.pollutant or "")
            self.episodes[key] = episode
            self.watches[key] = Watch(open=True)

    def take_over(self, staged: Staged) -> None:
        self.watches.update(staged.watches)
        for key, episode in staged.episodes.items():
            if episode is None:
                self.episodes.pop(key, None)
            else:
                self.episodes[key] = episode

    async def judge(self, staged: Staged, point: Watched, readings: Iterable[Reading]) -> None:
        """Judge a point's values in order; open, continue or end its episodes."""
        needed = staged.settings.alarm_consecutive
        for s in readings:
            limit = point.limits.get(s.pollutant)
            if limit is None:
                continue
            key = (point.id, s.pollutant)
            watch = staged.watches.get(key) or self.watches.get(key) or Watch()
            watch, verdict = judge(watch, s.interval, s.at, s.value, s.normal, limit, needed)
            staged.watches[key] = watch
            if verdict is not Verdict.NONE:
                await self._act(staged, point, s, limit, watch, verdict)

    async def _act(
        self,
        staged: Staged,
        point: Watched,
        s: Reading,
        limit: Limit,
        watch: Watch,
        verdict: Verdict,
    ) -> None:
        session, key = staged.session, (point.id, s.pollutant)
        if verdict is Verdict.START:
            trigger = Trigger(
                at=s.at,
                value=s.value,
                limit=limit,
                bound=limit.bound_for(s.value) if s.value is not None else None,
                consecutive=watch.streak if s.interval is Interval.REALTIME else None,
            )
            row = await session.merge(point.row, load=True)
            staged.episodes[key] = await open_episode(
                session,
                staged.scope,
                staged.settings,
                row,
                AlarmKind.OVER_LIMIT,
                s.pollutant,
                trigger,
            )
            return
        episode = staged.episodes[key] if key in staged.episodes else self.episodes.get(key)
        if episode is None:
            episode = await open_episode_of(session, point.id, AlarmKind.OVER_LIMIT, s.pollutant)
            if episode is None:
                return
        episode = await session.merge(episode, load=True)
        staged.episodes[key] = episode
        if verdict is Verdict.CONTINUE:
            continue_episode(episode, s.at, s.value, limit)
            return
        await end_episode(session, episode, s.at, point.name)
        staged.episodes[key] = None


def continue_episode(
    episode: AlarmEpisode, at: datetime, value: float | None, limit: Limit
) -> None:
    """One more alarming value: the episode lasts longer, and its peak is the worst value."""
    episode.last_at = max(episode.last_at, at)
    episode.values += 1
    if value is not None and (episode.peak is None or _worse(value, episode, limit)):
        episode.peak = value


def _worse(value: float, episode: AlarmEpisode, limit: Limit) -> bool:
    """Further from the bound than the peak: higher above a maximum, lower below a minimum."""
    assert episode.peak is not None
    above = limit.max is not None and value > limit.max
    return value > episode.peak if above else value < episode.peak


async def end_offline_episodes(
    session: AsyncSession,
    settings: Settings,
    quiet_before: Mapping[uuid.UUID, datetime | None],
    names: Mapping[uuid.UUID, str],
) -> None:
    """Points heard from again after more than the offline limit of silence (``quiet_before``:
    when each was last heard from before now) are back: end their offline episode, if any."""
    window = timedelta(minutes=settings.offline_minutes)
    for point_id, seen in quiet_before.items():
        if seen is None or utcnow() - seen < window:
            continue
        episode = await open_episode_of(session, point_id, AlarmKind.OFFLINE, None)
        if episode is not None:
            await end_episode(session, episode, utcnow(), names[point_id])


def _words(
    point: MonitoringPoint, kind: AlarmKind, pollutant: str | None, trigger: Trigger, tz: ZoneInfo
) -> tuple[str, str]:
    when = trigger.at.astimezone(tz).strftime("%Y-%m-%d %H:%M")
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
