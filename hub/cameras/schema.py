"""GraphQL: the camera registry (registerCamera, cameras, quarantinedVideoEvents)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from hub.cameras import service
from hub.cameras.model import Camera as CameraRow
from hub.cameras.model import QuarantinedVideoEvent as HeldRow
from hub.gql import Context, UserError
from hub.sources.model import Source as SourceRow
from hub.sources.schema import Source

Info = strawberry.Info[Context, None]


@strawberry.type(description="A camera's newest event (heartbeats aside).")
class CameraEvent:
    kind: str = strawberry.field(
        description="DISCHARGE BLACK_SMOKE OCCLUSION MOTION_AT_NIGHT OFFLINE OTHER"
    )
    at: datetime
    case_number: str | None = strawberry.field(description="The case it opened or joined")
    snapshot_id: str | None = strawberry.field(description="Its snapshot (an attachment)")


@strawberry.type(description="An outfall or smokestack camera, by the id its recorder gives it.")
class Camera:
    id: strawberry.ID
    camera_id: str
    name: str
    tenant_code: str
    source: Source | None
    outlet: str | None
    latitude: float | None
    longitude: float | None
    live_view_url: str | None = strawberry.field(
        description="The recorder's live view, opened by the console in a new tab (never proxied)"
    )
    online: bool = strawberry.field(
        description="Heard from (an event or heartbeat) and not marked offline since"
    )
    last_seen_at: datetime | None
    last_event_at: datetime | None
    last_event: CameraEvent | None


def camera_node(info: Info, row: CameraRow, source: SourceRow | None) -> Camera:
    last = row.last_event
    return Camera(
        id=strawberry.ID(str(row.id)),
        camera_id=row.camera_id,
        name=row.name,
        tenant_code=info.context.scope.directory.by_id[row.tenant_id].code,
        source=Source.of(source) if source is not None else None,
        outlet=row.outlet,
        latitude=row.latitude,
        longitude=row.longitude,
        live_view_url=row.live_view_url,
        online=service.is_online(row),
        last_seen_at=row.last_seen_at,
        last_event_at=row.last_event_at,
        last_event=CameraEvent(
            kind=str(last["kind"]),
            at=datetime.fromisoformat(last["at"]),
            case_number=last.get("caseNumber"),
            snapshot_id=last.get("snapshotId"),
        )
        if last
        else None,
    )


@strawberry.type(description="An event held back: its camera id is not registered.")
class QuarantinedVideoEvent:
    id: strawberry.ID
    event_id: str
    camera_id: str
    kind: str
    at: datetime
    received_at: datetime
    snapshot_id: str | None
    released_at: datetime | None = strawberry.field(
        description="When registering the camera recorded it on the camera"
    )


def held_node(row: HeldRow) -> QuarantinedVideoEvent:
    return QuarantinedVideoEvent(
        id=strawberry.ID(str(row.id)),
        event_id=row.event_id,
        camera_id=row.camera_id,
        kind=str(row.event.get("kind")),
        at=datetime.fromisoformat(row.event["at"]),
        received_at=row.received_at,
        snapshot_id=row.event.get("snapshotId"),
        released_at=row.released_at,
    )


@strawberry.type
class Query:
    @strawberry.field(
        description="The cameras the caller sees, by camera id; tenantCode narrows to one "
        "tenant and the tenants below it."
    )
    async def cameras(self, info: Info, tenant_code: str | None = None) -> list[Camera]:
        rows, sources = await info.context.read(service.list_cameras, tenant_code)
        return [
            camera_node(info, r, sources.get(r.source_id) if r.source_id else None) for r in rows
        ]

    @strawberry.field(
        description="Events held back from unregistered cameras, newest first (MONITOR, "
        "ADMIN); registering the camera id records them on the camera."
    )
    async def quarantined_video_events(
        self, info: Info, camera_id: str | None = None, first: int = 50
    ) -> list[QuarantinedVideoEvent]:
        rows = await info.context.read(service.quarantined, camera_id, first)
        return [held_node(r) for r in rows]


@strawberry.input(description="A camera to register; the same cameraId again updates it.")
class CameraInput:
    camera_id: str = strawberry.field(description="The id the recorder sends in its events")
    name: str
    tenant_code: str
    source_id: strawberry.ID | None = None
    latitude: float | None = None
    longitude: float | None = None
    live_view_url: str | None = None
    outlet: str | None = strawberry.field(
        default=None, description="The outlet or stack it watches (排放口)"
    )


@strawberry.type
class CameraResult:
    camera: Camera


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="Register a camera by its cameraId, or update it (ADMIN, MONITOR; a "
        "town-scoped MONITOR for its own town only)."
    )
    async def register_camera(
        self, info: Info, input: CameraInput
    ) -> Annotated[CameraResult | UserError, strawberry.union("CameraMutationResult")]:
        spec = service.CameraSpec(
            camera_id=input.camera_id,
            name=input.name,
            tenant_code=input.tenant_code,
            source_id=str(input.source_id) if input.source_id is not None else None,
            outlet=input.outlet,
            latitude=input.latitude,
            longitude=input.longitude,
            live_view_url=input.live_view_url,
        )
        ctx = info.context
        done = await ctx.write(service.register_camera, spec)
        if isinstance(done, UserError):
            return done
        source = await ctx.read(service.source_of, done.source_id)
        return CameraResult(camera=camera_node(info, done, source))
