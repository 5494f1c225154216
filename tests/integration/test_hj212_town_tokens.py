"""Town-scoped monitoring tokens (issue 11 item 4): a `MONITOR --tenant laiji` token sends,
reads and registers for laiji's devices only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import func, select

from connectors.hj212 import make
from connectors.hj212.devices import data_packet
from connectors.hj212.http import writer_of
from connectors.hj212.model import PendingPart
from hub.demo import world
from hub.monitoring.model import AlarmEpisode, MonitoringPoint, QuarantinedPacket, Reading
from tests.conftest import Hub
from tests.operations import op

CHINA = ZoneInfo("Asia/Shanghai")
MINE = next(p for p in world.POINTS if p.tenant == "laiji")
THEIRS = next(p for p in world.POINTS if p.tenant == "chaohua")
QUARANTINE = "query Q($mn: String) { quarantinedPackets(first: 50, mn: $mn) { mn reason } }"


@pytest.fixture(autouse=True)
async def stop_writer(hub: Hub):
    yield
    await writer_of(hub.app.state.connectors).stop()


def laiji(hub: Hub) -> str:
    return hub.token("MONITOR", ["laiji"])


async def ingest(hub: Hub, body: bytes, token: str) -> httpx.Response:
    headers = {"Content-Type": "text/plain", "Authorization": f"Bearer {token}"}
    return await hub.http.post("/ingest/hj212", content=body, headers=headers)


async def rows(hub: Hub, model: type, mn: str | None = None) -> int:
    query = select(func.count()).select_from(model)
    if model is Reading:
        query = query.join(MonitoringPoint, MonitoringPoint.id == Reading.point_id)
        query = query.where(MonitoringPoint.mn == mn)
    elif model is QuarantinedPacket:
        query = query.where(QuarantinedPacket.mn == mn)
    async with hub.db.session((await hub.scope()).tenant_ids) as session:
        return int(await session.scalar(query) or 0)


def over_limit(point: world.DemoPoint, count: int = 4) -> bytes:
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
    return b"".join(
        data_packet(point, {"a34013": 40.0}, at + timedelta(seconds=30 * i), i + 1)
        for i in range(count)
    )


async def test_a_town_token_cannot_send_another_towns_device(hub: Hub) -> None:
    response = await ingest(hub, over_limit(THEIRS), laiji(hub))
    assert response.status_code == 422, response.text
    assert {e["field"] for e in response.json()["errors"]} == {"MN"}
    assert await rows(hub, Reading, THEIRS.mn) == 0
    assert await rows(hub, AlarmEpisode) == 0
    assert await rows(hub, QuarantinedPacket, THEIRS.mn) == 0  # not kept for later release


async def test_a_town_token_sends_its_own_towns_device(hub: Hub) -> None:
    response = await ingest(hub, over_limit(MINE, 1), laiji(hub))
    assert response.status_code == 200, response.text
    assert await rows(hub, Reading, MINE.mn) == 1


async def test_a_town_token_cannot_send_parts_for_another_towns_device(hub: Hub) -> None:
    at = datetime.now(UTC).astimezone(CHINA).strftime("%Y%m%d%H%M%S")
    body = b"".join(
        make("2011", THEIRS.mn, st="31", pw=THEIRS.password, qn=f"2026112809300000{pno}",
             flag=7, pnum=2, pno=pno, cp={"DataTime": at, "a34013": {"Rtd": 4.0, "Flag": "N"}}
             ).to_bytes()
        for pno in (1,)
    )  # fmt: skip
    response = await ingest(hub, body, laiji(hub))
    assert response.status_code == 422, response.text
    assert await rows(hub, PendingPart) == 0


async def test_a_city_wide_token_still_sends_any_device(hub: Hub) -> None:
    response = await ingest(hub, over_limit(THEIRS, 1), hub.token("MONITOR"))
    assert response.status_code == 200, response.text
    assert await rows(hub, Reading, THEIRS.mn) == 1


async def test_a_town_token_sees_only_its_towns_quarantined_packets(hub: Hub) -> None:
    city = hub.token("MONITOR")
    for point in (MINE, THEIRS):  # a wrong PW: quarantined, in the point's town
        wrong = world.DemoPoint(**{**point.__dict__, "password": "000000"})
        response = await ingest(hub, over_limit(wrong, 1), city)
        assert response.status_code == 422
    stranger = world.DemoPoint(**{**MINE.__dict__, "mn": "99999999999999"})
    await ingest(hub, over_limit(stranger, 1), city)
    seen = (await hub.gql(QUARANTINE, {}, token=laiji(hub)))["quarantinedPackets"]
    assert {p["mn"] for p in seen} == {MINE.mn}
    theirs = await hub.gql(QUARANTINE, {"mn": THEIRS.mn}, token=laiji(hub))
    assert theirs["quarantinedPackets"] == []
    everything = (await hub.gql(QUARANTINE, {}, token=city))["quarantinedPackets"]
    assert {p["mn"] for p in everything} == {MINE.mn, THEIRS.mn, stranger.mn}


async def test_a_town_token_lists_and_reads_only_its_towns_points(hub: Hub) -> None:
    listed = (await hub.gql(op("MonitoringPoints"), {}, token=laiji(hub)))["monitoringPoints"]
    assert listed and {p["tenantCode"] for p in listed} == {"laiji"}
    everything = (await hub.gql(op("MonitoringPoints"), {}))["monitoringPoints"]
    theirs = next(p["id"] for p in everything if p["mn"] == THEIRS.mn)
    await ingest(hub, over_limit(THEIRS, 1), hub.token("MONITOR"))
    now = datetime.now(UTC)
    variables = {
        "pointId": theirs,
        "pollutant": "a34013",
        "from": (now - timedelta(hours=1)).isoformat(),
        "to": (now + timedelta(hours=1)).isoformat(),
    }
    response = await hub.post(op("Readings"), variables, token=laiji(hub))
    assert response.json()["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert len((await hub.gql(op("Readings"), variables))["readings"]) == 1


async def test_a_town_token_registers_points_only_in_its_towns(hub: Hub) -> None:
    spec = {"mn": "41018399000001", "name": "新测点", "kind": "FLUE_GAS", "tenantCode": "chaohua"}
    done = await hub.gql(op("RegisterMonitoringPoint"), {"input": spec}, token=laiji(hub))
    assert done["registerMonitoringPoint"]["__typename"] == "UserError"
    assert done["registerMonitoringPoint"]["field"] == "tenantCode"
    # nor can it take over another town's device by registering its MN in its own town
    taken = {**spec, "mn": THEIRS.mn, "tenantCode": "laiji"}
    done = await hub.gql(op("RegisterMonitoringPoint"), {"input": taken}, token=laiji(hub))
    assert done["registerMonitoringPoint"]["__typename"] == "UserError"
    assert done["registerMonitoringPoint"]["field"] == "mn"  # an answer, not "try again"
    async with hub.db.session((await hub.scope()).tenant_ids) as session:
        row = await session.scalar(select(MonitoringPoint).where(MonitoringPoint.mn == THEIRS.mn))
    assert row is not None and row.name == THEIRS.name
