"""The HJ 212 listener over a real loopback socket: replies, readings, quarantine, framing."""

from __future__ import annotations

import asyncio
import contextlib
import random
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from connectors.hj212 import make, parse
from connectors.hj212.devices import data_time
from connectors.hj212.model import PendingPart
from connectors.hj212.parts import PartStore
from connectors.hj212.server import Listener
from hub.demo import world
from hub.metrics import REGISTRY
from hub.monitoring.model import MonitoringPoint, QuarantinedPacket, Reading
from hub.monitoring.writer import ReadingWriter
from tests.conftest import Hub
from tests.helpers import POINT, TIMEOUT, Device, Monitoring, now, upload
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
    monitoring.listener.settings = monitoring.listener.settings.model_copy(
        update={"idle_seconds": 0.2}
    )
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


async def test_a_field_mn_with_underscores_and_dashes_registers_and_is_stored(
    hub: Hub, monitoring: Monitoring
) -> None:
    """Air stations name themselves XXXX01_AIR01_0001: registered through GraphQL, their
    packets are stored and answered like any other device's."""
    mn = "XXXX01_AIR01-0001"
    data = await hub.gql(
        op("RegisterMonitoringPoint"),
        {
            "input": {
                "mn": mn, "name": "来集镇空气站", "kind": "AIR_STATION", "tenantCode": "laiji",
                "password": "123456", "latitude": 34.55, "longitude": 113.47, "limits": None,
            }
        },
    )  # fmt: skip
    assert data["registerMonitoringPoint"]["__typename"] != "UserError", data
    device = await monitoring.connect()
    at = now()
    packet = make("2011", mn, st="22", pw="123456", qn="20261128093000001", flag=5,
                  cp={"DataTime": data_time(at), "a34004": {"Rtd": 31.0, "Flag": "N"}})  # fmt: skip
    await device.send(packet.to_bytes())
    reply = await device.reply()
    assert (reply.cn, reply.mn) == ("9014", mn)
    assert [(r.pollutant, r.value) for r in await stored(hub, "a34004")] == [("a34004", 31.0)]
    await device.close()


async def test_a_data_time_of_year_one_is_refused_and_the_connection_stays_open(
    hub: Hub, monitoring: Monitoring
) -> None:
    device = await monitoring.connect()
    bad = make("2011", POINT.mn, st="31", pw=POINT.password, qn="20261128093000001", flag=5,
               cp={"DataTime": "00010101000000", "a34013": {"Rtd": 4.0, "Flag": "N"}})  # fmt: skip
    await device.send(bad.to_bytes())
    reply = await device.reply()
    assert (reply.cn, reply.qn, reply.cp) == ("9011", "20261128093000001", {"QnRtn": "2"})
    assert await stored(hub) == []
    await device.send(upload({"a34013": 4.2}, now(), 2))
    assert (await device.reply()).cn == "9014"
    assert [r.value for r in await stored(hub)] == [4.2]
    await device.close()


def split(point: world.DemoPoint, values: list[tuple[str, float]], *, mn: str | None = None,
          pw: str | None = None, pnum: int | None = None) -> list[bytes]:  # fmt: skip
    """A message in one part per factor (Flag=7: split, acknowledge each part)."""
    at = data_time(now())
    return [
        make("2011", mn or point.mn, st="31", pw=pw or point.password,
             qn=f"2026112809300{pno:04d}", flag=7, pnum=pnum or len(values), pno=pno,
             cp={"DataTime": at, code: {"Rtd": value, "Flag": "N"}}).to_bytes()
        for pno, (code, value) in enumerate(values, 1)
    ]  # fmt: skip


async def pending_parts(hub: Hub) -> list[tuple[str, int]]:
    async with hub.db.session((await hub.scope()).tenant_ids) as session:
        rows = await session.scalars(select(PendingPart).order_by(PendingPart.pno))
        return [(r.mn, r.pno) for r in rows]


async def test_acknowledged_parts_complete_on_another_connection_after_a_restart(
    hub: Hub, monitoring: Monitoring
) -> None:
    """Parts 1 and 2 answered 9014 by one listener and writer; both stopped (a restart);
    part 3 to a new listener on a new connection completes the message."""
    values = [("a34013", 4.0), ("a21026", 20.0), ("a21002", 30.0)]
    packets = split(POINT, values)
    device = await monitoring.connect()
    for packet in packets[:2]:
        await device.send(packet)
        assert (await device.reply()).cn == "9014"
    assert [pno for _, pno in await pending_parts(hub)] == [1, 2]
    await device.close()
    await monitoring.listener.stop()
    await monitoring.writer.stop()

    writer = ReadingWriter(hub.db, hub.settings)
    listener = Listener(writer, monitoring.listener.settings, monitoring.listener.tz)
    await listener.start("127.0.0.1", 0)
    try:
        again = await Monitoring(writer, listener).connect()
        await again.send(packets[2])
        assert (await again.reply()).cn == "9014"
        await again.close()
    finally:
        await listener.stop()
        await writer.stop()
    assert sorted((r.pollutant, r.value) for r in await stored(hub)) == sorted(values)
    assert await pending_parts(hub) == []  # assembled parts are deleted


@pytest.mark.parametrize(
    ("who", "qn_rtn"),
    [({"mn": "99999999999999"}, "4"), ({"pw": "000000"}, "3")],
)
async def test_a_part_from_an_unknown_device_or_with_a_wrong_pw_is_refused_not_kept(
    hub: Hub, monitoring: Monitoring, who: dict[str, str], qn_rtn: str
) -> None:
    """The flood of PNUM=9999 parts without any credential: refused like a whole packet."""
    device = await monitoring.connect()
    for packet in split(POINT, [("a34013", 4.0), ("a21026", 5.0)], pnum=9999, **who):
        await device.send(packet)
        reply = await device.reply()
        assert (reply.cn, reply.cp) == ("9011", {"QnRtn": qn_rtn})
    assert await pending_parts(hub) == []
    await device.close()


async def test_parts_over_the_caps_are_refused(hub: Hub, monitoring: Monitoring) -> None:
    monitoring.listener.settings = monitoring.listener.settings.model_copy(
        update={"max_parts": 3, "max_pending_bytes": 1024}
    )
    device = await monitoring.connect()
    [too_many] = split(POINT, [("a34013", 4.0)], pnum=4)
    await device.send(too_many)
    assert ((await device.reply()).cn, await pending_parts(hub)) == ("9011", [])
    big = [(f"a9{n:04d}", float(n)) for n in range(30)]  # ~700 bytes a part
    packets = [
        make("2011", POINT.mn, st="31", pw=POINT.password, qn=f"2026112809300000{pno}", flag=7,
             pnum=3, pno=pno, cp={code: {"Rtd": value, "Flag": "N"} for code, value in big})
        .to_bytes()
        for pno in (1, 2)
    ]  # fmt: skip
    await device.send(packets[0])
    assert (await device.reply()).cn == "9014"
    await device.send(packets[1])
    reply = await device.reply()
    assert (reply.cn, reply.cp) == ("9011", {"QnRtn": "2"})
    assert [pno for _, pno in await pending_parts(hub)] == [1]
    await device.close()


async def test_stale_parts_expire_and_complete_nothing(hub: Hub) -> None:
    store = PartStore(hub.db, ttl_seconds=600)
    tenant = (await _point_row(hub)).tenant_id
    first, second = (parse(p) for p in split(POINT, [("a34013", 4.0), ("a21026", 5.0)]))
    assert await store.keep(tenant, first, now() - timedelta(hours=1)) == []
    assert await store.keep(tenant, second, now()) == []  # part 1 expired: not whole
    assert [pno for _, pno in await pending_parts(hub)] == [2]


async def _point_row(hub: Hub) -> MonitoringPoint:
    async with hub.db.session((await hub.scope()).tenant_ids) as session:
        row = await session.scalar(select(MonitoringPoint).where(MonitoringPoint.mn == POINT.mn))
    assert row is not None
    return row


async def _open(monitoring: Monitoring, count: int) -> list[Device]:
    """``count`` connections that send nothing, once the listener has taken them all."""
    before = len(monitoring.listener.connections)
    idle = [await monitoring.connect() for _ in range(count)]
    for _ in range(100):
        if len(monitoring.listener.connections) >= before + count:
            break
        await asyncio.sleep(0.02)
    return idle


async def test_a_full_listener_evicts_an_idle_connection_for_a_real_device(
    hub: Hub, monitoring: Monitoring
) -> None:
    """Idle sockets filling SANWANG_HJ212_MAX_CONNECTIONS once refused every device for 900 s."""
    monitoring.listener.settings = monitoring.listener.settings.model_copy(
        update={"max_connections": 3}
    )
    idle = await _open(monitoring, 3)
    device = await monitoring.connect()
    await device.send(upload({"a34013": 4.2}, now(), 1))
    assert (await device.reply()).cn == "9014"
    assert await asyncio.wait_for(idle[0].reader.read(), TIMEOUT) == b""  # the oldest went
    # Now full with a proven device and two idle sockets: the next stranger evicts an idle one.
    stranger = await monitoring.connect()
    await stranger.send(upload({"a34013": 4.3}, now(), 2))
    assert (await stranger.reply()).cn == "9014"
    await device.send(upload({"a34013": 4.4}, now() + timedelta(seconds=1), 3))
    assert (await device.reply()).cn == "9014"  # a proven connection is never evicted
    for sock in (*idle, device, stranger):
        await sock.close()


async def test_connections_from_one_address_are_capped(hub: Hub, monitoring: Monitoring) -> None:
    monitoring.listener.settings = monitoring.listener.settings.model_copy(
        update={"max_connections_per_address": 2}
    )
    first = await _open(monitoring, 2)
    third = await monitoring.connect()
    assert await asyncio.wait_for(third.reader.read(), TIMEOUT) == b""
    await first[0].close()
    for _ in range(100):  # the listener notices the close
        if len(monitoring.listener.connections) < 2:
            break
        await asyncio.sleep(0.02)
    device = await monitoring.connect()
    await device.send(upload({"a34013": 4.2}, now(), 1))
    assert (await device.reply()).cn == "9014"
    await first[1].close()
    await device.close()


async def test_a_connection_without_a_registered_device_is_closed_whatever_it_sends(
    hub: Hub, monitoring: Monitoring
) -> None:
    """Whitespace used to renew the 900 s idle timeout forever; now the clock runs from the
    connect until a registered device's packet is stored."""
    monitoring.listener.settings = monitoring.listener.settings.model_copy(
        update={"unproven_seconds": 0.5}
    )
    squatter, device = await monitoring.connect(), await monitoring.connect()
    await device.send(upload({"a34013": 4.2}, now(), 1))
    assert (await device.reply()).cn == "9014"

    async def keep_sending() -> None:
        with contextlib.suppress(ConnectionError):
            for _ in range(50):
                await squatter.send(b" \r\n")
                await asyncio.sleep(0.1)

    sender = asyncio.create_task(keep_sending())
    assert await asyncio.wait_for(squatter.reader.read(), TIMEOUT) == b""
    sender.cancel()
    await device.send(upload({"a34013": 4.3}, now() + timedelta(seconds=1), 2))
    assert (await device.reply()).cn == "9014"  # the proven one stays open
    await device.close()


async def test_parts_out_of_order_are_each_answered_with_their_own_qn(
    hub: Hub, monitoring: Monitoring
) -> None:
    """The part that completes the message is answered, not the one with the last PNO."""
    values = [("a34013", 4.0), ("a21026", 20.0), ("a21002", 30.0)]
    packets = split(POINT, values)
    device = await monitoring.connect()
    for packet in (packets[2], packets[0], packets[1]):
        await device.send(packet)
        reply = await device.reply()
        assert (reply.cn, reply.qn) == ("9014", parse(packet).qn)
    assert sorted((r.pollutant, r.value) for r in await stored(hub)) == sorted(values)
    await device.close()
