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

import logging
import math
import secrets
import uuid
from collections.abc import Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.airquality import alarms as air_alarms
from hub.auth import Principal, Scope
from hub.cases import inputs, intake, timeline
from hub.cases.duplicates import Rules
from hub.cases.enums import OPEN_STATUSES, Category, Channel, EventKind
from hub.cases.model import Case, Report
from hub.config import Settings
from hub.db import utcnow
from hub.metrics import ALARM_EPISODES
from hub.monitoring.alarms import Limit, Verdict, Watch, judge
from hub.monitoring.model import AlarmEpisode, AlarmKind, Interval, MonitoringPoint, PointKind
from hub.monitoring.pollutants import name_of
from hub.roles import Role

log = logging.getLogger("hub.monitoring.episodes")

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
    concentration: float | None = None  # the value as measured (``value`` may be its IAQI)
    interval: Interval | None = None


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
    """The open episode of (point, kind, pollutant), opening it when there is none: safe to
    call twice. A new episode joins the case still open about the same point and pollutant
    (one open case per point and pollutant, source or not); only when there is none does it
    register a report of its own."""
    existing = await open_episode_of(session, point.id, kind, pollutant)
    if existing is not None:
        return existing
    ext = await _free_external_id(session, external_id(point, kind, pollutant, trigger.at))
    case = await open_case_of(session, point.id, kind, pollutant)
    if case is None:
        case = await _register(session, scope, settings, point, kind, pollutant, trigger, ext)
    else:
        tz = ZoneInfo(settings.timezone)
        await _note_repeat(session, case, point, kind, pollutant, trigger, ext, tz)
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
        case_id=case.id,
    )
    session.add(episode)
    await session.flush()
    ALARM_EPISODES.labels(kind.value, "opened").inc()
    return episode


async def _free_external_id(session: AsyncSession, ext: str) -> str:
    """``ext``, or a variant of it when a report already holds it: the id is predictable (point,
    pollutant, start), so anyone allowed to register MONITORING reports could claim it first,
    and an episode that starts again at the same second after a restart (a resent backfill)
    must not collide with its earlier self. Either way the new episode still gets its case."""
    taken = await session.scalar(
        select(Report.id)
        .where(Report.channel == Channel.MONITORING, Report.external_id == ext)
        .limit(1)
    )
    return ext if taken is None else f"{ext}:{secrets.token_hex(4)}"


async def open_case_of(
    session: AsyncSession, point_id: uuid.UUID, kind: AlarmKind, pollutant: str | None
) -> Case | None:
    """The case still open about an earlier episode of (point, kind, pollutant), if any."""
    query = (
        select(Case)
        .join(AlarmEpisode, AlarmEpisode.case_id == Case.id)
        .where(
            AlarmEpisode.point_id == point_id,
            AlarmEpisode.kind == kind.value,
            _pollutant_is(pollutant),
            Case.status.in_([s.value for s in OPEN_STATUSES]),
        )
        .order_by(AlarmEpisode.started_at.desc())
        .limit(1)
    )
    return await session.scalar(query)


def _pollutant_is(pollutant: str | None) -> ColumnElement[bool]:
    if pollutant is None:
        return AlarmEpisode.pollutant.is_(None)
    return AlarmEpisode.pollutant == pollutant


async def _register(
    session: AsyncSession,
    scope: Scope,
    settings: Settings,
    point: MonitoringPoint,
    kind: AlarmKind,
    pollutant: str | None,
    trigger: Trigger,
    ext: str,
) -> Case:
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
        rules=Rules.of(settings),
    )
    return done.case


async def _note_repeat(
    session: AsyncSession,
    case: Case,
    point: MonitoringPoint,
    kind: AlarmKind,
    pollutant: str | None,
    trigger: Trigger,
    ext: str,
    tz: ZoneInfo,
) -> None:
    """A new episode of what the open case is already about: a line on its timeline, not a
    second case in the queue."""
    _, text = _words(point, kind, pollutant, trigger, tz)
    data = {"episode": ext, **_payload(point, kind, pollutant, trigger)}
    await timeline.record(
        session, MONITORING, case, EventKind.ALARM_REPEATED, case.status, case.status, text, data
    )


async def note_late(
    session: AsyncSession,
    point: MonitoringPoint,
    pollutant: str,
    trigger: Trigger,
    tz: ZoneInfo,
) -> bool:
    """An episode seen only in late data (a backfill, a device catching up after an outage) is
    over by now: it opens no case, but the case open about the point and pollutant, if any,
    hears of it. True when it was written on a case."""
    case = await open_case_of(session, point.id, AlarmKind.OVER_LIMIT, pollutant)
    if case is None:
        return False
    _, text = _words(point, AlarmKind.OVER_LIMIT, pollutant, trigger, tz)
    data = {"late": True, **_payload(point, AlarmKind.OVER_LIMIT, pollutant, trigger)}
    await timeline.record(
        session, MONITORING, case, EventKind.ALARM_LATE, case.status, case.status,
        f"补传数据：{text}", data,
    )  # fmt: skip
    return True


async def open_episode_of(
    session: AsyncSession, point_id: uuid.UUID, kind: AlarmKind, pollutant: str | None
) -> AlarmEpisode | None:
    query = select(AlarmEpisode).where(
        AlarmEpisode.point_id == point_id,
        AlarmEpisode.ended_at.is_(None),
        AlarmEpisode.kind == kind.value,
        _pollutant_is(pollutant),
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


IAQI_UNIT = "IAQI"  # an air station's episode counts in individual AQI, not concentrations
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
        """Judge a point's values in order; open, continue or end its episodes. Values older
        than the alarm age (a backfill) are judged too, so the state is right when live values
        follow, but an episode they start is over already: it opens no case."""
        settings = staged.settings
        late_before = utcnow() - timedelta(hours=settings.alarm_max_age_hours)
        measure = _air_measure(settings) if point.row.kind == PointKind.AIR_STATION else None
        staged_watches, watches, realtime = staged.watches, self.watches, Interval.REALTIME
        for s in readings:
            judged = _limit_measure(point, s) if measure is None else measure(s)
            if judged is None:
                continue
            value, limit = judged
            key = (point.id, s.pollutant)
            before = staged_watches.get(key) or watches.get(key) or Watch()
            if (
                s.interval is realtime
                and not before.open
                and not before.streak
                and value is not None
                and s.normal
                and not limit.breached_by(value)
            ):  # most values: within the limit, nothing running; judge() would say the same
                last = before.last_realtime
                staged_watches[key] = (
                    Watch(0, False, s.at) if last is None or s.at > last else before
                )
                continue
            watch, verdict = judge(
                before, s.interval, s.at, value, s.normal, limit, settings.alarm_consecutive
            )
            staged.watches[key] = watch
            if verdict is Verdict.NONE:
                continue
            late = s.at < late_before
            if late and verdict is not Verdict.CONTINUE:
                if verdict is Verdict.START:  # an END of late data ends nothing live
                    work = self._late(staged, point, s, _trigger(s, value, limit, watch))
                    await guarded(staged, point.name, work, key, before)
                continue
            work = self._act(staged, point, s, value, limit, watch, verdict, late=late)
            await guarded(staged, point.name, work, key, before)

    @staticmethod
    async def _late(staged: Staged, point: Watched, s: Reading, trigger: Trigger) -> None:
        row = await staged.session.merge(point.row, load=True)
        tz = ZoneInfo(staged.settings.timezone)
        await note_late(staged.session, row, s.pollutant, trigger, tz)

    async def _act(
        self,
        staged: Staged,
        point: Watched,
        s: Reading,
        value: float | None,
        limit: Limit,
        watch: Watch,
        verdict: Verdict,
        *,
        late: bool = False,
    ) -> None:
        """``late``: a value older than the alarm age continuing an episode; it may continue
        an open one, never open one."""
        session, key = staged.session, (point.id, s.pollutant)
        episode = staged.episodes[key] if key in staged.episodes else self.episodes.get(key)
        if episode is None and verdict is not Verdict.START:
            episode = await open_episode_of(session, point.id, AlarmKind.OVER_LIMIT, s.pollutant)
        if episode is None and (verdict is Verdict.END or late):
            return
        if episode is None:  # a START, or a live value continuing what late data started
            row = await session.merge(point.row, load=True)
            staged.episodes[key] = await open_episode(
                session,
                staged.scope,
                staged.settings,
                row,
                AlarmKind.OVER_LIMIT,
                s.pollutant,
                _trigger(s, value, limit, watch),
            )
            return
        episode = await session.merge(episode, load=True)
        staged.episodes[key] = episode
        if verdict is Verdict.END:
            await end_episode(session, episode, s.at, point.name)
            staged.episodes[key] = None
            return
        continue_episode(episode, s.at, value, limit)


Measure = tuple[float | None, Limit]


def _limit_measure(point: Watched, s: Reading) -> Measure | None:
    """Stacks and outfalls: the value against the point's limit (24-hour means are not
    judged: the hourly ones already were)."""
    limit = point.limits.get(s.pollutant)
    if limit is None or s.interval is Interval.DAY:
        return None
    return s.value, limit


def _air_measure(settings: Settings) -> Callable[[Reading], Measure | None]:
    """Air stations: the IAQI of hourly and 24-hour means against the alarm category's
    threshold (``hub.airquality.alarms``); real-time values are not judged."""
    threshold = air_alarms.alarm_threshold(settings.air_alarm_category)
    limit = Limit(max=threshold, unit=IAQI_UNIT)
    tz = ZoneInfo(settings.timezone)  # the day whose HJ 633 edition applies

    def measure(s: Reading) -> Measure | None:
        if s.interval not in (Interval.HOUR, Interval.DAY) or s.value is None:
            return None
        if not math.isfinite(s.value) or s.value < 0:  # sensor drift: stored, has no index
            return None
        day = s.at.astimezone(tz).date()
        index = air_alarms.alarm_index(s.pollutant, s.interval is Interval.DAY, s.value, day)
        return None if index is None else (float(index), limit)

    return measure


def _trigger(s: Reading, value: float | None, limit: Limit, watch: Watch) -> Trigger:
    return Trigger(
        at=s.at,
        value=value,
        limit=limit,
        bound=limit.bound_for(value) if value is not None else None,
        consecutive=watch.streak if s.interval is Interval.REALTIME else None,
        concentration=s.value,
        interval=s.interval,
    )


async def guarded(
    staged: Staged,
    what: str,
    work: Coroutine[Any, Any, None],
    key: Key | None = None,
    watch: Watch | None = None,
) -> bool:
    """Run one piece of alarm bookkeeping in a savepoint of its own. If it fails it is logged
    and rolled back alone, with the staged state of ``key`` (the watch back to ``watch``,
    the state before the value: the next value is judged again from there); the readings of
    the batch, and every other point's alarms, are not touched. False when it failed."""
    episode = staged.episodes.get(key, _ABSENT) if key is not None else _ABSENT
    try:
        async with staged.session.begin_nested():
            await work
    except Exception:
        log.exception("alarm bookkeeping for %s failed; its readings are stored", what)
        if key is not None and watch is not None:
            staged.watches[key] = watch
            if episode is _ABSENT:
                staged.episodes.pop(key, None)
            else:
                staged.episodes[key] = episode
        return False
    return True


_ABSENT: Any = object()


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
    if trigger.limit is not None and trigger.limit.unit == IAQI_UNIT:
        return _air_words(point, name, when, trigger)
    unit = trigger.limit.unit if trigger.limit is not None and trigger.limit.unit else ""
    how = (
        f"连续{trigger.consecutive}个实时值超过限值" if trigger.consecutive else "小时均值超过限值"
    )
    return (
        f"{point.name}{name}超标",
        f"{point.name}（MN {point.mn}）{name}自{when}起{how}"
        f"{_number(trigger.bound)}{unit}，当前{_number(trigger.value)}{unit}。",
    )


def _air_words(point: MonitoringPoint, name: str, when: str, trigger: Trigger) -> tuple[str, str]:
    span = "24小时均值" if trigger.interval is Interval.DAY else "小时均值"
    index = round(trigger.value or 0)
    return (
        f"{point.name}{name}污染",
        f"{point.name}（MN {point.mn}）{name}{when}起{span}{_number(trigger.concentration)}，"
        f"空气质量分指数{index}（{air_alarms.category_name(index)}），"
        f"超过报警阈值{_number(trigger.bound)}。",
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
        "concentration": trigger.concentration,
        "interval": trigger.interval.value if trigger.interval is not None else None,
    }


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"
