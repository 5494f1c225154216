"""Simulated outfall and smokestack cameras for ``serve --demo`` (and the tests): a few cameras
registered at demo enterprises push events with drawn snapshots (shapes and text made with
Pillow: nothing real) through the real route, POST /ingest/video, as a recorder would.

    python -m connectors.video.simulator --url http://127.0.0.1:8000 --token MONITOR_TOKEN \\
        --camera CAM-LJ-001 --kind BLACK_SMOKE
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import io
import itertools
import logging
import random
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from PIL import Image, ImageDraw

log = logging.getLogger("connectors.video.simulator")

# What a simulated camera sends, in turn: mostly heartbeats and harmless events, now and then
# an alarm, so the demo shows cases opened, repeats joining them, and events only recorded.
PATTERN = (
    ("HEARTBEAT", None),
    ("MOTION_AT_NIGHT", 0.9),
    ("HEARTBEAT", None),
    ("BLACK_SMOKE", 0.93),
    ("BLACK_SMOKE", 0.88),
    ("DISCHARGE", 0.41),  # low confidence: recorded, no case
    ("HEARTBEAT", None),
    ("DISCHARGE", 0.87),
    ("OCCLUSION", None),
)
COLOURS = {
    "BLACK_SMOKE": (40, 40, 40),
    "DISCHARGE": (120, 90, 40),
    "OCCLUSION": (10, 10, 10),
    "MOTION_AT_NIGHT": (20, 30, 70),
    "OTHER": (90, 120, 90),
}


def draw_snapshot(camera_id: str, kind: str, at: datetime, *, size: int = 0) -> bytes:
    """A drawn JPEG: sky, ground, a stack or an outfall pipe, a plume of the event's colour and
    the camera's caption. ``size``: pad with noise to about this many bytes (benchmarks)."""
    width, height = 640, 360
    image = Image.new("RGB", (width, height), (150, 180, 210))
    pen = ImageDraw.Draw(image)
    pen.rectangle((0, 250, width, height), fill=(90, 110, 80))
    pen.rectangle((300, 90, 340, 250), fill=(160, 150, 140))  # the stack
    pen.rectangle((360, 230, 460, 245), fill=(110, 110, 110))  # the outfall pipe
    colour = COLOURS.get(kind, (200, 200, 200))
    rng = random.Random(f"{camera_id}{at.isoformat()}")
    for i in range(6):
        x, y, r = 320 + i * 30 + rng.randint(-8, 8), 80 - i * 8, 20 + i * 6
        pen.ellipse((x - r, y - r, x + r, y + r), fill=colour)
    if size:
        for _ in range(size // 12):
            x, y = rng.randrange(width), rng.randrange(height)
            pen.point((x, y), fill=(rng.randrange(256), rng.randrange(256), rng.randrange(256)))
    pen.rectangle((0, 0, width, 22), fill=(0, 0, 0))
    pen.text(
        (6, 5),
        f"{camera_id}  {at.strftime('%Y-%m-%d %H:%M:%S')}  {kind}  SIMULATED",
        fill=(255, 255, 255),
    )
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=85)
    return out.getvalue()


def event_body(
    camera_id: str, seq: int, kind: str, confidence: float | None, at: datetime, *, size: int = 0
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "eventId": f"SIM-{camera_id}-{at.strftime('%Y%m%d%H%M%S')}-{seq:06d}",
        "cameraId": camera_id,
        "at": at.isoformat(timespec="seconds"),
        "kind": kind,
    }
    if confidence is not None:
        body["confidence"] = confidence
    if kind != "HEARTBEAT":
        body["text"] = "模拟摄像头事件（演示）"
        body["snapshot"] = base64.b64encode(draw_snapshot(camera_id, kind, at, size=size)).decode()
    return body


async def push(
    client: httpx.AsyncClient, base_url: str, token: str, body: dict[str, Any]
) -> httpx.Response:
    return await client.post(
        f"{base_url}/ingest/video", json=body, headers={"Authorization": f"Bearer {token}"}
    )


@dataclass
class Cameras:
    base_url: str
    token: str
    camera_ids: Sequence[str]
    tz: ZoneInfo

    async def run(self, interval: float) -> None:
        seq = itertools.count(1)
        turns = itertools.cycle(PATTERN)
        async with httpx.AsyncClient(timeout=10) as client:
            while True:
                await asyncio.sleep(interval)
                kind, confidence = next(turns)
                for camera_id in self.camera_ids:
                    body = event_body(camera_id, next(seq), kind, confidence, datetime.now(self.tz))
                    try:
                        answer = await push(client, self.base_url, self.token, body)
                        log.info("camera %s %s: %s %s", camera_id, kind, answer.status_code,
                                 answer.json().get("caseNumber"))  # fmt: skip
                    except (httpx.HTTPError, ValueError) as exc:
                        log.warning("camera %s: %s", camera_id, exc)


async def register_demo_cameras(db: Any, limit: int = 3) -> list[str]:
    """Cameras at the first demo enterprises of different towns (idempotent: the same ids)."""
    from sqlalchemy import select
    from sqlalchemy.ext.asyncio import AsyncSession

    from hub.auth import system_scope
    from hub.cameras.service import CameraSpec, register_camera
    from hub.sources.model import Source
    from hub.uow import unit_of_work

    scope = await system_scope(db)
    async with db.session(scope.tenant_ids) as session:
        sources = list(await session.scalars(select(Source).order_by(Source.name)))
    # One per town first, then the towns' further enterprises (the benchmark asks for many).
    by_town: dict[Any, list[Source]] = {}
    for source in sources:
        by_town.setdefault(source.tenant_id, []).append(source)
    ranked = sorted(
        (
            (rank, town, source)
            for town, found in by_town.items()
            for rank, source in enumerate(found)
        ),
        key=lambda item: (item[0], scope.directory.by_id[item[1]].code),
    )
    ids = []
    for rank, town_id, source in ranked[:limit]:
        town = scope.directory.by_id[town_id].code
        camera_id = f"SIM-{town.upper()}-{rank + 1:03d}"
        spec = CameraSpec(
            camera_id=camera_id,
            name=f"{source.name}排放口摄像头（模拟）",
            tenant_code=town,
            source_id=str(source.id),
            outlet="总排口",
            latitude=source.latitude,
            longitude=source.longitude,
            live_view_url=None,  # a simulated camera has no recorder to watch live
        )

        async def work(session: AsyncSession, spec: CameraSpec = spec) -> None:
            await register_camera(session, scope, spec)

        await unit_of_work(db, scope.tenant_ids, work)
        ids.append(camera_id)
    return ids


@contextlib.asynccontextmanager
async def demo(state: dict[str, Any]) -> AsyncIterator[Cameras]:
    from connectors.video.settings import video_settings
    from hub.auth import issue_jwt

    settings = state["settings"]
    key = state.get("key") or settings.signing_key()
    vsettings = video_settings(state["runtime"])
    token = issue_jwt(key, "demo-video-simulator", ["MONITOR"], [], hours=24 * 365,
                      name="排污口视频（模拟）")  # fmt: skip
    ids = await register_demo_cameras(state["db"])
    sim = Cameras(settings.http_url, token, ids, ZoneInfo(settings.timezone))
    task = asyncio.create_task(sim.run(vsettings.demo_event_seconds))
    log.info("video simulator: %d cameras push to %s/ingest/video every %g s", len(ids),
             settings.http_url, vsettings.demo_event_seconds)  # fmt: skip
    try:
        yield sim
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _main(args: argparse.Namespace) -> None:
    tz = ZoneInfo("Asia/Shanghai")
    at = datetime.now(tz) - timedelta(seconds=1)
    body = event_body(args.camera, 1, args.kind, args.confidence, at)
    async with httpx.AsyncClient(timeout=10) as client:
        answer = await push(client, args.url, args.token, body)
    print(answer.status_code, answer.text)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="push one simulated camera event")
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--token", required=True, help="a MONITOR token")
    parser.add_argument("--camera", required=True)
    parser.add_argument("--kind", default="BLACK_SMOKE")
    parser.add_argument("--confidence", type=float, default=0.9)
    asyncio.run(_main(parser.parse_args()))
