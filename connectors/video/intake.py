"""POST /ingest/video: one camera event as JSON -> stored on its camera (or quarantined), its
snapshot kept by content hash, judged by the rules (``hub.cameras``). Answers as the other
ingest routes: 201 new, 200 an eventId seen before, 409 a seen eventId with other content, 422
naming the field (413 for a snapshot over the size cap), 403 a camera of a town the token does
not see. Nothing is stored for a refused event."""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from connectors.ingest import (
    OffsetTime,
    Problem,
    Refused,
    Text,
    answer_refusal,
    authorize,
    decode,
    invalid,
    problem_of,
    read_body,
)
from connectors.video import snapshots
from connectors.video.settings import VideoSettings, video_settings
from hub.attachments.model import Attachment
from hub.attachments.service import AttachmentRefused, store_attachment
from hub.attachments.storage import BlobStore
from hub.auth import Scope
from hub.cameras import service
from hub.cameras.service import EventIn, Policy, SeenOtherwise, Taken
from hub.db import Database, utcnow
from hub.errors import DomainError, ErrorCode
from hub.roles import Permission
from hub.uow import Conflict, unit_of_work

log = logging.getLogger("connectors.video")

Kind = Literal[
    "DISCHARGE", "BLACK_SMOKE", "OCCLUSION", "MOTION_AT_NIGHT", "HEARTBEAT", "OFFLINE", "OTHER"
]
OLDEST = timedelta(days=30)  # an event older than this is a clock fault, not a late delivery


class VideoEvent(BaseModel):
    """The contract's event. Unknown fields are ignored (a recorder's own extras)."""

    model_config = ConfigDict(extra="ignore", frozen=True, allow_inf_nan=False)

    event_id: Text = Field(alias="eventId", max_length=100)
    camera_id: Text = Field(alias="cameraId", max_length=64)
    at: OffsetTime
    kind: Kind
    text: Annotated[str, Strict()] | None = Field(None, max_length=2000)
    confidence: Annotated[float, Strict()] | None = Field(None, ge=0, le=1)
    snapshot: Annotated[str, Strict()] | None = None
    snapshot_url: Annotated[str, Strict()] | None = Field(
        None, alias="snapshotUrl", max_length=1000
    )


def parse(payload: dict[str, Any], now: datetime, settings: VideoSettings) -> VideoEvent:
    try:
        event = VideoEvent.model_validate(payload)
    except ValidationError as exc:
        raise Refused(422, [problem_of(e) for e in exc.errors(include_url=False)]) from None
    at = event.at.astimezone(UTC)
    if at > now + timedelta(seconds=settings.future_skew_seconds):
        raise invalid("at", "事件时间不能晚于当前时间（请核对录像机时钟）")
    if at < now - OLDEST:
        raise invalid("at", f"事件时间早于 {OLDEST.days} 天前（请核对录像机时钟）")
    if event.snapshot and event.snapshot_url:
        raise invalid("snapshotUrl", "snapshot 与 snapshotUrl 只能给出其一")
    return event


def digest_of(event: VideoEvent, snapshot_sha: str | None) -> str:
    """The event's content: the same eventId with another digest is a conflict (409)."""
    content = {
        "cameraId": event.camera_id.strip(),
        "at": event.at.astimezone(UTC).isoformat(),
        "kind": event.kind,
        "text": event.text,
        "confidence": event.confidence,
        "snapshot": snapshot_sha,
        "snapshotUrl": event.snapshot_url,
    }
    text = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def answer(taken: Taken) -> dict[str, Any]:
    body: dict[str, Any] = {
        "eventId": taken.event_id,
        "caseId": str(taken.case.id) if taken.case is not None else None,
        "caseNumber": taken.case.number if taken.case is not None else None,
        "snapshotId": taken.snapshot_id,
    }
    if taken.quarantined:
        body["quarantined"] = True
    if taken.outcome is not None:
        body["outcome"] = taken.outcome
    return body


async def ingest(
    db: Database,
    scope: Scope,
    settings: VideoSettings,
    policy: Policy,
    store: BlobStore,
    raw: bytes,
    now: datetime,
    peer: str | None = None,
    rows: KnownRows | None = None,
) -> tuple[int, dict[str, Any]]:
    event = parse(decode(raw), now, settings)
    everyone = tuple(scope.directory.by_id)  # the caller's right to the camera is checked inside

    async def seen_before(session: AsyncSession) -> tuple[str, Any] | None:
        return await service.seen(session, event.event_id.strip())

    # A repeat with a snapshotUrl is answered without fetching it again.
    snapshot = None
    if event.snapshot is not None:
        snapshot = snapshots.from_base64(event.snapshot, settings)
    elif event.snapshot_url is not None:
        async with db.session(everyone) as session:
            before = await seen_before(session)
        if before is None:
            snapshot = await snapshots.fetch(event.snapshot_url, settings)
    # A URL's event is the same event by its URL (the picture behind it is not fetched twice).
    digest = digest_of(event, snapshot.sha256 if snapshot and event.snapshot else None)
    item = EventIn(
        event_id=event.event_id.strip(),
        camera_id=event.camera_id.strip(),
        at=event.at.astimezone(UTC),
        kind=event.kind,
        text=(event.text or "").strip() or None,
        confidence=event.confidence,
        digest=digest,
        snapshot_sha256=snapshot.sha256 if snapshot else None,
        extra={"snapshotUrl": event.snapshot_url} if event.snapshot_url else {},
    )

    if snapshot is not None:
        # The blob first, outside the transaction (named by its content: idempotent, and a
        # refused event's blob is what a retry would store again); remembered once there.
        await store.put(snapshot.sha256, snapshot.data, "image/jpeg")

    made: list[Attachment] = []

    async def keep(session: AsyncSession, tenant_id: uuid.UUID) -> Attachment:
        assert snapshot is not None
        # The hub's attachments: the row in this transaction (a refused event leaves none);
        # a row committed before is known by (town, sender, sha256) without asking.
        known = (
            rows.get(tenant_id, scope.principal.id, snapshot.sha256) if rows is not None else None
        )
        if known is not None:
            return known
        row = await store_attachment(
            session, store, data=snapshot.data, uploaded_by=scope.principal.id,
            tenant_id=tenant_id, max_bytes=settings.max_snapshot_bytes, blob_stored=True,
        )  # fmt: skip
        made.append(row)
        return row

    async def work(session: AsyncSession) -> Taken:
        made.clear()  # a retried attempt: the rolled-back rows are not remembered
        return await service.take_event(
            session, scope, policy, item, peer, keep if snapshot is not None else None
        )

    try:
        taken = await unit_of_work(db, everyone, work)
    except AttachmentRefused as exc:  # checked already; the hub's own checks agree or refuse
        raise Refused(422, [Problem("snapshot", exc.message)]) from None
    except SeenOtherwise as exc:
        raise Refused(409, [Problem("eventId", exc.message)], "CONFLICT") from None
    except DomainError as exc:
        status = 403 if exc.code == ErrorCode.FORBIDDEN else 422
        code = "FORBIDDEN" if status == 403 else "VALIDATION"
        raise Refused(status, [Problem(exc.field or "body", exc.message)], code) from None
    except Conflict:
        raise Refused(
            409, [Problem("eventId", "与同时进行的提交冲突，请重试")], "CONFLICT"
        ) from None
    if rows is not None:
        for row in made[-1:]:  # committed: the last attempt's row
            rows.remember(row)
    status = 202 if taken.quarantined and taken.created else (201 if taken.created else 200)
    return status, answer(taken)


class KnownRows:
    """Attachment rows committed by this process, by (town, sender, sha256): a still scene's
    picture sent again and again is linked without looking its row up (rows are never
    deleted; a row is remembered only after its transaction committed). Bounded."""

    def __init__(self, limit: int = 50_000) -> None:
        self.limit = limit
        self._rows: dict[tuple[uuid.UUID, str, str], Attachment] = {}

    def get(self, tenant_id: uuid.UUID, uploaded_by: str, sha256: str) -> Attachment | None:
        return self._rows.get((tenant_id, uploaded_by, sha256))

    def remember(self, row: Attachment) -> None:
        if len(self._rows) >= self.limit:
            self._rows.clear()
        # A plain copy (never added to a session): what linking it reads.
        self._rows[(row.tenant_id, row.uploaded_by, row.sha256)] = Attachment(
            id=row.id, tenant_id=row.tenant_id, sha256=row.sha256, size=row.size,
            content_type=row.content_type, uploaded_by=row.uploaded_by,
            uploaded_at=row.uploaded_at,
        )  # fmt: skip


def routes(state: dict[str, Any]) -> list[BaseRoute]:
    db, runtime, key = state["db"], state["runtime"], state["key"]
    settings = video_settings(runtime)
    policy = settings.policy(runtime.settings)
    store = snapshots.blob_store(runtime.settings)
    rows = KnownRows()

    async def endpoint(request: Request) -> Response:
        scope = await authorize(request, db, key, Permission.INGEST_MONITORING, "视频监控事件")
        if not isinstance(scope, Scope):
            return scope
        peer = request.client.host if request.client else None
        try:
            status, body = await ingest(
                db,
                scope,
                settings,
                policy,
                store,
                await read_body(request),
                utcnow(),
                peer,
                rows,
            )
        except Refused as refused:
            log.info(
                "video event refused: %s %s",
                refused.status,
                ",".join(p.field for p in refused.problems),
            )
            return answer_refusal(refused)
        return JSONResponse(body, status_code=status)

    return [Route("/ingest/video", endpoint, methods=["POST"])]
