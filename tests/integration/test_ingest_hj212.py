"""POST /ingest/hj212 (raw packets over HTTP) and the airQuality query over stored hourly data."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import select

from connectors.hj212 import frame, make, parse
from connectors.hj212.devices import data_packet
from connectors.hj212.http import writer_of
from connectors.hj212.model import PendingPart
from hub.demo import world
from hub.monitoring.model import Reading
from tests.conftest import Hub
from tests.operations import op

CHINA = ZoneInfo("Asia/Shanghai")
STATION = next(p for p in world.POINTS if p.kind == "AIR_STATION")
SOURCE = world.POINTS[0]


@pytest.fixture(autouse=True)
async def stop_writer(hub: Hub):
    yield
    await writer_of(hub.app.state.connectors).stop()


async def post(hub: Hub, body: bytes, token: str | None = None) -> httpx.Response:
    token = token if token is not None else hub.token("MONITOR")
    headers = {"Content-Type": "text/plain"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return await hub.http.post("/ingest/hj212", content=body, headers=headers)


def hours(day: date, values: dict[str, float], count: int = 24) -> bytes:
    """``count`` hourly uploads (2061) of one day at the air station."""
    start = datetime(day.year, day.month, day.day, tzinfo=CHINA)
    return b"".join(
        data_packet(STATION, values, start + timedelta(hours=h), h, cn="2061") for h in range(count)
    )


async def station_id(hub: Hub) -> str:
    listed = (await hub.gql(op("MonitoringPoints"), {}))["monitoringPoints"]
    return next(p["id"] for p in listed if p["mn"] == STATION.mn)


async def air_quality(hub: Hub, day: date) -> dict[str, Any] | None:
    data = await hub.gql(op("AirQuality"), {"pointId": await station_id(hub), "date": str(day)})
    return data["airQuality"]


async def test_packets_in_a_body_are_stored_and_the_replies_come_back(hub: Hub) -> None:
    at = datetime.now(UTC).replace(microsecond=0)
    packets = [
        data_packet(SOURCE, {"a34013": 4.0 + i}, at + timedelta(seconds=i), i) for i in range(3)
    ]
    response = await post(hub, b"".join(packets))
    assert response.status_code == 200, response.text
    assert response.headers["x-hj212-outcomes"] == "STORED=3"
    replies = [parse(line + b"\r\n") for line in response.content.split(b"\r\n") if line]
    assert [(r.cn, r.qn) for r in replies] == [("9014", parse(p).qn) for p in packets]
    async with hub.db.session((await hub.scope()).tenant_ids) as session:
        assert len(list(await session.scalars(select(Reading)))) == 3


@pytest.mark.parametrize(
    ("body", "field", "reason"),
    [
        (b"", "body", "没有 HJ 212 报文"),
        (b"hello world\r\n", "body", "GARBAGE"),
        (b"##0010QN=1;CP=&&1234\r\n", "body", "BAD"),
        (b"\xff\xfe\x00garbage", "body", "GARBAGE"),
    ],
)
async def test_a_body_without_a_usable_packet_is_422_naming_the_body(
    hub: Hub, body: bytes, field: str, reason: str
) -> None:
    response = await post(hub, body)
    assert response.status_code == 422, response.text
    error = response.json()["errors"][0]
    assert error["field"] == field and reason in error["message"]


async def test_a_packet_with_a_bad_crc_next_to_a_good_one(hub: Hub) -> None:
    good = data_packet(SOURCE, {"a34013": 4.0}, datetime.now(UTC), 1)
    bad = data_packet(SOURCE, {"a34013": 5.0}, datetime.now(UTC), 2)
    bad = bad[:-6] + (b"0000" if bad[-6:-2] != b"0000" else b"FFFF") + b"\r\n"
    response = await post(hub, bad + good)
    assert response.status_code == 200
    assert response.headers["x-hj212-outcomes"] == "BAD_CRC=1,STORED=1"
    cns = [parse(line + b"\r\n").cn for line in response.content.split(b"\r\n") if line]
    assert cns == ["9011", "9014"]


async def test_an_unknown_device_over_http_is_422_naming_mn(hub: Hub) -> None:
    stranger = world.DemoPoint(**{**SOURCE.__dict__, "mn": "99999999999999"})
    response = await post(hub, data_packet(stranger, {"a34013": 4.0}, datetime.now(UTC), 1))
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "MN"


async def test_a_data_time_of_year_one_is_422_naming_data_time(hub: Hub) -> None:
    packet = data_packet(SOURCE, {"a34013": 4.0}, datetime.now(UTC), 1)
    text = packet.decode()
    at = text.index("DataTime=") + len("DataTime=")
    body = text[6 : text.index("&&", at) + 2].replace(text[at : at + 14], "00010101000000")
    response = await post(hub, frame(body))
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == ["DataTime"]


@pytest.mark.parametrize(
    ("mn", "pnum", "field"), [("99999999999999", 9999, "MN"), (SOURCE.mn, 9999, "PNUM")]
)
async def test_parts_from_nobody_or_over_the_caps_are_422_and_not_kept(
    hub: Hub, mn: str, pnum: int, field: str
) -> None:
    at = datetime.now(UTC).astimezone(CHINA).strftime("%Y%m%d%H%M%S")
    body = b"".join(
        make("2011", mn, st="31", pw=SOURCE.password, qn=f"2026112809300000{pno}", flag=7,
             pnum=pnum, pno=pno, cp={"DataTime": at, "a34013": {"Rtd": 4.0, "Flag": "N"}}
             ).to_bytes()
        for pno in (1, 2)
    )  # fmt: skip
    response = await post(hub, body)
    assert response.status_code == 422, response.text
    assert {e["field"] for e in response.json()["errors"]} == {field}
    async with hub.db.session((await hub.scope()).tenant_ids) as session:
        assert list(await session.scalars(select(PendingPart))) == []


async def test_a_body_over_the_cap_is_413(hub: Hub) -> None:
    response = await post(hub, b"#" * 1_000_001)
    assert response.status_code == 413


async def test_air_quality_by_hj_633_2026(hub: Hub) -> None:
    day = date(2026, 11, 20)
    assert (await post(hub, hours(day, {"a34004": 60.0, "a34002": 50.0}))).status_code == 200
    found = await air_quality(hub, day)
    assert found is not None
    assert (found["aqi"], found["category"], found["standard"]) == (100, "良", "HJ 633-2026")
    assert found["primaryPollutants"] == ["PM2.5"]
    assert {(i["pollutant"], i["value"], i["concentration"]) for i in found["iaqi"]} == {
        ("PM2.5", 100, 60.0),
        ("PM10", 50, 50.0),
    }


async def test_air_quality_before_march_2026_uses_hj_633_2012(hub: Hub) -> None:
    day = date(2025, 12, 1)
    assert (await post(hub, hours(day, {"a34004": 60.0, "a34002": 50.0}))).status_code == 200
    found = await air_quality(hub, day)
    assert found is not None
    # PM2.5 60 lies between 35 (IAQI 50) and 75 (IAQI 100): 50 + 25 * 50 / 40 = 81.25 -> 82
    assert (found["aqi"], found["standard"], found["primaryPollutants"]) == (
        82, "HJ 633-2012", ["PM2.5"],
    )  # fmt: skip


async def test_a_day_with_too_few_hours_has_no_air_quality(hub: Hub) -> None:
    day = date(2026, 11, 21)
    await post(hub, hours(day, {"a34004": 60.0}, count=19))  # 20 valid hours are needed
    assert await air_quality(hub, day) is None


async def test_air_quality_of_a_source_point_is_refused(hub: Hub) -> None:
    listed = (await hub.gql(op("MonitoringPoints"), {}))["monitoringPoints"]
    source_id = next(p["id"] for p in listed if p["mn"] == SOURCE.mn)
    response = await hub.post(
        op("AirQuality"), {"pointId": source_id, "date": "2026-11-20"}, token=hub.admin
    )
    error = response.json()["errors"][0]
    assert error["extensions"].get("field") == "pointId", error


async def test_readings_bad_input_names_the_field(hub: Hub) -> None:
    pid = await station_id(hub)
    base = {"pointId": pid, "pollutant": "a34004", "from": "2026-11-20T00:00:00+08:00",
            "to": "2026-11-21T00:00:00+08:00"}  # fmt: skip
    cases = [
        ({"to": "2026-11-19T00:00:00+08:00"}, "to"),
        ({"pollutant": "PM 2.5!"}, "pollutant"),
        ({"pointId": "not-an-id"}, "pointId"),
        ({"pointId": "00000000-0000-0000-0000-000000000000"}, "pointId"),
    ]
    for change, field in cases:
        response = await hub.post(op("Readings"), {**base, **change}, token=hub.admin)
        error = response.json()["errors"][0]
        assert error["extensions"]["field"] == field, (change, error)


@pytest.mark.parametrize(
    ("arguments", "field"),
    [("first: 0", "first"), ("first: 501", "first"), ('mn: "bad mn!"', "mn"), ('mn: ""', "mn")],
)
async def test_quarantined_packets_bad_input_names_the_field(
    hub: Hub, arguments: str, field: str
) -> None:
    response = await hub.post(
        f"query {{ quarantinedPackets({arguments}) {{ mn }} }}", token=hub.token("MONITOR")
    )
    error = response.json()["errors"][0]
    assert error["extensions"] == {"code": "VALIDATION", "field": field}, error
