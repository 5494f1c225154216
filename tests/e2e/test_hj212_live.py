"""HJ 212 against a real `sanwang serve`.

* A split message across a kill -9: parts 1 and 2 acknowledged by one process, the process
  killed with SIGKILL, a new one started on the same database, part 3 sent to it: every reading
  of the message is stored (a 9014 means the part is safe, restart or not).
* A flood of idle connections filling the listener: a real device still gets in and answered.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from sqlalchemy import select

from connectors.hj212 import make, parse
from connectors.hj212.devices import data_time
from hub.auth import system_scope
from hub.db import Database, utcnow
from hub.demo import world
from hub.monitoring.model import Reading
from tests.e2e.test_topology import healthy
from tests.processes import Proc, free_port, processes, sanwang

POINT = world.POINTS[0]
VALUES = (("a34013", 4.0), ("a21026", 20.0), ("a21002", 30.0))  # one factor per part


def parts() -> list[bytes]:
    at = data_time(utcnow())
    return [
        make("2011", POINT.mn, st="31", pw=POINT.password, qn=f"2026120420300000{pno}", flag=7,
             pnum=len(VALUES), pno=pno, cp={"DataTime": at, code: {"Rtd": value, "Flag": "N"}}
             ).to_bytes()
        for pno, (code, value) in enumerate(VALUES, 1)
    ]  # fmt: skip


def serve(db_url: str, tmp_path: Path, port: int, hj212_port: int, **more: str) -> Proc:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SANWANG_")}
    env.update(SANWANG_DATABASE_URL=db_url, SANWANG_SECRET_KEY="e2e-hj212")
    env.update({f"SANWANG_{k.upper()}": v for k, v in more.items()})
    return sanwang(f"serve --port {port} --hj212-port {hj212_port}", env, tmp_path)


async def send(port: int, packets: list[bytes]) -> list[str]:
    """Each packet on one connection, waiting for its answer as a device does."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    answers = []
    try:
        for packet in packets:
            writer.write(packet)
            await writer.drain()
            answers.append(parse(await asyncio.wait_for(reader.readline(), 20)).cn)
    finally:
        writer.close()
    return answers


async def test_parts_acknowledged_before_a_kill_9_complete_after_the_restart(
    db: Database, db_url: str, tmp_path: Path
) -> None:
    packets = parts()
    port, hj212_port = free_port(), free_port()
    async with processes() as started:
        first = serve(db_url, tmp_path, port, hj212_port)
        started.append(first)
        await healthy(f"http://127.0.0.1:{port}")
        assert await send(hj212_port, packets[:2]) == ["9014", "9014"]
        first.kill()  # SIGKILL: nothing is flushed, nothing handed back

        second = serve(db_url, tmp_path, port, hj212_port)
        started.append(second)
        await healthy(f"http://127.0.0.1:{port}")
        assert await send(hj212_port, packets[2:]) == ["9014"]
        await second.stop()

    scope = await system_scope(db)
    async with db.session(scope.tenant_ids) as session:
        rows = list(await session.scalars(select(Reading)))
    assert sorted((r.pollutant, r.value) for r in rows) == sorted(VALUES)


async def test_a_device_gets_in_while_idle_connections_fill_the_listener(
    db_url: str, tmp_path: Path
) -> None:
    port, hj212_port = free_port(), free_port()
    idle: list[asyncio.StreamWriter] = []
    async with processes() as started:
        proc = serve(db_url, tmp_path, port, hj212_port, hj212_max_connections="20")
        started.append(proc)
        await healthy(f"http://127.0.0.1:{port}")
        for _ in range(40):  # twice the cap: the later ones evict the earlier ones
            idle.append((await asyncio.open_connection("127.0.0.1", hj212_port))[1])
        await asyncio.sleep(0.5)
        cp = {"DataTime": data_time(utcnow()), "a34013": {"Rtd": 4.0, "Flag": "N"}}
        packet = make("2011", POINT.mn, st="31", pw=POINT.password, flag=5, cp=cp)
        assert await send(hj212_port, [packet.to_bytes()]) == ["9014"]
        for writer in idle:
            writer.close()
        await proc.stop()
