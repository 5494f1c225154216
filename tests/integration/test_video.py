"""Outfall video (issue 17) against the live app, on every backend: the camera registry
(RegisterCamera, Cameras), POST /ingest/video (201/200/409/422/413/403, quarantine), what the
rules make of events (cases opened, joined, repeats added, events only recorded), snapshots by
URL from a loopback server, silent cameras going offline and back, and the demo's simulated
cameras through the real route. Every refusal stores nothing."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from sqlalchemy import func, select, update

from connectors.video.jobs import check_cameras
from connectors.video.settings import video_settings
from connectors.video.simulator import draw_snapshot, event_body, register_demo_cameras
from hub.app import create_app
from hub.attachments.model import Attachment, AttachmentLink
from hub.cameras.model import Camera, CameraEvent, QuarantinedVideoEvent
from hub.config import Settings
from hub.db import Database
from hub.runtime import Runtime
from hub.sources.model import Source
from tests.conftest import Hub
from tests.helpers import refused, snapshot
from tests.operations import op

URL = "/ingest/video"
TZ8 = "+08:00"


@contextlib.asynccontextmanager
async def live(db: Database, settings: Settings, tmp: Path, **video: Any) -> AsyncIterator[Hub]:
    settings = settings.model_copy(update={"attachments_dir": tmp / "attachments"})
    app = create_app(Runtime.start(settings, db, overrides={"video": video}))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://hub.test") as http:
        yield Hub(app, db, settings, http)


@pytest.fixture
async def vhub(db: Database, settings: Settings, tmp_path: Path) -> AsyncIterator[Hub]:
    """The app with loopback snapshot URLs allowed (the tests' recorder listens on 127.0.0.1)
    and a short fetch timeout."""
    async with live(
        db, settings, tmp_path, allow_private_urls=True, fetch_timeout_seconds=0.5
    ) as h:
        yield h


def jpeg(colour: tuple[int, int, int] = (200, 30, 30), size: tuple[int, int] = (64, 48)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, format="JPEG")
    return out.getvalue()


def now_local(minutes: float = 0) -> str:
    at = datetime.now(UTC) + timedelta(minutes=minutes)
    return at.astimezone().isoformat(timespec="seconds")


def event(**changes: Any) -> dict[str, Any]:
    body = {
        "eventId": "NVR7-20261204-000123",
        "cameraId": "CAM-LJ-001",
        "at": now_local(-1),
        "kind": "BLACK_SMOKE",
        "text": "烟囱冒黑烟",
        "confidence": 0.92,
        "snapshot": base64.b64encode(jpeg()).decode(),
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


async def post(hub: Hub, body: Any, *, tenants: list[str] | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {hub.token('MONITOR', tenants)}"}
    if isinstance(body, bytes):
        return await hub.http.post(
            URL, content=body, headers={**headers, "Content-Type": "application/json"}
        )
    return await hub.http.post(URL, json=body, headers=headers)


async def source_in(hub: Hub, town: str) -> tuple[str, str]:
    scope = await hub.scope()
    tenant = scope.directory.by_code[town]
    async with hub.db.session(scope.tenant_ids) as session:
        source = await session.scalar(
            select(Source).where(Source.tenant_id == tenant.id).order_by(Source.name).limit(1)
        )
    assert source is not None
    return str(source.id), source.name


async def register_camera(hub: Hub, token: str | None = None, **fields: Any) -> dict[str, Any]:
    data = {"cameraId": "CAM-LJ-001", "name": "宏达耐火排放口", "tenantCode": "laiji", **fields}
    if "sourceId" not in fields:
        data["sourceId"] = (await source_in(hub, data["tenantCode"]))[0]
    found = await hub.gql(op("RegisterCamera"), {"input": data}, token=token)
    return found["registerCamera"]


async def cameras(hub: Hub, token: str | None = None, **variables: Any) -> dict[str, Any]:
    found = await hub.gql(op("Cameras"), variables, token=token)
    return {c["cameraId"]: c for c in found["cameras"]}


CASE = """query($id: ID!) { case(id: $id) { id number status channels category reportCount
  source { name } timeline { action note } } }"""


async def case(hub: Hub, case_id: str) -> dict[str, Any]:
    return (await hub.gql(CASE, {"id": case_id}))["case"]


async def stored(hub: Hub) -> tuple[int, int, int]:
    """Camera events, quarantined events and attachments: unchanged by a refusal."""
    scope = await hub.scope()
    async with hub.db.session(scope.tenant_ids) as session:
        events = await session.scalar(select(func.count()).select_from(CameraEvent))
        held = await session.scalar(select(func.count()).select_from(QuarantinedVideoEvent))
        kept = await session.scalar(select(func.count()).select_from(Attachment))
    return int(events or 0), int(held or 0), int(kept or 0)


# --- the registry -----------------------------------------------------------------------------


async def test_register_list_update_and_town_scope(vhub: Hub) -> None:
    source_id, source_name = await source_in(vhub, "laiji")
    done = await register_camera(vhub, liveViewUrl="http://10.1.2.3/live/1", sourceId=source_id)
    assert done["__typename"] == "CameraResult", done
    camera = done["camera"]
    assert camera["cameraId"] == "CAM-LJ-001" and camera["tenantCode"] == "laiji"
    assert camera["source"] == {"id": source_id, "name": source_name}
    assert camera["liveViewUrl"] == "http://10.1.2.3/live/1" and camera["online"] is False
    again = await register_camera(vhub, name="改名后", sourceId=source_id)
    assert again["camera"]["id"] == camera["id"] and again["camera"]["name"] == "改名后"
    listed = await cameras(vhub)
    assert listed["CAM-LJ-001"]["lastEvent"] is None and listed["CAM-LJ-001"]["lastEventAt"] is None
    # A town-scoped MONITOR: its town's cameras only, and none registered elsewhere.
    token = vhub.token("MONITOR", ["dawei"])
    assert await cameras(vhub, token=token) == {}
    other = await register_camera(vhub, token=token, cameraId="CAM-X", tenantCode="laiji")
    assert other["__typename"] == "UserError" and other["field"] == "tenantCode"
    own = await register_camera(vhub, token=token, cameraId="CAM-DW-001", tenantCode="dawei")
    assert own["__typename"] == "CameraResult"
    assert set(await cameras(vhub, token=token)) == {"CAM-DW-001"}
    viewer = await register_camera(vhub, token=vhub.token("OPERATOR", ["laiji"]), cameraId="C2")
    assert viewer["__typename"] == "UserError" and viewer["code"] == "FORBIDDEN"
    bad = await register_camera(vhub, cameraId="C3", liveViewUrl="javascript:alert(1)")
    assert bad["__typename"] == "UserError" and bad["field"] == "liveViewUrl"


# --- events become cases ------------------------------------------------------------------------


async def test_alarm_opens_a_case_repeats_add_to_it_and_a_repeat_delivery_is_200(
    vhub: Hub,
) -> None:
    await register_camera(vhub)
    first = await post(vhub, body := event())
    assert first.status_code == 201, first.text
    answer = first.json()
    assert answer["caseNumber"].startswith("XM-") and answer["snapshotId"]
    assert answer["outcome"] == "OPENED"
    found = await case(vhub, answer["caseId"])
    assert found["channels"] == ["MONITORING"] and found["category"] == "AIR"
    assert found["source"] is not None
    again = await post(vhub, body)
    assert again.status_code == 200 and again.json() == answer
    repeat = await post(vhub, event(eventId="E-2", at=now_local(-0.5)))
    assert repeat.status_code == 201 and repeat.json()["caseId"] == answer["caseId"]
    assert repeat.json()["outcome"] == "REPEATED"
    assert len((await case(vhub, answer["caseId"]))["timeline"]) == len(found["timeline"])
    other = await post(vhub, event(eventId="E-3", kind="DISCHARGE", at=now_local(-0.2)))
    assert other.status_code == 201 and other.json()["caseId"] != answer["caseId"]
    assert (await case(vhub, other.json()["caseId"]))["category"] == "WATER"
    listed = (await cameras(vhub))["CAM-LJ-001"]
    assert listed["online"] is True and listed["lastEvent"]["kind"] == "DISCHARGE"
    assert listed["lastEvent"]["caseNumber"] == other.json()["caseNumber"]
    assert listed["lastEvent"]["snapshotId"] == other.json()["snapshotId"]
    # The same picture is one attachment, on each event and on the cases; its blob once.
    assert (await stored(vhub))[2] == 1
    blobs = list((vhub.settings.attachments_dir).rglob("*"))
    assert len([b for b in blobs if b.is_file()]) == 1
    scope = await vhub.scope()
    async with vhub.db.session(scope.tenant_ids) as session:
        kinds = list(await session.scalars(select(AttachmentLink.owner_kind)))
    assert sorted(kinds) == ["CAMERA_EVENT"] * 3 + ["CASE"] * 2


async def test_an_alarm_after_the_window_joins_the_open_case_on_its_timeline(vhub: Hub) -> None:
    await register_camera(vhub)
    first = (await post(vhub, event(at=now_local(-120)))).json()
    later = await post(vhub, event(eventId="E-later", at=now_local(-60)))
    assert later.status_code == 201 and later.json()["outcome"] == "JOINED"
    assert later.json()["caseId"] == first["caseId"]
    actions = [e["action"] for e in (await case(vhub, first["caseId"]))["timeline"]]
    assert "ALARM_REPEATED" in actions


async def test_night_motion_low_confidence_and_heartbeats_open_no_case(vhub: Hub) -> None:
    await register_camera(vhub)
    before = await snapshot(vhub)
    night = await post(vhub, event(eventId="N-1", kind="MOTION_AT_NIGHT", confidence=0.95))
    low = await post(vhub, event(eventId="L-1", kind="DISCHARGE", confidence=0.3))
    beat = await post(vhub, event(eventId="H-1", kind="HEARTBEAT", snapshot=None, text=None))
    for answer, outcome in ((night, "RECORDED"), (low, "RECORDED"), (beat, "HEARTBEAT")):
        assert answer.status_code == 201, answer.text
        assert answer.json()["caseId"] is None and answer.json()["outcome"] == outcome
    assert (await snapshot(vhub))[0] == before[0]
    listed = (await cameras(vhub))["CAM-LJ-001"]
    assert listed["lastEvent"]["kind"] == "DISCHARGE"  # heartbeats are not events to show


async def test_the_rules_are_data_night_motion_can_be_made_alarming(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    rules = '{"MOTION_AT_NIGHT": {"alarming": true, "minConfidence": 0.5}}'
    async with live(db, settings, tmp_path, rules=rules) as hub:
        await register_camera(hub)
        night = await post(hub, event(eventId="N-1", kind="MOTION_AT_NIGHT", confidence=0.7))
        assert night.status_code == 201 and night.json()["outcome"] == "OPENED"


async def test_an_unknown_camera_is_quarantined_and_released_when_registered(vhub: Hub) -> None:
    held = await post(vhub, body := event(cameraId="CAM-NEW-9"))
    assert held.status_code == 202, held.text
    assert held.json()["quarantined"] is True and held.json()["caseId"] is None
    assert (await post(vhub, body)).status_code == 200
    listed = await vhub.gql("{ quarantinedVideoEvents { eventId cameraId releasedAt } }")
    assert listed["quarantinedVideoEvents"][0]["cameraId"] == "CAM-NEW-9"
    await register_camera(vhub, cameraId="CAM-NEW-9")
    listed = await vhub.gql("{ quarantinedVideoEvents { eventId releasedAt } }")
    assert listed["quarantinedVideoEvents"][0]["releasedAt"] is not None
    assert (await cameras(vhub))["CAM-NEW-9"]["lastEvent"] is None  # recorded, late: no case
    assert (await stored(vhub))[0] == 1


# --- bad input: a clear refusal, nothing stored -------------------------------------------------


async def test_bad_input_is_refused_naming_the_field_and_stores_nothing(vhub: Hub) -> None:
    await register_camera(vhub)
    await register_camera(vhub, cameraId="CAM-DW-001", tenantCode="dawei")
    before, counts = await snapshot(vhub), await stored(vhub)
    png = io.BytesIO()
    Image.new("RGB", (8, 8)).save(png, format="PNG")
    huge = base64.b64encode(b"\xff\xd8\xff" + b"\0" * 700_000).decode()
    cases = [
        (event(snapshot=base64.b64encode(png.getvalue()).decode()), 422, "snapshot"),
        (event(snapshot="not base64!"), 422, "snapshot"),
        (event(snapshot=base64.b64encode(jpeg()[:-100]).decode()), 422, "snapshot"),  # cut short
        (event(snapshot=huge), 413, "snapshot"),
        (event(at=now_local(24 * 60)), 422, "at"),
        (event(at="2026-12-04 21:30"), 422, "at"),
        (event(kind="FIRE"), 422, "kind"),
        (event(confidence=1.5), 422, "confidence"),
        (event(snapshotUrl="ftp://x/y.jpg", snapshot=None), 422, "snapshotUrl"),
        (b'{"eventId": "x"', 422, "body"),
    ]
    for field in ("eventId", "cameraId", "at", "kind"):
        cases.append((event(**{field: None}), 422, field))
    for body, status, field in cases:
        refused(await post(vhub, body), status, field)
    # A town-scoped token writing another town's camera.
    refused(await post(vhub, event(cameraId="CAM-DW-001"), tenants=["laiji"]), 403, "cameraId")
    assert await snapshot(vhub) == before and await stored(vhub) == counts
    # A seen eventId with other content.
    assert (await post(vhub, event())).status_code == 201
    after = await snapshot(vhub), await stored(vhub)
    refused(await post(vhub, event(text="别的内容")), 409, "eventId")
    assert (await snapshot(vhub), await stored(vhub)) == after


async def test_a_private_snapshot_url_is_refused_unless_allowed(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    async with live(db, settings, tmp_path) as hub, recorder() as rec:
        await register_camera(hub)
        before = await stored(hub)
        for url in (f"{rec.url}/snap.jpg", "http://10.0.0.8/snap.jpg", "http://[::1]/a.jpg"):
            body = event(snapshot=None, snapshotUrl=url)
            refused(await post(hub, body), 422, "snapshotUrl")
        assert rec.hits == 0 and await stored(hub) == before


# --- snapshots by URL from a recorder on loopback ------------------------------------------------


@dataclass
class Recorder:
    url: str
    hits: int = 0


@contextlib.asynccontextmanager
async def recorder() -> AsyncIterator[Recorder]:
    """A recorder's picture server on loopback: /snap.jpg, /big.jpg (over the cap), /slow.jpg
    (answers after 3 s), /text (not a picture)."""
    rec = Recorder("")

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        line = (await reader.readline()).decode()
        while (await reader.readline()) not in (b"\r\n", b""):
            pass
        rec.hits += 1
        path = line.split(" ")[1] if " " in line else "/"
        body, kind = jpeg(), "image/jpeg"
        if path == "/slow.jpg":
            await asyncio.sleep(3)
        elif path == "/big.jpg":
            body = b"\xff\xd8\xff" + b"\0" * 700_000
        elif path == "/text":
            body, kind = b"hello", "text/plain"
        head = f"HTTP/1.1 200 OK\r\nContent-Type: {kind}\r\nContent-Length: {len(body)}\r\n"
        with contextlib.suppress(ConnectionError):
            writer.write(head.encode() + b"Connection: close\r\n\r\n" + body)
            await writer.drain()
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    rec.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    try:
        yield rec
    finally:
        server.close()


async def test_a_snapshot_url_is_fetched_with_a_timeout_and_a_cap(vhub: Hub) -> None:
    await register_camera(vhub)
    async with recorder() as rec:
        before = await stored(vhub)
        slow = event(snapshot=None, snapshotUrl=f"{rec.url}/slow.jpg")
        started = asyncio.get_running_loop().time()
        refused(await post(vhub, slow), 422, "snapshotUrl")
        assert asyncio.get_running_loop().time() - started < 2.5
        refused(
            await post(vhub, event(snapshot=None, snapshotUrl=f"{rec.url}/big.jpg")),
            413,
            "snapshotUrl",
        )
        refused(
            await post(vhub, event(snapshot=None, snapshotUrl=f"{rec.url}/text")),
            422,
            "snapshotUrl",
        )
        assert await stored(vhub) == before
        good = event(snapshot=None, snapshotUrl=f"{rec.url}/snap.jpg")
        done = await post(vhub, good)
        assert done.status_code == 201, done.text
        assert done.json()["snapshotId"] and done.json()["caseId"]
        hits = rec.hits
        assert (await post(vhub, good)).status_code == 200
        assert rec.hits == hits  # a repeat is answered without fetching again


# --- silence ------------------------------------------------------------------------------------


async def test_a_silent_camera_goes_offline_then_opens_a_case_ended_when_heard(vhub: Hub) -> None:
    await register_camera(vhub)
    assert (
        await post(vhub, event(eventId="H-1", kind="HEARTBEAT", snapshot=None))
    ).status_code == 201
    policy = video_settings(vhub.app.state.runtime).policy(vhub.settings)
    scope = await vhub.scope()

    async def silent_for(minutes: float) -> None:
        async with vhub.db.session(scope.tenant_ids) as session, session.begin():
            when = datetime.now(UTC) - timedelta(minutes=minutes)
            await session.execute(update(Camera).values(last_seen_at=when))

    await silent_for(15)
    assert await check_cameras(vhub.db, policy) == (1, 0)
    assert (await cameras(vhub))["CAM-LJ-001"]["online"] is False
    await silent_for(90)
    assert await check_cameras(vhub.db, policy) == (0, 1)
    assert await check_cameras(vhub.db, policy) == (0, 0)  # one case per silence
    query = "{ cases(first: 20, filter: {channels: [MONITORING]}) { edges { node { id title } } } }"
    data = await vhub.gql(query)
    offline = [e["node"] for e in data["cases"]["edges"] if "离线" in e["node"]["title"]]
    assert len(offline) == 1
    back = await post(vhub, event(eventId="H-2", kind="HEARTBEAT", snapshot=None))
    assert back.status_code == 201
    assert (await cameras(vhub))["CAM-LJ-001"]["online"] is True
    actions = [e["action"] for e in (await case(vhub, offline[0]["id"]))["timeline"]]
    assert actions[-1] == "ALARM_ENDED"


async def test_a_camera_its_recorder_reports_offline_opens_a_case_in_time(vhub: Hub) -> None:
    await register_camera(vhub)
    gone = await post(vhub, event(eventId="O-1", kind="OFFLINE", snapshot=None))
    assert gone.status_code == 201 and gone.json()["outcome"] == "OFFLINE"
    assert (await cameras(vhub))["CAM-LJ-001"]["online"] is False
    policy = video_settings(vhub.app.state.runtime).policy(vhub.settings)
    assert await check_cameras(vhub.db, policy) == (0, 0)  # the recorder is still talking
    scope = await vhub.scope()
    async with vhub.db.session(scope.tenant_ids) as session, session.begin():
        since = datetime.now(UTC) - timedelta(minutes=61)
        await session.execute(update(Camera).values(offline_since=since))
    # Still reported offline by the recorder now and then: the case comes all the same.
    assert (
        await post(vhub, event(eventId="O-2", kind="OFFLINE", snapshot=None))
    ).status_code == 201
    assert await check_cameras(vhub.db, policy) == (0, 1)


# --- the demo's simulated recorder -------------------------------------------------------------


async def test_simulated_cameras_open_exactly_the_cases_the_rules_say(vhub: Hub) -> None:
    ids = await register_demo_cameras(vhub.db)
    assert len(ids) == 3 and len(await cameras(vhub)) == 3
    assert await register_demo_cameras(vhub.db) == ids  # idempotent
    before = (await snapshot(vhub))[0]
    at = datetime.now(UTC).astimezone() - timedelta(minutes=5)
    sequence = [("HEARTBEAT", None), ("MOTION_AT_NIGHT", 0.9), ("BLACK_SMOKE", 0.93),
                ("BLACK_SMOKE", 0.88), ("DISCHARGE", 0.41), ("OCCLUSION", None)]  # fmt: skip
    outcomes = []
    for n, (kind, confidence) in enumerate(sequence):
        body = event_body(ids[0], n, kind, confidence, at + timedelta(seconds=n))
        answer = await post(vhub, body)
        assert answer.status_code == 201, answer.text
        outcomes.append(answer.json()["outcome"])
    assert outcomes == ["HEARTBEAT", "RECORDED", "OPENED", "REPEATED", "RECORDED", "OPENED"]
    assert (await snapshot(vhub))[0] == before + 2
    picture = draw_snapshot(ids[0], "BLACK_SMOKE", at)
    assert picture.startswith(b"\xff\xd8\xff") and Image.open(io.BytesIO(picture)).format == "JPEG"


# --- the import workbook's sheet 摄像头 -----------------------------------------------------------


async def test_the_workbook_sheet_registers_cameras_at_enterprises_of_the_same_import(
    vhub: Hub, tmp_path: Path
) -> None:
    from openpyxl import load_workbook
    from stdnum.cn import uscc

    from hub.grid.importer import import_book, summary
    from hub.grid.workbook import read_book, write_template

    base = "91410183000000099"
    code = base[:17] + uscc.calc_check_digit(base[:17])
    template, path = tmp_path / "t.xlsx", tmp_path / "book.xlsx"
    write_template(template)

    def fill(cameras: list[list[Any]]) -> Path:
        wb = load_workbook(template)
        for name in ("网格", "人员", "企业"):
            wb[name].delete_rows(2, wb[name].max_row)
        wb["企业"].append(
            ["laiji", code, "视频测试化工有限公司", "化工", None, None, None, None, "是"]
        )
        for row in cameras:
            wb["摄像头"].append(row)
        wb.save(path)
        return path

    bad = fill([["laiji", "CAM-WB-1", "总排口", "91410183000000000X", None, None, None, None]])
    outcome = await import_book(vhub.db, read_book(bad), dry_run=False)
    assert not outcome.written and outcome.problems[0].heading == "企业统一社会信用代码"
    good = fill([["laiji", "CAM-WB-1", "化工总排口", code, "总排口", 34.57, 113.48, None]])
    outcome = await import_book(vhub.db, read_book(good), dry_run=False)
    assert outcome.written, [str(p) for p in outcome.problems]
    assert "摄像头 新建 1" in summary(outcome)
    listed = (await vhub.gql("{ cameras { cameraId source { name } } }"))["cameras"]
    assert listed == [{"cameraId": "CAM-WB-1", "source": {"name": "视频测试化工有限公司"}}]
