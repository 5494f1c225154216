"""The HJ 212 listener over a real loopback socket: replies, readings, quarantine, framing."""

from __future__ import annotations

import asyncio
import random
from datetime import timedelta

from sqlalchemy import func, select

from connectors.hj212 import make, parse
from connectors.hj212.devices import data_time
from hub.demo import world
from hub.metrics import REGISTRY
from hub.monitoring.model import QuarantinedPacket, Reading
from tests.conftest import Hub
from tests.helpers import POINT, TIMEOUT, Monitoring, now, upload
from tests.operations import op


async def stored(hub: Hub, pollutant: str | None = None) -> list[Reading]:
    async with hub.db.session((await hub.scope()).tenant_ids) as session:
        query = select(Reading).order_by(Reading.at)
        if pollutant:
            query = query.where(Reading.pollutant == pollutant)
        return list(await session.scalars(query))


async def test_an_upload_is_stored_and_answered_with_9014(hub: Hub, monitoring: Monitoring) -> None:
    device = await monitoring.connect()
    at = now()
    packet = upload({"a34013": 4.2, "a21026": 12.5}, at, 7)
    await device.send(packet)
    reply = await device.reply()
    sent = parse(packet)
    assert (reply.cn, reply.st, reply.qn, reply.pw, reply.mn, reply.flag, reply.cp) == (
        "9014", "91", sent.qn, POINT.password, POINT.mn, 4, {},
    )  # fmt: skip
    rows = await stored(hub)
    assert {(r.pollutant, r.value, r.flag, r.interval) for r in rows} == {
        ("a34013", 4.2, "N", "REALTIME"),
        ("a21026", 12.5, "N", "REALTIME"),
    }
    assert all(r.at == at for r in rows)
    await device.close()


async def test_the_contract_operations_show_latest_values_and_readings(
    hub: Hub, monitoring: Monitoring
) -> None:
    device = await monitoring.connect()
    start = now() - timedelta(minutes=5)
    for i in range(3):
        await device.send(upload({"a34013": 3.0 + i}, start + timedelta(minutes=i), i))
        await device.reply()
    listed = (await hub.gql(op("MonitoringPoints"), {"tenantCode": "laiji"}))["monitoringPoints"]
    row = next(p for p in listed if p["mn"] == POINT.mn)
    assert row["online"] is True
    assert row["latest"] == [
        {
            "pollutant": "a34013",
            "value": 5.0,
            "unit": "mg/m3",
            "flag": "N",
            "at": (start + timedelta(minutes=2)).isoformat(),
        }
    ]
    found = await hub.gql(
        op("Readings"),
        {
            "pointId": row["id"],
            "pollutant": "a34013",
            "from": start.isoformat(),
            "to": (start + timedelta(minutes=2)).isoformat(),
            "interval": "REALTIME",
        },
    )
    assert [r["value"] for r in found["readings"]] == [3.0, 4.0]  # [from, to)
    assert found["readings"][0] == {
        "at": start.isoformat(), "value": 3.0, "min": None, "max": None, "flag": "N",
        "interval": "REALTIME",
    }  # fmt: skip
    await device.close()


async def test_a_repeated_packet_is_answered_again_and_stored_once(
    hub: Hub, monitoring: Monitoring
) -> None:
    device = await monitoring.connect()
    packet = upload({"a34013": 4.0}, now())
    for _ in range(3):
        await device.send(packet)
        assert (await device.reply()).cn == "9014"
    assert len(await stored(hub)) == 1
    await device.close()


async def test_split_coalesced_and_garbage_bytes_over_one_socket(
    hub: Hub, monitoring: Monitoring
) -> None:
    device = await monitoring.connect()
    at = now()
    packets = [upload({"a34013": float(i)}, at + timedelta(seconds=i), i) for i in range(1, 5)]
    # one packet in three writes, then two in one write with garbage between them
    first = packets[0]
    for piece in (first[:5], first[5:40], first[40:]):
        await device.send(piece)
        await asyncio.sleep(0.05)
    await device.send(packets[1] + b"\x00\xffGARBAGE##xx" + packets[2] + b"noise\r\n")
    await device.send(packets[3][:-10])
    await asyncio.sleep(0.05)
    await device.send(packets[3][-10:])
    replies = [await device.reply() for _ in range(4)]
    assert [r.qn for r in replies] == [parse(p).qn for p in packets]
    assert [r.value for r in await stored(hub)] == [1.0, 2.0, 3.0, 4.0]
    await device.close()


async def test_a_bad_crc_is_answered_9011_and_the_connection_stays_open(
    hub: Hub, monitoring: Monitoring
) -> None:
    device = await monitoring.connect()
    good = upload({"a34013": 4.0}, now(), 1)
    broken = good[:-6] + (b"0000" if good[-6:-2] != b"0000" else b"FFFF") + b"\r\n"
    await device.send(broken)
    answer = await device.reply()
    assert (answer.cn, answer.cp["QnRtn"], answer.qn) == ("9011", "9", parse(good).qn)
    await device.send(good)
    assert (await device.reply()).cn == "9014"
    assert len(await stored(hub)) == 1
    metrics = _metrics()
    assert 'sanwang_hj212_packets_total{outcome="BAD_CRC",transport="tcp"}' in metrics
    await device.close()


async def test_a_bad_length_gets_no_answer_and_the_next_packet_does(
    hub: Hub, monitoring: Monitoring
) -> None:
    device = await monitoring.connect()
    good = upload({"a34013": 4.0}, now(), 1)
    await device.send(b"##0099" + good[6:])  # a length that does not fit
    await device.send(good)
    assert (await device.reply()).cn == "9014"
    await device.no_reply()
    await device.close()


async def test_unknown_mn_is_refused_quarantined_and_released_on_registration(
    hub: Hub, monitoring: Monitoring
) -> None:
    newcomer = world.DemoPoint(
        "laiji", "88888880000099", "新装设备", "WASTEWATER", None, "654321", 113.47, 34.55, ()
    )
    device = await monitoring.connect()
    at = now()
    await device.send(upload({"w01018": 31.0}, at, 1, point=newcomer))
    answer = await device.reply()
    assert (answer.cn, answer.cp["QnRtn"]) == ("9011", "4")
    assert await stored(hub) == []
    held = await hub.gql(
        'query { quarantinedPackets(mn: "88888880000099") { mn reason cn readings raw } }'
    )
    [row] = held["quarantinedPackets"]
    assert (row["reason"], row["cn"], row["readings"]) == ("UNKNOWN_MN", "2011", 1)
    assert "w01018-Rtd=31" in row["raw"]
    town = hub.token("OPERATOR", ["laiji"])
    refused = await hub.post("query { quarantinedPackets { mn } }", token=town)
    assert refused.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"

    done = await hub.gql(
        op("RegisterMonitoringPoint"),
        {
            "input": {
                "mn": newcomer.mn,
                "name": newcomer.name,
                "kind": "WASTEWATER",
                "tenantCode": "laiji",
                "password": "654321",
            }
        },
    )
    assert done["registerMonitoringPoint"]["__typename"] == "MonitoringPointResult"
    assert [(r.pollutant, r.value, r.at) for r in await stored(hub)] == [("w01018", 31.0, at)]
    # the device, answered 9011, sends again: now stored (once) and answered 9014
    await asyncio.sleep(0.05)
    monitoring.writer._unknown_checked.clear()
    await device.send(upload({"w01018": 31.0}, at, 1, point=newcomer))
    assert (await device.reply()).cn == "9014"
    assert len(await stored(hub)) == 1
    await device.close()


async def test_a_wrong_password_is_refused_with_qnrtn_3_and_kept(
    hub: Hub, monitoring: Monitoring
) -> None:
    intruder = world.DemoPoint(**{**POINT.__dict__, "password": "000000"})
    device = await monitoring.connect()
    await device.send(upload({"a34013": 4.0}, now(), 1, point=intruder))
    answer = await device.reply()
    assert (answer.cn, answer.cp["QnRtn"]) == ("9011", "3")
    assert await stored(hub) == []
    async with hub.db.session((await hub.scope()).tenant_ids) as session:
        reasons = list(await session.scalars(select(QuarantinedPacket.reason)))
    assert reasons == ["BAD_PASSWORD"]
    await device.close()


async def test_time_calibration_request_gets_9013(monitoring: Monitoring) -> None:
    device = await monitoring.connect()
    request = make("1013", POINT.mn, st="31", pw=POINT.password, qn="20261128093000001", flag=5)
    await device.send(request.to_bytes())
    answer = await device.reply()
    assert (answer.cn, answer.qn, answer.st) == ("9013", "20261128093000001", "91")
    await device.close()


async def test_a_2005_device_without_flag_is_stored_and_not_answered(
    hub: Hub, monitoring: Monitoring
) -> None:
    device = await monitoring.connect()
    at = now()
    cp = {"DataTime": data_time(at), "01": {"Rtd": 8.5}, "02": {"Rtd": 20.0}}
    packet = make("2011", POINT.mn, st="32", pw=POINT.password, cp=cp).to_bytes()
    await device.send(packet)
    await device.no_reply()
    assert sorted((r.pollutant, r.value) for r in await stored(hub)) == [("01", 8.5), ("02", 20.0)]
    await device.close()


async def test_a_message_in_two_parts_is_answered_per_part_and_stored_whole(
    hub: Hub, monitoring: Monitoring
) -> None:
    device = await monitoring.connect()
    at = now()
    parts = [
        make("2011", POINT.mn, st="31", pw=POINT.password, qn=f"2026112809300000{i}", flag=7,
             pnum=2, pno=i, cp={"DataTime": data_time(at), code: {"Rtd": value, "Flag": "N"}})
        for i, (code, value) in enumerate((("a34013", 4.0), ("a21026", 20.0)), 1)
    ]  # fmt: skip
    await device.send(parts[0].to_bytes())
    first = await device.reply()
    assert (first.cn, first.qn) == ("9014", "20261128093000001")
    assert await stored(hub) == []
    await device.send(parts[1].to_bytes())
    second = await device.reply()
    assert (second.cn, second.qn) == ("9014", "20261128093000002")
    assert sorted(r.pollutant for r in await stored(hub)) == ["a21026", "a34013"]
    await device.close()


async def test_many_devices_at_once_all_answered_in_few_batches(
    hub: Hub, monitoring: Monitoring
) -> None:
    at = now()

    async def one(point: world.DemoPoint) -> str:
        device = await monitoring.connect()
        values = {limit.pollutant: (limit.max or 1) / 2 for limit in point.limits}
        await device.send(upload(values, at, 1, point=point))
        reply = await device.reply()
        await device.close()
        return reply.cn

    assert await asyncio.gather(*(one(p) for p in world.POINTS)) == ["9014"] * len(world.POINTS)
    expected = sum(len(p.limits) for p in world.POINTS)
    async with hub.db.session((await hub.scope()).tenant_ids) as session:
        assert await session.scalar(select(func.count()).select_from(Reading)) == expected


async def test_an_idle_connection_is_closed(hub: Hub, monitoring: Monitoring) -> None:
    monitoring.listener.settings = hub.settings.model_copy(update={"hj212_idle_seconds": 0.2})
    device = await monitoring.connect()
    assert await asyncio.wait_for(device.reader.read(), TIMEOUT) == b""


def _metrics() -> str:
    from prometheus_client import generate_latest

    return generate_latest(REGISTRY).decode()


async def test_random_bytes_never_break_the_connection(hub: Hub, monitoring: Monitoring) -> None:
    """Fuzzing over the socket: whatever arrives, the next good packet is still answered."""
    rnd = random.Random(212)
    device = await monitoring.connect()
    good = upload({"a34013": 4.0}, now(), 1)
    for round_ in range(40):
        size = rnd.randint(1, 300)
        blob = bytes(rnd.getrandbits(8) for _ in range(size))
        if round_ % 3 == 0:  # make it look like a packet start now and then
            blob = b"##" + blob
        if round_ % 5 == 0:  # or a real packet cut short
            blob = good[: rnd.randint(1, len(good) - 1)]
        await device.send(blob + b"\r\n")
    await device.send(good)
    while (reply := await device.reply()).cn != "9014":
        assert reply.cn == "9011"  # only CRC-error answers may come before it
    assert reply.qn == parse(good).qn
    await device.close()
