"""The camera registry (registerCamera, cameras) and what becomes of a camera's events: stored
on the camera, an alarm case opened or joined by the rules (``hub.cameras.rules``), events of
unknown cameras held in quarantine, silent cameras marked offline and, later, a case.

Alarm episodes follow the monitoring network's rules (``hub.monitoring.episodes``): one open
episode per camera and kind; a new episode joins the case still open about the same camera and
kind instead of opening a second one; repeats within the repeat window only add to the open
case (no timeline line each, so a camera firing every few seconds cannot flood a case).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from hub.attachments import service as attachments
from hub.attachments.model import Attachment, OwnerKind
from hub.audit import service as audit
from hub.auth import Principal, Scope, scope_for
from hub.cameras.model import Camera, CameraEpisode, CameraEvent, QuarantinedVideoEvent
from hub.cameras.rules import KIND_NAMES, EventKind, Outcome, Rule, judge
from hub.cases import inputs, intake, timeline
from hub.cases.duplicates import Rules as DuplicateRules
from hub.cases.enums import OPEN_STATUSES, Category, Channel
from hub.cases.enums import EventKind as CaseEventKind
from hub.cases.model import Case
from hub.db import utcnow
from hub.errors import DomainError, ErrorCode, invalid, missing, not_found, unknown_town
from hub.roles import Permission, Role, require
from hub.sources.model import Source
from hub.tenancy.service import Directory
from hub.validation import check_point, parse_id

# Who registers camera cases: the video network itself (city-wide; the caller's right to the
# camera is checked before).
VIDEO = Principal("video", "排污口视频监控", frozenset({Role.MONITOR}), ())

CAMERA_ID_MAX = 64
NAME_MAX = 200
URL_MAX = 1000
OFFLINE_KIND = "OFFLINE"  # the episode kind of a silent camera


@dataclass(frozen=True)
class CameraSpec:
    camera_id: str
    name: str
    tenant_code: str
    source_id: str | None = None
    outlet: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    live_view_url: str | None = None


@dataclass(frozen=True)
class CameraSheetRow:
    """A row of the import workbook's sheet 摄像头: the enterprise by its credit code."""

    tenant_code: str
    camera_id: str
    name: str
    source_credit_code: str | None = None
    outlet: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    live_view_url: str | None = None


CHANGES_KEY = "grid.admin.changes"  # hub.grid.admin's counter of what an import did


@dataclass(frozen=True)
class Policy:
    """The video connector's settings as the service needs them."""

    rules: Mapping[str, Rule]
    repeat_window: timedelta
    offline_after: timedelta
    offline_case_after: timedelta
    tz: ZoneInfo
    prefix: str
    duplicates: DuplicateRules


@dataclass(frozen=True)
class EventIn:
    """One event as parsed from the route (times aware; the snapshot already stored)."""

    event_id: str
    camera_id: str
    at: datetime
    kind: str
    text: str | None
    confidence: float | None
    digest: str
    snapshot_id: str | None = None
    snapshot_sha256: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


# Keeps an event's snapshot as an attachment of the given town (in the caller's transaction).
Keep = Callable[[AsyncSession, uuid.UUID], Awaitable[Attachment]]


@dataclass(frozen=True)
class Taken:
    created: bool
    event_id: str
    case: Case | None = None
    snapshot_id: str | None = None
    quarantined: bool = False
    outcome: str | None = None


class SeenOtherwise(DomainError):
    """The event id was taken before with other content (409)."""

    def __init__(self, event_id: str) -> None:
        super().__init__(
            ErrorCode.CONFLICT, f"eventId {event_id} 此前已收到，且内容不同", "eventId"
        )


def is_online(camera: Camera) -> bool:
    """Heard from, and not marked offline since (by the offline check, or the recorder)."""
    return camera.offline_since is None and camera.last_seen_at is not None


# --- the registry --------------------------------------------------------------------------------


def check_camera_id(value: str) -> str:
    text = value.strip()
    if not text:
        raise missing("cameraId")
    if len(text) > CAMERA_ID_MAX or not text.isprintable():
        raise invalid("cameraId", f"摄像头编号不能超过 {CAMERA_ID_MAX} 个字符，且不能含控制字符")
    return text


def _check_url(value: str | None) -> str | None:
    text = (value or "").strip()
    if not text:
        return None
    if len(text) > URL_MAX or not text.startswith(("http://", "https://", "rtsp://")):
        raise invalid("liveViewUrl", "实时视频地址须为 http://、https:// 或 rtsp:// 开头的链接")
    return text


def _check_name(value: str, name: str, limit: int = NAME_MAX) -> str:
    text = value.strip()
    if not text:
        raise missing(name)
    if len(text) > limit or "\x00" in text:
        raise invalid(name, f"不能超过 {limit} 个字符")
    return text


async def register_camera(session: AsyncSession, scope: Scope, spec: CameraSpec) -> Camera:
    """Register a camera by the id its recorder gives it, or update the one registered under
    it (the caller must see its town, and the camera's present town); releases the events
    held in quarantine for that id."""
    require(scope, Permission.CAMERA_REGISTER)
    camera_id = check_camera_id(spec.camera_id)
    name = _check_name(spec.name, "name")
    tenant = scope.directory.by_code.get(spec.tenant_code.strip())
    if tenant is None or not scope.sees(tenant.id):
        raise unknown_town("tenantCode", spec.tenant_code)
    check_point(spec.latitude, spec.longitude)
    live = _check_url(spec.live_view_url)
    outlet = _check_name(spec.outlet, "outlet") if spec.outlet and spec.outlet.strip() else None
    source = await _source_for(session, tenant.id, spec.source_id)
    camera = await session.scalar(
        select(Camera)
        .where(Camera.camera_id == camera_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    created = camera is None
    if camera is None:
        camera = Camera(camera_id=camera_id, tenant_id=tenant.id)
        session.add(camera)
    moved_from = None if created or camera.tenant_id == tenant.id else camera.tenant_id
    camera.tenant_id = tenant.id
    camera.name = name
    camera.source_id = source.id if source is not None else None
    camera.outlet = outlet
    camera.latitude, camera.longitude = spec.latitude, spec.longitude
    camera.live_view_url = live
    if created:
        try:  # taken in a town the caller does not see: a refusal naming the field
            async with session.begin_nested():
                await session.flush()
        except IntegrityError:
            raise invalid("cameraId", "该摄像头编号已被登记（属其他乡镇）") from None
    else:
        await session.flush()
    released = await release_quarantine(session, camera)
    data = {
        "cameraId": camera_id,
        "name": name,
        "tenant": tenant.code,
        "sourceId": str(camera.source_id) if camera.source_id else None,
        "outlet": outlet,
        "latitude": spec.latitude,
        "longitude": spec.longitude,
        "liveViewUrl": live,
        "releasedEvents": released,
    }
    if moved_from is not None:
        data["movedFrom"] = scope.directory.by_id[moved_from].code
    action = "camera.register" if created else "camera.update"
    await audit.append(session, tenant.id, scope.principal, action, "camera", camera.id, data)
    return camera


async def save_camera_row(session: AsyncSession, scope: Scope, row: CameraSheetRow) -> Camera:
    """``sanwang import``'s sheet 摄像头: registerCamera with the enterprise named by its
    credit code (one saved by the same import included)."""
    from hub.sources.service import by_credit_code

    source_id = None
    if row.source_credit_code:
        source = await by_credit_code(session, row.source_credit_code.strip())
        if source is None:
            raise invalid(
                "sourceCreditCode", f"没有统一社会信用代码为 {row.source_credit_code} 的企业"
            )
        if source.id is None:  # saved by this import, not flushed yet
            await session.flush()
        source_id = str(source.id)
    existing = await session.scalar(select(Camera.id).where(Camera.camera_id == row.camera_id))
    try:
        camera = await register_camera(
            session,
            scope,
            CameraSpec(
                camera_id=row.camera_id, name=row.name, tenant_code=row.tenant_code,
                source_id=source_id, outlet=row.outlet, latitude=row.latitude,
                longitude=row.longitude, live_view_url=row.live_view_url,
            ),
        )  # fmt: skip
    except DomainError as exc:
        if exc.field == "sourceId":
            raise DomainError(exc.code, exc.message, "sourceCreditCode") from None
        raise
    counts = session.info.setdefault(CHANGES_KEY, {})
    action = "cameras.camera_updated" if existing else "cameras.camera_created"
    counts[action] = counts.get(action, 0) + 1
    return camera


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
        raise invalid("sourceId", "污染源与摄像头不属于同一乡镇")
    return source


async def list_cameras(
    session: AsyncSession, scope: Scope, tenant_code: str | None = None
) -> tuple[list[Camera], dict[uuid.UUID, Source]]:
    """The cameras the caller sees (optionally of one tenant and those below it), with the
    sources they watch."""
    query = select(Camera).order_by(Camera.camera_id)
    if tenant_code is not None:
        tenant = scope.directory.by_code.get(tenant_code)
        if tenant is None or not scope.sees(tenant.id):
            raise unknown_town("tenantCode", tenant_code)
        query = query.where(Camera.tenant_id.in_(scope.directory.subtree(tenant.id)))
    cameras = list(await session.scalars(query))
    ids = {c.source_id for c in cameras if c.source_id is not None}
    sources = {}
    if ids:
        sources = {s.id: s for s in await session.scalars(select(Source).where(Source.id.in_(ids)))}
    return cameras, sources


async def source_of(
    session: AsyncSession, scope: Scope, source_id: uuid.UUID | None
) -> Source | None:
    return await session.get(Source, source_id) if source_id is not None else None


async def quarantined(
    session: AsyncSession, scope: Scope, camera_id: str | None, first: int
) -> list[QuarantinedVideoEvent]:
    require(scope, Permission.QUARANTINE_READ)
    query = select(QuarantinedVideoEvent).order_by(QuarantinedVideoEvent.received_at.desc())
    if camera_id:
        query = query.where(QuarantinedVideoEvent.camera_id == camera_id)
    return list(await session.scalars(query.limit(max(1, min(first, 200)))))


async def release_quarantine(session: AsyncSession, camera: Camera) -> int:
    """Events held for a camera registered now are recorded on it (late: they open no case;
    their snapshots are kept)."""
    held = list(
        await session.scalars(
            select(QuarantinedVideoEvent).where(
                QuarantinedVideoEvent.camera_id == camera.camera_id,
                QuarantinedVideoEvent.released_at.is_(None),
            )
        )
    )
    now = utcnow()
    for row in held:
        e = row.event
        released = CameraEvent(
            tenant_id=camera.tenant_id,
            event_id=row.event_id,
            camera_id=camera.id,
            kind=e["kind"],
            at=datetime.fromisoformat(e["at"]),
            received_at=row.received_at,
            text=e.get("text"),
            confidence=e.get("confidence"),
            snapshot_id=e.get("snapshotId"),
            snapshot_sha256=e.get("snapshotSha256"),
            digest=row.digest,
            outcome=Outcome.RECORDED,
            reason="摄像头登记前收到的事件，登记时补记，不立案",
        )
        session.add(released)
        row.released_at = now
        snapshot = parse_id(e.get("snapshotId"))
        kept = await session.get(Attachment, snapshot) if snapshot is not None else None
        if kept is not None:
            await session.flush()
            linked = await attachments.link_attachment(
                session, kept, kind=OwnerKind.CAMERA_EVENT, owner_id=released.id,
                tenant_id=camera.tenant_id, actor=VIDEO,
            )  # fmt: skip
            released.snapshot_id = str(linked.id)
    if held:
        await session.flush()
    return len(held)


# --- events ------------------------------------------------------------------------------------


async def camera_by_id(session: AsyncSession, camera_id: str) -> Camera | None:
    return await session.scalar(select(Camera).where(Camera.camera_id == camera_id))


async def seen(session: AsyncSession, event_id: str) -> tuple[str, Any] | None:
    """(digest, answer row) of an event id taken before, on a camera or in quarantine: one
    statement asks both tables (a new event, the common case, costs one round trip); the row
    is read only for an id seen before."""
    on_camera = select(CameraEvent.digest).where(CameraEvent.event_id == event_id)
    held = select(QuarantinedVideoEvent.digest).where(QuarantinedVideoEvent.event_id == event_id)
    found = (
        await session.execute(select(on_camera.scalar_subquery(), held.scalar_subquery()))
    ).one()
    if found[0] is not None:
        event = await session.scalar(select(CameraEvent).where(CameraEvent.event_id == event_id))
        if event is not None:
            return event.digest, event
    if found[1] is not None:
        row = await session.scalar(
            select(QuarantinedVideoEvent).where(QuarantinedVideoEvent.event_id == event_id)
        )
        if row is not None:
            return row.digest, row
    return None


async def take_event(
    session: AsyncSession,
    scope: Scope,
    policy: Policy,
    event: EventIn,
    peer: str | None = None,
    keep: Keep | None = None,
) -> Taken:
    """Store one event (in the caller's transaction): a seen id answers as before (or
    ``SeenOtherwise``); an unknown camera's event goes to quarantine; a known camera's event is
    recorded and judged. ``scope`` is the caller's: a camera of a town it does not see is
    refused (FORBIDDEN)."""
    require(scope, Permission.INGEST_MONITORING)
    before = await seen(session, event.event_id)
    if before is not None:
        digest, row = before
        if digest != event.digest:
            raise SeenOtherwise(event.event_id)
        return await _answer_seen(session, row)
    camera = await session.scalar(
        select(Camera).where(Camera.camera_id == event.camera_id).with_for_update()
    )
    if camera is None:
        city = scope.directory.city
        kept = await keep(session, city.id) if keep is not None and city is not None else None
        return await _quarantine(session, _with(event, kept), peer)
    if not scope.sees(camera.tenant_id):
        raise DomainError(
            ErrorCode.FORBIDDEN, f"摄像头 {event.camera_id} 不属于令牌所辖乡镇", "cameraId"
        )
    kept = await keep(session, camera.tenant_id) if keep is not None else None
    return await _record(session, scope, policy, camera, _with(event, kept), kept)


def _with(event: EventIn, kept: Attachment | None) -> EventIn:
    if kept is None:
        return event
    return EventIn(
        **{**event.__dict__, "snapshot_id": str(kept.id), "snapshot_sha256": kept.sha256}
    )


async def _answer_seen(session: AsyncSession, row: Any) -> Taken:
    if isinstance(row, QuarantinedVideoEvent):
        snapshot = row.event.get("snapshotId")
        return Taken(False, row.event_id, None, snapshot, quarantined=row.released_at is None)
    case = await session.get(Case, row.case_id) if row.case_id is not None else None
    return Taken(False, row.event_id, case, row.snapshot_id, outcome=row.outcome)


async def _quarantine(session: AsyncSession, event: EventIn, peer: str | None) -> Taken:
    held = QuarantinedVideoEvent(
        event_id=event.event_id,
        camera_id=event.camera_id,
        peer=peer,
        digest=event.digest,
        event={
            "kind": event.kind,
            "at": event.at.isoformat(),
            "text": event.text,
            "confidence": event.confidence,
            "snapshotId": event.snapshot_id,
            "snapshotSha256": event.snapshot_sha256,
            **event.extra,
        },
    )
    session.add(held)
    await session.flush()
    return Taken(True, event.event_id, None, event.snapshot_id, quarantined=True)


async def _record(
    session: AsyncSession,
    scope: Scope,
    policy: Policy,
    camera: Camera,
    event: EventIn,
    kept: Attachment | None = None,
) -> Taken:
    now = utcnow()
    verdict = judge(policy.rules, event.kind, event.confidence)
    quiet_since = camera.last_seen_at
    was_offline = camera.offline_since is not None
    back = event.kind != EventKind.OFFLINE and (
        was_offline or (quiet_since is not None and now - quiet_since > policy.offline_after)
    )
    # The episode's queries first, the changes after: one INSERT of the event and one UPDATE
    # of the camera at the flush (not an autoflushed half and a second UPDATE).
    if back:
        await _end_offline(session, camera, now)
    case: Case | None = None
    outcome = verdict.outcome or Outcome.RECORDED
    if verdict.alarm:
        case, outcome = await _alarm(session, policy, scope.directory, camera, event)
    row = CameraEvent(
        tenant_id=camera.tenant_id,
        event_id=event.event_id,
        camera_id=camera.id,
        kind=event.kind,
        at=event.at,
        received_at=now,
        text=event.text,
        confidence=event.confidence,
        snapshot_id=event.snapshot_id,
        snapshot_sha256=event.snapshot_sha256,
        digest=event.digest,
        outcome=outcome,
        reason=verdict.reason,
        case_id=case.id if case is not None else None,
    )
    session.add(row)
    camera.last_seen_at = now
    if event.kind == EventKind.OFFLINE:
        camera.offline_since = camera.offline_since or now
    else:
        camera.offline_since = None
    newest = camera.last_event_at is None or event.at >= camera.last_event_at
    if event.kind != EventKind.HEARTBEAT and newest:
        camera.last_event_at = event.at
        camera.last_event = {
            "kind": event.kind,
            "at": event.at.isoformat(),
            "caseNumber": case.number if case is not None else None,
            "snapshotId": event.snapshot_id,
        }
    await session.flush()
    if kept is not None:  # the snapshot on the event and on its case, sha256 on their trails
        await attachments.link_attachment(
            session, kept, kind=OwnerKind.CAMERA_EVENT, owner_id=row.id,
            tenant_id=camera.tenant_id, actor=scope.principal, fresh=True,
        )  # fmt: skip
        if case is not None:
            await attachments.link_attachment(
                session, kept, kind=OwnerKind.CASE, owner_id=case.id,
                tenant_id=case.tenant_id, actor=VIDEO,
            )  # fmt: skip
    return Taken(True, event.event_id, case, event.snapshot_id, outcome=row.outcome)


async def _open_episode(
    session: AsyncSession, camera_id: uuid.UUID, kind: str
) -> CameraEpisode | None:
    return await session.scalar(
        select(CameraEpisode)
        .where(
            CameraEpisode.camera_id == camera_id,
            CameraEpisode.kind == kind,
            CameraEpisode.ended_at.is_(None),
        )
        .limit(1)
    )


async def _open_case(session: AsyncSession, camera_id: uuid.UUID, kind: str) -> Case | None:
    """The case still open about an earlier episode of (camera, kind)."""
    return await session.scalar(
        select(Case)
        .join(CameraEpisode, CameraEpisode.case_id == Case.id)
        .where(
            CameraEpisode.camera_id == camera_id,
            CameraEpisode.kind == kind,
            Case.status.in_([s.value for s in OPEN_STATUSES]),
        )
        .order_by(CameraEpisode.started_at.desc())
        .limit(1)
    )


async def _alarm(
    session: AsyncSession, policy: Policy, directory: Directory, camera: Camera, event: EventIn
) -> tuple[Case, Outcome]:
    """An alarming event: added to the open episode within the repeat window; otherwise a new
    episode, on the case still open about camera and kind, or on a case of its own."""
    episode = await _open_episode(session, camera.id, event.kind)
    if episode is not None and episode.case_id is not None:
        case = await session.get(Case, episode.case_id)
        within = event.at - episode.last_at <= policy.repeat_window
        if case is not None and within and case.status in {s.value for s in OPEN_STATUSES}:
            episode.last_at = max(episode.last_at, event.at)
            episode.events += 1
            return case, Outcome.REPEATED
    if episode is not None:
        episode.ended_at = event.at if event.at > episode.last_at else episode.last_at
    case = await _open_case(session, camera.id, event.kind)
    title, text = _words(camera, event, policy.tz)
    data = _payload(camera, event)
    if case is not None:
        await timeline.record(
            session, VIDEO, case, CaseEventKind.ALARM_REPEATED, case.status, case.status, text, data
        )
        outcome = Outcome.JOINED
    else:
        case = await _register(session, policy, directory, camera, event, title, text, data)
        outcome = Outcome.OPENED
    session.add(
        CameraEpisode(
            tenant_id=camera.tenant_id,
            camera_id=camera.id,
            kind=event.kind,
            started_at=event.at,
            last_at=event.at,
            case_id=case.id,
        )
    )
    return case, outcome


async def _register(
    session: AsyncSession,
    policy: Policy,
    found: Directory,
    camera: Camera,
    event: EventIn | None,
    title: str,
    text: str,
    data: dict[str, Any],
    *,
    kind: str | None = None,
    at: datetime | None = None,
) -> Case:
    scope = scope_for(VIDEO, found)
    rule = policy.rules.get(kind or (event.kind if event else ""), Rule())
    done = await intake.register(
        session,
        scope,
        inputs.RegisterInput(
            channel=Channel.MONITORING,
            title=title,
            description=text,
            category=Category(rule.category),
            external_id=f"video:{event.event_id}" if event else data["episode"],
            tenant_code=found.by_id[camera.tenant_id].code,
            latitude=camera.latitude,
            longitude=camera.longitude,
            source_id=camera.source_id,
            occurred_at=event.at if event else at,
            payload=data,
        ),
        tz=policy.tz,
        prefix=policy.prefix,
        rules=policy.duplicates,
    )
    # The intake writes a new case at the next flush; the episode that follows names it by a
    # plain foreign key (no relationship for the flush to order by), so the case goes first.
    await session.flush()
    return done.case


def _where(camera: Camera) -> str:
    return f"{camera.name}（{camera.outlet}）" if camera.outlet else camera.name


def _words(camera: Camera, event: EventIn, tz: ZoneInfo) -> tuple[str, str]:
    name = KIND_NAMES.get(event.kind, event.kind)
    when = event.at.astimezone(tz).strftime("%Y-%m-%d %H:%M")
    sure = f"，置信度{event.confidence:g}" if event.confidence is not None else ""
    said = f"：{event.text}" if event.text else ""
    return (
        f"{camera.name}视频监控发现{name}",
        f"{_where(camera)}（摄像头 {camera.camera_id}）{when}{name}{sure}{said}。"
        + ("抓拍图片见附件。" if event.snapshot_id else ""),
    )


def _payload(camera: Camera, event: EventIn) -> dict[str, Any]:
    return {
        "cameraId": camera.camera_id,
        "eventId": event.event_id,
        "kind": event.kind,
        "at": event.at.isoformat(),
        "confidence": event.confidence,
        "text": event.text,
        "snapshotId": event.snapshot_id,
        "snapshotSha256": event.snapshot_sha256,
    }


# --- silence -----------------------------------------------------------------------------------


async def _end_offline(session: AsyncSession, camera: Camera, now: datetime) -> None:
    episode = await _open_episode(session, camera.id, OFFLINE_KIND)
    if episode is None:
        return
    episode.ended_at = now
    case = await session.get(Case, episode.case_id) if episode.case_id else None
    if case is None:
        return
    minutes = max(0, round((now - episode.started_at).total_seconds() / 60))
    note = f"{camera.name}（摄像头 {camera.camera_id}）恢复在线，离线约{minutes}分钟"
    data = {"cameraId": camera.camera_id, "endedAt": now.isoformat()}
    await timeline.record(
        session, VIDEO, case, CaseEventKind.ALARM_ENDED, case.status, case.status, note, data
    )


async def check_offline(
    session: AsyncSession, scope: Scope, policy: Policy, now: datetime
) -> tuple[int, int]:
    """Cameras silent past ``offline_after`` are marked offline; past ``offline_case_after``
    they open an OFFLINE case (one open episode per camera; cameras never heard from are not
    installed yet). (marked, opened)."""
    marked = await session.execute(
        update(Camera)
        .where(
            Camera.offline_since.is_(None),
            Camera.last_seen_at.is_not(None),
            Camera.last_seen_at < now - policy.offline_after,
        )
        .values(offline_since=now)
        .execution_options(synchronize_session=False)
    )
    open_offline = select(CameraEpisode.camera_id).where(
        CameraEpisode.kind == OFFLINE_KIND, CameraEpisode.ended_at.is_(None)
    )
    # Silent since the last event or heartbeat, or reported OFFLINE by its recorder since.
    cutoff = now - policy.offline_case_after
    silent = await session.scalars(
        select(Camera).where(
            Camera.last_seen_at.is_not(None),
            or_(Camera.last_seen_at < cutoff, Camera.offline_since < cutoff),
            Camera.id.not_in(open_offline),
        )
    )
    opened = 0
    for camera in silent:
        assert camera.last_seen_at is not None
        began = min(t for t in (camera.last_seen_at, camera.offline_since) if t is not None)
        since = began.astimezone(policy.tz).strftime("%Y-%m-%d %H:%M")
        ext = f"video:{camera.camera_id}:offline:{began.strftime('%Y%m%dT%H%M%SZ')}"
        title = f"{camera.name}视频监控离线"
        text = (
            f"{_where(camera)}（摄像头 {camera.camera_id}）自{since}起离线"
            "（无事件和心跳，或录像机报告摄像头离线），请核查摄像头、录像机与网络。"
        )
        data = {"cameraId": camera.camera_id, "kind": OFFLINE_KIND, "episode": ext,
                "since": began.isoformat()}  # fmt: skip
        case = await _open_case(session, camera.id, OFFLINE_KIND)
        if case is None:
            case = await _register(
                session, policy, scope.directory, camera, None, title, text, data, kind="OTHER",
                at=began,
            )  # fmt: skip
        else:
            await timeline.record(
                session, VIDEO, case, CaseEventKind.ALARM_REPEATED, case.status, case.status,
                text, data,
            )  # fmt: skip
        session.add(
            CameraEpisode(
                tenant_id=camera.tenant_id,
                camera_id=camera.id,
                kind=OFFLINE_KIND,
                started_at=began,
                last_at=began,
                case_id=case.id,
            )
        )
        opened += 1
    await session.flush()
    return int(getattr(marked, "rowcount", 0) or 0), opened
