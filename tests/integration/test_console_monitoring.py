"""The monitoring pages (/console/monitoring) through the live app, on both databases: points with
their latest values against limits, a pollutant over a day, the AQI per station per day (equal to
the GraphQL airQuality), cameras with their snapshot through the session, quarantined packets for
MONITOR and ADMIN only, a town's account sees its town only, bad input answers in Chinese."""

from __future__ import annotations

import base64
import dataclasses
import io
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from PIL import Image

from connectors.hj212.devices import data_packet
from connectors.hj212.http import writer_of
from hub.demo import world
from tests.conftest import Hub
from tests.console import account, client, sign_in
from tests.operations import op

CHINA = ZoneInfo("Asia/Shanghai")
STATION = next(p for p in world.POINTS if p.kind == "AIR_STATION" and p.tenant == "laiji")
CHAOHUA = next(p for p in world.POINTS if p.tenant == "chaohua")
FLUE = next(p for p in world.POINTS if p.kind == "FLUE_GAS" and p.tenant == "laiji")


@pytest.fixture(autouse=True)
async def stop_writer(hub: Hub):
    yield
    await writer_of(hub.app.state.connectors).stop()


async def ingest(hub: Hub, body: bytes, status: int = 200) -> None:
    answer = await hub.http.post(
        "/ingest/hj212",
        content=body,
        headers={"Content-Type": "text/plain", "Authorization": f"Bearer {hub.token('MONITOR')}"},
    )
    assert answer.status_code == status, answer.text


def hours(point: world.DemoPoint, day: date, values: dict[str, float]) -> bytes:
    start = datetime(day.year, day.month, day.day, tzinfo=CHINA)
    return b"".join(
        data_packet(point, values, start + timedelta(hours=h), h, cn="2061") for h in range(24)
    )


async def point_ids(hub: Hub) -> dict[str, str]:
    listed = (await hub.gql(op("MonitoringPoints"), {}))["monitoringPoints"]
    return {p["mn"]: p["id"] for p in listed}


async def pages(hub: Hub, login: str, *paths: str) -> list[Any]:
    async with client(hub) as http:
        await sign_in(http, login)
        return [await http.get(p) for p in paths]


async def test_points_with_latest_values_against_limits(hub: Hub) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    await ingest(hub, data_packet(FLUE, {"a34013": 999.0}, now - timedelta(minutes=1), 1))
    await account(hub, "mon", "MONITOR")
    (page,) = await pages(hub, "mon", "/console/monitoring")
    assert page.status_code == 200
    row = re.search(rf'<tr data-mn="{FLUE.mn}">(.*?)</tr>', page.text, re.S)
    assert row, "the flue-gas point is listed"
    assert "在线" in row.group(1) and "烟尘 999.0" in row.group(1)
    limit = next(lim for lim in FLUE.limits if lim.pollutant == "a34013")
    if limit.max is not None and limit.max < 999.0:
        assert "超标" in row.group(1) and "exceeded" in row.group(1)
    assert page.text.count("<tr data-mn=") == 28
    assert "离线" in page.text  # the others were never heard from
    assert 'href="/console/monitoring/quarantine"' in page.text


async def test_a_pollutant_over_a_day_and_bad_input(hub: Hub) -> None:
    day = datetime.now(CHINA).date() - timedelta(days=1)
    await ingest(hub, hours(STATION, day, {"a34004": 80.0, "a34002": 100.0}))
    ids = await point_ids(hub)
    station = ids[STATION.mn]
    await account(hub, "op1", "OPERATOR", ["laiji"])
    base = f"/console/monitoring/points/{station}"
    chart, bad_pollutant, bad_code, bad_day, bad_interval, unknown, other = await pages(
        hub,
        "op1",
        f"{base}?pollutant=a34004&day={day}&interval=HOUR",
        f"{base}?pollutant=w01018&day={day}",
        f"{base}?pollutant=a34004;x&day={day}",
        f"{base}?pollutant=a34004&day=2026-13-40",
        f"{base}?pollutant=a34004&interval=WEEK",
        "/console/monitoring/points/not-an-id",
        f"/console/monitoring/points/{ids[CHAOHUA.mn]}",  # another town's point
    )
    assert chart.status_code == 200, chart.text
    assert "PM2.5" in chart.text and "小时数据 24 条" in chart.text
    assert "/console/static/monitoring.js" in chart.text
    data = re.search(r"data-chart='([^']+)'", chart.text)
    assert data and data.group(1).count("80.0") == 24
    assert bad_pollutant.status_code == 400 and "没有污染物" in bad_pollutant.text
    assert bad_code.status_code == 400 and "没有污染物" in bad_code.text
    assert bad_day.status_code == 400 and "日期格式应为" in bad_day.text
    assert bad_interval.status_code == 400 and "数据类型" in bad_interval.text
    assert unknown.status_code == 404 and other.status_code == 404
    # The readings equal the API's on the same day.
    start = datetime(day.year, day.month, day.day, tzinfo=CHINA)
    api = (
        await hub.gql(
            op("Readings"),
            {
                "pointId": station,
                "pollutant": "a34004",
                "from": start.isoformat(),
                "to": (start + timedelta(days=1)).isoformat(),
                "interval": "HOUR",
            },
        )
    )["readings"]
    assert len(api) == 24


async def test_the_aqi_per_station_per_day_equals_the_api(hub: Hub) -> None:
    day = datetime.now(CHINA).date() - timedelta(days=1)
    await ingest(hub, hours(STATION, day, {"a34004": 80.0, "a34002": 100.0}))
    station = (await point_ids(hub))[STATION.mn]
    api = (await hub.gql(op("AirQuality"), {"pointId": station, "date": str(day)}))["airQuality"]
    await account(hub, "v", "VIEWER")
    page, bad = await pages(
        hub, "v", f"/console/monitoring/air?day={day}", "/console/monitoring/air?day=yesterday"
    )
    assert page.status_code == 200
    assert f"{api['aqi']} " in page.text and page.text.count("<tr>") >= 8  # every station
    assert "轻度污染" in page.text or "良" in page.text
    assert bad.status_code == 400 and "日期格式应为" in bad.text
    # The board shows today's AQI with its colour; the day before is on this page only.
    async with client(hub) as http:
        await sign_in(http, "v")
        board = (await http.get("/console/board/data.json")).json()
    assert any(a["name"] == STATION.name for a in board["air"])


async def test_a_town_sees_its_towns_devices_only_and_quarantine_is_for_monitor_and_admin(
    hub: Hub,
) -> None:
    await ingest(hub, data_packet(FLUE, {"a34013": 5.0}, datetime.now(UTC), 1))
    stranger = dataclasses.replace(FLUE, mn="UNKNOWN0000000001")
    await ingest(hub, data_packet(stranger, {"a34013": 5.0}, datetime.now(UTC), 2), 422)
    await account(hub, "op1", "OPERATOR", ["laiji"])
    await account(hub, "mon", "MONITOR")
    await account(hub, "adm", "ADMIN")
    points, quarantine, air = await pages(
        hub,
        "op1",
        "/console/monitoring",
        "/console/monitoring/quarantine",
        "/console/monitoring/air",
    )
    mine = (await hub.gql(op("MonitoringPoints"), {}, token=hub.token("OPERATOR", ["laiji"])))[
        "monitoringPoints"
    ]
    shown = set(re.findall(r'<tr data-mn="([^"]+)">', points.text))
    assert shown == {p["mn"] for p in mine} and all(mn.startswith("41018") for mn in shown)
    assert CHAOHUA.mn not in points.text and "超化镇空气" not in air.text
    assert quarantine.status_code == 403 and "无权" in quarantine.text
    assert 'href="/console/monitoring/quarantine"' not in points.text
    for login in ("mon", "adm"):
        (held,) = await pages(hub, login, "/console/monitoring/quarantine")
        assert held.status_code == 200
        assert "UNKNOWN0000000001" in held.text and "未登记的设备" in held.text


def jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(out, format="JPEG")
    return out.getvalue()


async def test_cameras_with_their_snapshot_through_the_session(hub: Hub) -> None:
    sources = (await hub.gql(op("MonitoringPoints"), {"tenantCode": "laiji"}))["monitoringPoints"]
    source_id = next(p["source"]["id"] for p in sources if p["source"])
    registered = await hub.gql(
        op("RegisterCamera"),
        {
            "input": {
                "cameraId": "CAM-LJ-001",
                "name": "宏达耐火排放口",
                "tenantCode": "laiji",
                "sourceId": source_id,
                "liveViewUrl": "http://10.1.2.3/live/CAM-LJ-001",
            }
        },
    )
    assert registered["registerCamera"]["__typename"] != "UserError", registered
    at = (datetime.now(UTC) - timedelta(minutes=1)).astimezone(CHINA).isoformat()
    event = await hub.http.post(
        "/ingest/video",
        json={
            "eventId": "NVR7-BOARD-1",
            "cameraId": "CAM-LJ-001",
            "at": at,
            "kind": "BLACK_SMOKE",
            "text": "烟囱冒黑烟",
            "confidence": 0.92,
            "snapshot": base64.b64encode(jpeg()).decode(),
        },
        headers={"Authorization": f"Bearer {hub.token('MONITOR')}"},
    )
    assert event.status_code in (200, 201), event.text
    snapshot_id = event.json()["snapshotId"]
    await account(hub, "op1", "OPERATOR", ["laiji"])
    await account(hub, "op2", "OPERATOR", ["chaohua"])
    async with client(hub) as http:
        await sign_in(http, "op1")
        page = await http.get("/console/monitoring/cameras")
        assert page.status_code == 200 and 'data-camera="CAM-LJ-001"' in page.text
        assert f'src="/console/monitoring/snapshots/{snapshot_id}"' in page.text
        assert 'href="http://10.1.2.3/live/CAM-LJ-001" target="_blank"' in page.text
        assert "在线" in page.text
        image = await http.get(f"/console/monitoring/snapshots/{snapshot_id}")
        assert image.status_code == 200 and image.headers["content-type"] == "image/jpeg"
        assert image.content[:2] == b"\xff\xd8"
        missing = await http.get("/console/monitoring/snapshots/not-an-id")
        assert missing.status_code == 404
    async with client(hub) as http:
        await sign_in(http, "op2")
        page = await http.get("/console/monitoring/cameras")
        assert "CAM-LJ-001" not in page.text and "没有摄像头" in page.text
        other = await http.get(f"/console/monitoring/snapshots/{snapshot_id}")
        assert other.status_code == 404  # another town's snapshot does not exist for chaohua
    async with client(hub) as http:  # not signed in: to the sign-in page
        answer = await http.get(f"/console/monitoring/snapshots/{snapshot_id}")
        assert answer.status_code == 303


async def test_a_point_with_neither_data_nor_limits_has_an_empty_chart(hub: Hub) -> None:
    from tests.integration.test_monitoring_points import register as register_point

    done = await register_point(hub, limits=[], mn="88888880000009", kind="NOISE")
    point_id = done["point"]["id"]
    await account(hub, "v", "VIEWER")
    page, bad = await pages(
        hub,
        "v",
        f"/console/monitoring/points/{point_id}",
        f"/console/monitoring/points/{point_id}?day=2026-02-30",
    )
    assert page.status_code == 200 and "该监测点尚无数据，也未设置限值" in page.text
    assert bad.status_code == 400 and "日期格式应为" in bad.text
