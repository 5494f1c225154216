"""Several HJ 212 listener processes on one port (SO_REUSEPORT, SANWANG_HJ212_PROCESSES): each
connection is served whole by one process, whose own writer commits before it answers."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from connectors.hj212 import parse
from connectors.hj212.processes import ListenerProcesses
from connectors.hj212.server import Listener
from connectors.hj212.settings import hj212_settings, process_count
from hub.demo import world
from hub.monitoring.model import AlarmEpisode, Interval, QuarantinedPacket, Reading
from hub.monitoring.writer import Outcome, ReadingWriter, Sample, Upload
from tests.conftest import Hub
from tests.helpers import POINT, Monitoring, now, upload
from tests.processes import free_port

CONNECTIONS = 24  # all on one of two sockets: 2 x 2^-24


@pytest.fixture
async def two_processes(hub: Hub) -> AsyncIterator[tuple[Monitoring, ListenerProcesses]]:
    """This process's listener and writer, and one child process on the same port."""
    runtime = hub.app.state.runtime
    settings = hj212_settings(runtime)
    writer = ReadingWriter(hub.db, runtime.settings, handoff=True)
    await writer.start()
    listener = Listener(writer, settings, runtime.tz)
    await listener.start("127.0.0.1", 0, reuse_port=True)
    child = ListenerProcesses(runtime.settings, settings, listener.port, 1)
    await child.start()
    try:
        yield Monitoring(writer, listener), child
    finally:
        await child.stop()
        await listener.stop()
        await writer.stop()


async def count_of(hub: Hub, model: type) -> int:
    async with hub.db.session((await hub.scope()).tenant_ids) as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_connections_spread_over_processes_each_answered_after_commit(
    hub: Hub, two_processes: tuple[Monitoring, ListenerProcesses]
) -> None:
    monitoring, child = two_processes
    point = world.POINTS[0]
    value = {limit.pollutant: (limit.max or 1) / 2 for limit in point.limits}
    start = now() - timedelta(minutes=CONNECTIONS + 1)
    seen: list[int] = []

    async def one(n: int) -> None:
        device = await monitoring.connect()
        at = start + timedelta(minutes=n)
        packet = upload(value, at, n, point=point)
        # one packet split across three reads
        for piece in (packet[:7], packet[7:50], packet[50:]):
            await device.send(piece)
            await asyncio.sleep(0.02)
        reply = await device.reply()
        assert (reply.cn, reply.qn) == ("9014", parse(packet).qn)
        # answered only once committed: the rows are there, whichever process wrote them
        async with hub.db.session((await hub.scope()).tenant_ids) as session:
            rows = await session.scalar(
                select(func.count()).select_from(Reading).where(Reading.at == at)
            )
        seen.append(int(rows or 0))
        await device.close()

    await asyncio.gather(*(one(n) for n in range(CONNECTIONS)))
    assert seen == [len(value)] * CONNECTIONS
    # some connections were served here, the others by the child
    assert 0 < monitoring.listener.accepted < CONNECTIONS
    assert await count_of(hub, Reading) == CONNECTIONS * len(value)
    assert len(child.pids) == 1


async def test_in_every_process_several_packets_in_one_read_and_unknown_mns_refused(
    hub: Hub, two_processes: tuple[Monitoring, ListenerProcesses]
) -> None:
    monitoring, _ = two_processes
    newcomer = world.DemoPoint(
        "laiji", "88888880000077", "新装设备", "WASTEWATER", None, "654321", 113.47, 34.55, ()
    )
    start = now() - timedelta(minutes=10)

    async def one(n: int) -> list[tuple[str, str | None]]:
        device = await monitoring.connect()
        good = [
            upload({"a34013": float(n)}, start + timedelta(seconds=n * 10 + k), k) for k in range(3)
        ]
        unknown = upload({"w01018": 31.0}, start, n, point=newcomer)
        await device.send(good[0] + unknown + good[1] + good[2])  # four in one write
        replies = [await device.reply() for _ in range(4)]
        await device.close()
        return [(r.cn, r.cp.get("QnRtn")) for r in replies]

    results = await asyncio.gather(*(one(n) for n in range(12)))
    for replies in results:
        assert sorted(replies, key=str) == sorted([("9014", None)] * 3 + [("9011", "4")], key=str)
    assert await count_of(hub, Reading) == 12 * 3
    assert await count_of(hub, QuarantinedPacket) == 12
    assert 0 < monitoring.listener.accepted < 12


def test_the_process_count_defaults_to_the_cores_on_postgresql_and_one_on_sqlite() -> None:
    from connectors.hj212.settings import HJ212Settings

    assert process_count(HJ212Settings(processes=0), "sqlite+aiosqlite:///x.db") == 1
    assert process_count(HJ212Settings(processes=0), "postgresql+asyncpg://h/d") >= 1
    assert process_count(HJ212Settings(processes=3), "sqlite+aiosqlite:///x.db") == 3


@pytest.mark.parametrize("handoff", [True, False])
async def test_a_point_moving_to_another_process_ends_the_episode_opened_in_the_first(
    hub: Hub, handoff: bool
) -> None:
    """Two writers as two processes have them: the device's episode opens in one; it comes
    back within the limit through the other, which (with handoff) reads the open episode and
    ends it. Without handoff the second never learns of it: the episode would stay open."""
    settings = hub.app.state.runtime.settings
    first = ReadingWriter(hub.db, settings, handoff=True)
    second = ReadingWriter(hub.db, settings, handoff=handoff)
    await first.start()
    await second.start()  # both running before the episode opens
    try:
        start = now() - timedelta(minutes=5)
        over = [
            Sample("a34013", Interval.REALTIME, start + timedelta(seconds=i), 25.0)
            for i in range(3)
        ]
        assert await first.submit(Upload(POINT.mn, POINT.password, over)) is Outcome.STORED
        back = [Sample("a34013", Interval.REALTIME, start + timedelta(seconds=10), 4.0)]
        assert await second.submit(Upload(POINT.mn, POINT.password, back)) is Outcome.STORED
    finally:
        await first.stop()
        await second.stop()
    async with hub.db.session((await hub.scope()).tenant_ids) as session:
        episodes = list(
            await session.scalars(
                select(AlarmEpisode).where(
                    AlarmEpisode.kind == "OVER_LIMIT", AlarmEpisode.pollutant == "a34013"
                )
            )
        )
    assert len(episodes) == 1
    assert (episodes[0].ended_at is not None) is handoff


async def test_a_listener_process_stops_when_its_parent_dies(db_url: str, tmp_path: Path) -> None:
    """An API process killed outright leaves no listener behind on the port."""
    script = tmp_path / "parent.py"
    script.write_text(
        "import asyncio, sys\n"
        "from connectors.hj212.processes import ListenerProcesses\n"
        "from connectors.hj212.settings import HJ212Settings\n"
        "from hub.config import Settings\n"
        "async def main():\n"
        "    s = Settings(database_url=sys.argv[1], secret_key='x' * 32, _env_file=None)\n"
        "    p = ListenerProcesses(s, HJ212Settings(_env_file=None), int(sys.argv[2]), 1)\n"
        "    await p.start()\n"
        "    print(p.pids[0], flush=True)\n"
        "    await asyncio.sleep(600)\n"
        "if __name__ == '__main__':\n"
        "    asyncio.run(main())\n"
    )
    port = free_port()
    parent = subprocess.Popen(
        [sys.executable, str(script), db_url, str(port)],
        stdout=subprocess.PIPE,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        assert parent.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(parent.stdout.readline), 60)
        child = int(line)
        assert Path(f"/proc/{child}").exists()
        parent.kill()
        parent.wait(10)
        for _ in range(100):
            if not Path(f"/proc/{child}").exists() or "Z" in _state(child):
                break
            await asyncio.sleep(0.1)
        assert not Path(f"/proc/{child}").exists() or "Z" in _state(child)
    finally:
        parent.kill()


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"


async def test_a_port_taken_by_another_listener_is_refused_not_shared() -> None:
    from connectors.hj212.processes import check_port_free

    taken = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0, reuse_port=True)
    try:
        port = taken.sockets[0].getsockname()[1]
        with pytest.raises(OSError):
            check_port_free("127.0.0.1", port)
    finally:
        taken.close()
        await taken.wait_closed()
    check_port_free("127.0.0.1", free_port())
