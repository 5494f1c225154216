"""The demo's air stations upload each hour's means as it ends (what their alarms judge)."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

from connectors.hj212 import parse
from connectors.hj212.devices import DemoDevice
from hub.db import utcnow
from hub.demo import world

STATION = next(p for p in world.POINTS if p.kind == "AIR_STATION")


class Wire:
    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.sent.append(data)


def test_an_ended_hour_is_uploaded_once_as_hourly_means() -> None:
    device = DemoDevice(STATION, "127.0.0.1", 0, random.Random(1))
    last_hour = utcnow().replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    device.hour_sent = last_hour - timedelta(hours=1)
    wire: Any = Wire()
    device._hour_done(wire)
    device._hour_done(wire)  # the same hour again: nothing
    [packet] = wire.sent
    assert parse(packet).cn == "2061"
    assert device.hour_sent == last_hour
