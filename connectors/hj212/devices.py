"""Simulated HJ 212 devices for the demo: one TCP connection per demo monitoring point, sending
real-time data over the real listener as a DAS would (HJ 212-2017, Flag=5: answer wanted).

Now and then a source goes over its limit for a while (an alarm case opens, and its end is
written on the case), and now and then a packet arrives corrupted (the listener logs and counts
it, and the connection carries on). Air stations first send the last two days of hourly data,
so that the airQuality query has days to compute, then each hour's means as it ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from connectors.hj212.codec import make
from hub.db import Database, utcnow
from hub.demo import world

log = logging.getLogger("connectors.hj212.demo")

SEND_SECONDS = 10.0  # a real DAS sends real-time data every 30 s to a few minutes
EXCURSION_CHANCE = 0.01  # per packet: the device starts an over-limit spell
EXCURSION_PACKETS = (4, 8)
CORRUPT_CHANCE = 0.02
HISTORY_HOURS = 48
CHINA = ZoneInfo("Asia/Shanghai")


def qn_of(at: datetime, seq: int) -> str:
    """QN: yyyyMMddHHmmssSSS, local time; the milliseconds carry a sequence number."""
    return at.astimezone(CHINA).strftime("%Y%m%d%H%M%S") + f"{seq % 1000:03d}"


def data_time(at: datetime) -> str:
    return at.astimezone(CHINA).strftime("%Y%m%d%H%M%S")


def data_packet(
    point: world.DemoPoint,
    values: dict[str, float],
    at: datetime,
    seq: int,
    *,
    cn: str = "2011",
    flag: str = "N",
) -> bytes:
    """One upload of ``values`` (Rtd for 2011, Avg/Min/Max otherwise), Flag=5."""
    cp: dict[str, object] = {"DataTime": data_time(at)}
    for code, value in values.items():
        if cn == "2011":
            cp[code] = {"Rtd": round(value, 2), "Flag": flag}
        else:
            cp[code] = {
                "Avg": round(value, 2),
                "Min": round(value * 0.8, 2),
                "Max": round(value * 1.2, 2),
                "Flag": flag,
            }
    st = "22" if point.kind == "AIR_STATION" else ("32" if point.kind == "WASTEWATER" else "31")
    packet = make(cn, point.mn, st=st, pw=point.password, qn=qn_of(at, seq), flag=5, cp=cp)
    return packet.to_bytes()


def typical(point: world.DemoPoint, rnd: random.Random) -> dict[str, float]:
    """Values well inside the limits (pH between its bounds)."""
    found = {}
    for limit in point.limits:
        if limit.min is not None and limit.max is not None:
            found[limit.pollutant] = rnd.uniform(limit.min + 0.3, limit.max - 0.5)
        elif limit.max is not None:
            found[limit.pollutant] = limit.max * rnd.uniform(0.2, 0.7)
    return found


def corrupt(packet: bytes) -> bytes:
    """The same packet with its CRC broken (as a noisy line would)."""
    wrong = b"0000" if packet[-6:-2] != b"0000" else b"FFFF"
    return packet[:-6] + wrong + b"\r\n"


@dataclass
class DemoDevice:
    point: world.DemoPoint
    host: str
    port: int
    rnd: random.Random
    seq: int = 0
    excursion: int = 0
    answers: int = 0
    hour_sent: datetime | None = None  # the newest hour whose means were uploaded

    async def run(self) -> None:
        while True:
            try:
                await self._session()
            except (ConnectionError, OSError) as exc:
                log.info("demo device %s: %s; reconnecting", self.point.mn, exc)
            await asyncio.sleep(SEND_SECONDS)

    async def _session(self) -> None:
        reader, writer = await asyncio.open_connection(self.host, self.port)
        reading = asyncio.create_task(self._read(reader))
        try:
            if self.point.kind == "AIR_STATION":
                await self._history(writer)
            while True:
                if self.point.kind == "AIR_STATION":
                    self._hour_done(writer)
                writer.write(self._next())
                await writer.drain()
                await asyncio.sleep(SEND_SECONDS * self.rnd.uniform(0.8, 1.2))
        finally:
            reading.cancel()
            writer.close()

    async def _read(self, reader: asyncio.StreamReader) -> None:
        while await reader.readline():
            self.answers += 1

    async def _history(self, writer: asyncio.StreamWriter) -> None:
        now = utcnow().replace(minute=0, second=0, microsecond=0)
        for hours in range(HISTORY_HOURS, 0, -1):
            at = now - timedelta(hours=hours)
            self.seq += 1
            writer.write(data_packet(self.point, self._air(at), at, self.seq, cn="2061"))
        self.hour_sent = now - timedelta(hours=1)
        await writer.drain()

    def _hour_done(self, writer: asyncio.StreamWriter) -> None:
        """At the turn of an hour an air station uploads the hour's means (2061): what its
        alarms and the AQI are judged on."""
        hour = utcnow().replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
        if self.hour_sent is not None and hour <= self.hour_sent:
            return
        self.hour_sent = hour
        self.seq += 1
        writer.write(data_packet(self.point, self._air(hour), hour, self.seq, cn="2061"))

    def _air(self, at: datetime) -> dict[str, float]:
        """PM2.5 and PM10 with a daily rhythm (worse at night and in the morning)."""
        hour = at.astimezone(CHINA).hour
        base = 45 + 25 * (1 if hour < 9 or hour > 20 else 0) + self.rnd.uniform(-15, 15)
        return {"a34004": max(5.0, base), "a34002": max(10.0, base * 1.7)}

    def _next(self) -> bytes:
        self.seq += 1
        at = utcnow().replace(microsecond=0)
        values = (
            self._air(at) if self.point.kind == "AIR_STATION" else typical(self.point, self.rnd)
        )
        if self.excursion == 0 and self.rnd.random() < EXCURSION_CHANCE:
            self.excursion = self.rnd.randint(*EXCURSION_PACKETS)
        if self.excursion:
            self.excursion -= 1
            limit = self.point.limits[0]
            assert limit.max is not None
            values[limit.pollutant] = limit.max * self.rnd.uniform(1.3, 2.5)
        packet = data_packet(self.point, values, at, self.seq)
        return corrupt(packet) if self.rnd.random() < CORRUPT_CHANCE else packet


@dataclass
class DemoDevices:
    db: Database
    host: str
    port: int
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def start(self) -> None:
        rnd = random.Random()
        for point in world.POINTS:
            device = DemoDevice(point, self.host, self.port, random.Random(rnd.random()))
            self.tasks.append(asyncio.create_task(device.run(), name=f"demo-{point.mn}"))
        log.info(
            "demo devices: %d HJ 212 devices sending every %.0f s to %s:%d",
            len(self.tasks),
            SEND_SECONDS,
            self.host,
            self.port,
        )

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
