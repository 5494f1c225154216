"""HJ 212 end to end: many device connections over loopback TCP into PostgreSQL, against a raw
COPY of the same rows measured in the same run; and a memory soak.

    python -m tests.perf.bench_hj212_ingest \
        [--url postgresql+asyncpg://postgres@127.0.0.1:5432/sanwang_hj212] \
        [--devices 200] [--packets 100] [--factors 10] [--window 16] [--soak SECONDS]

A real `sanwang serve` process (its own database, migrated, demo world seeded, ``--devices``
extra points registered) listens on a free HJ 212 port. This process opens one connection per
device and streams pre-built real-time uploads (Flag=5, ``--factors`` values each, distinct
DataTimes), keeping at most ``--window`` unanswered per connection, as a DAS that pipelines.
The figure is readings acknowledged (9014 received: committed) per wall-clock second, checked
against the rows in the table afterwards. Then the same rows are COPYed into an empty table
shaped like ``readings`` (same primary key) and timed: the ratio says how far the whole path
(TCP, framing, CRC, parsing, batching, INSERT ... ON CONFLICT, point state, alarm checks) is
from the database's own bulk load. ``--soak`` then keeps a steady load for that many seconds
and samples the server's RSS every 10 s (peak and first/last reported).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx

from connectors.hj212 import make
from tests.perf.generate import asyncpg_dsn, prepare_database
from tests.processes import free_port

FACTORS = [
    "a34013",
    "a21026",
    "a21002",
    "a19001",
    "a01011",
    "a01012",
    "a01013",
    "a01014",
    "a00000",
    "a21005",
    "a24088",
    "a34001",
    "a21003",
    "a21004",
]
PASSWORD = "123456"


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    port: int
    http: int

    def pids(self) -> list[int]:
        """The server and its listener processes (SANWANG_HJ212_PROCESSES), and their helpers."""
        found, todo = [], [self.proc.pid]
        while todo:
            pid = todo.pop()
            found.append(pid)
            try:
                with open(f"/proc/{pid}/task/{pid}/children") as children:
                    todo.extend(int(c) for c in children.read().split())
            except OSError:
                pass
        return found

    def cpu_seconds(self) -> float:
        return sum(cpu_of(pid) for pid in self.pids())

    def rss_mb(self) -> float:
        total = 0.0
        for pid in self.pids():
            try:
                with open(f"/proc/{pid}/status") as status:
                    for line in status:
                        if line.startswith("VmRSS:"):
                            total += int(line.split()[1]) / 1024
            except OSError:
                pass
        return total


def cpu_of(pid: int) -> float:
    """User + system CPU seconds of a process (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def backend_pids(url: str) -> list[int]:
    """PostgreSQL backends connected to the benchmark's database (the server's pools)."""
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        rows = await conn.fetch(
            "select pid from pg_stat_activity where datname = current_database() "
            "and pid <> pg_backend_pid()"
        )
        return [r["pid"] for r in rows]
    finally:
        await conn.close()


def background_pids() -> list[int]:
    """PostgreSQL's own processes that do not serve one database: the WAL writer, the
    checkpointer, the background writer (their work grows with what is written)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as cmd:
                line = cmd.read().replace(b"\0", b" ")
        except OSError:
            continue
        if any(name in line for name in (b"walwriter", b"checkpointer", b"background writer")):
            found.append(int(entry))
    return found


def batch_figures(server: Server) -> tuple[float, float]:
    """(batches committed, seconds spent committing them) from the server's /metrics."""
    text = httpx.get(f"http://127.0.0.1:{server.http}/metrics").text
    found = {}
    for line in text.splitlines():
        for name in ("sanwang_reading_batch_seconds_count", "sanwang_reading_batch_seconds_sum"):
            if line.startswith(name + " "):
                found[name] = float(line.split()[1])
    return (
        found.get("sanwang_reading_batch_seconds_count", 0.0),
        found.get("sanwang_reading_batch_seconds_sum", 0.0),
    )


def mn_of(i: int) -> str:
    return f"BENCH{i:09d}"


async def register_devices(url: str, devices: int, factors: int) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        tenant = await conn.fetchval("select id from tenants where code = 'laiji'")
        await conn.execute(
            "delete from readings where point_id in "
            "(select id from monitoring_points where mn like 'BENCH%')"
        )
        await conn.execute("delete from monitoring_points where mn like 'BENCH%'")
        limits = [
            {"pollutant": f, "max": 1e6, "min": None, "unit": "mg/m3"} for f in FACTORS[:factors]
        ]
        import json

        await conn.executemany(
            "insert into monitoring_points (id, tenant_id, mn, name, kind, password, limits, "
            "created_at, latest) values ($1, $2, $3, $4, 'FLUE_GAS', $5, $6::jsonb, now(), '{}')",
            [
                (uuid.uuid4(), tenant, mn_of(i), f"压测设备{i}", PASSWORD, json.dumps(limits))
                for i in range(devices)
            ],
        )
    finally:
        await conn.close()


def start_server(url: str, home: Path, processes: int, port_base: int = 0) -> Server:
    port, http = (port_base, port_base + 1) if port_base else (free_port(), free_port())
    env = {
        **os.environ,
        "SANWANG_DATABASE_URL": url,
        "SANWANG_SECRET_KEY": "bench-secret",
        "SANWANG_AUTO_MIGRATE": "true",
        "SANWANG_LOG_LEVEL": "WARNING",
        # every simulated device connects from loopback: one address
        "SANWANG_HJ212_MAX_CONNECTIONS_PER_ADDRESS": "10000",
        "SANWANG_HJ212_PROCESSES": str(processes),
    }
    subprocess.run(
        [sys.executable, "-m", "hub.cli", "demo", "--no-month"],
        env=env,
        cwd=home,
        check=True,
        capture_output=True,
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "hub.cli", "serve", "--port", str(http), "--hj212-port", str(port)],
        env=env,
        cwd=home,
        stdout=subprocess.DEVNULL,
        stderr=sys.stderr,
    )
    for _ in range(300):
        try:
            if httpx.get(f"http://127.0.0.1:{http}/healthz").status_code == 200:
                return Server(proc, port, http)
        except httpx.TransportError:
            time.sleep(0.1)
    raise SystemExit("the hub did not start")


def build_packets(device: int, count: int, factors: int, start: datetime, seq0: int) -> list[bytes]:
    mn = mn_of(device)
    out = []
    for n in range(count):
        at = start + timedelta(seconds=n)
        cp: dict[str, object] = {"DataTime": at.strftime("%Y%m%d%H%M%S")}
        for k, code in enumerate(FACTORS[:factors]):
            cp[code] = {"Rtd": round(10 + k + (n % 50) * 0.1, 2), "Flag": "N"}
        qn = at.strftime("%Y%m%d%H%M%S") + f"{(seq0 + n) % 1000:03d}"
        out.append(make("2011", mn, st="31", pw=PASSWORD, qn=qn, flag=5, cp=cp).to_bytes())
    return out


async def stream(port: int, packets: list[bytes], window: int) -> int:
    """Send with at most ``window`` unanswered; returns the 9014s received."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
    answered = 0
    credit = asyncio.Semaphore(window)

    async def read() -> None:
        nonlocal answered
        while answered < len(packets):
            line = await reader.readline()
            if not line:
                return
            if b"CN=9014" in line:
                answered += 1
                credit.release()

    reading = asyncio.create_task(read())
    for sent, packet in enumerate(packets, 1):
        await credit.acquire()
        writer.write(packet)
        if sent % 8 == 0:
            await writer.drain()
    await writer.drain()
    await asyncio.wait_for(reading, 300)
    writer.close()
    return answered


async def count_rows(url: str) -> int:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        return await conn.fetchval(
            "select count(*) from readings r join monitoring_points p on p.id = r.point_id "
            "where p.mn like 'BENCH%'"
        )
    finally:
        await conn.close()


async def copy_baseline(url: str, rows: int) -> tuple[float, float]:
    """Seconds to COPY ``rows`` rows shaped like the readings into a table like readings, and
    the CPU seconds it took (the PostgreSQL backend's, WAL writer and the like included, and
    this process's while it encoded and sent the rows)."""
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await conn.execute("drop table if exists readings_copy_bench")
        await conn.execute("create table readings_copy_bench (like readings including all)")
        ids = [uuid.uuid4() for _ in range(max(1, rows // 1000))]
        tenant = uuid.uuid4()
        base = datetime.now(UTC)
        records = [
            (
                ids[i % len(ids)],
                FACTORS[i % 10],
                "REALTIME",
                base + timedelta(seconds=i // 10),
                tenant,
                12.5,
                None,
                None,
                "N",
            )
            for i in range(rows)
        ]
        pids = [await conn.fetchval("select pg_backend_pid()"), *background_pids()]
        cpu = sum(cpu_of(pid) for pid in pids) + time.process_time()
        started = time.perf_counter()
        await conn.copy_records_to_table(
            "readings_copy_bench",
            records=records,
            columns=[
                "point_id",
                "pollutant",
                "interval",
                "at",
                "tenant_id",
                "value",
                "min",
                "max",
                "flag",
            ],
        )
        seconds = time.perf_counter() - started
        cpu = sum(cpu_of(pid) for pid in pids) + time.process_time() - cpu
        await conn.execute("drop table readings_copy_bench")
        return seconds, cpu
    finally:
        await conn.close()


async def run_load(
    server: Server,
    devices: int,
    packets: int,
    factors: int,
    window: int,
    start: datetime,
    seq0: int,
) -> tuple[int, float]:
    prepared = [build_packets(d, packets, factors, start, seq0) for d in range(devices)]
    started = time.perf_counter()
    answered = await asyncio.gather(*(stream(server.port, p, window) for p in prepared))
    return sum(answered), time.perf_counter() - started


async def soak(server: Server, seconds: float, devices: int, factors: int) -> None:
    print(f"soak: {seconds:.0f} s of steady load, RSS sampled every 10 s")
    samples: list[float] = [server.rss_mb()]
    ends = time.monotonic() + seconds
    start = datetime(2030, 1, 1, tzinfo=UTC)
    rounds = 0
    while time.monotonic() < ends:
        await run_load(server, devices, 20, factors, 8, start + timedelta(hours=rounds), rounds)
        rounds += 1
        if time.monotonic() - ends + seconds >= 10 * len(samples):
            samples.append(server.rss_mb())
            print(f"  {10 * (len(samples) - 1):4d} s  RSS {samples[-1]:7.1f} MB")
    samples.append(server.rss_mb())
    print(
        f"soak: {rounds} rounds; RSS first {samples[0]:.1f} MB, peak {max(samples):.1f} MB, "
        f"last {samples[-1]:.1f} MB"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/sanwang_hj212_bench"
    )
    parser.add_argument("--devices", type=int, default=200)
    parser.add_argument("--packets", type=int, default=100)
    parser.add_argument("--factors", type=int, default=10)
    parser.add_argument("--window", type=int, default=16)
    parser.add_argument("--soak", type=float, default=0.0)
    parser.add_argument(
        "--processes", type=int, default=0, help="SANWANG_HJ212_PROCESSES (0: one per core)"
    )
    parser.add_argument(
        "--port-base", type=int, default=0, help="HJ 212 port; HTTP the next (0: free ports)"
    )
    args = parser.parse_args()
    await prepare_database(args.url, fresh=True)
    home = Path(f"/tmp/bench-hj212-{os.getpid()}")
    home.mkdir(exist_ok=True)
    server = start_server(args.url, home, args.processes, args.port_base)
    try:
        await register_devices(args.url, args.devices, args.factors)
        idle_cpu = server.cpu_seconds()
        await asyncio.sleep(31)  # the listener's registry cache reads the new points again
        idle_cpu = (server.cpu_seconds() - idle_cpu) / 31  # its own jobs, no device sending
        # recent times: the rows land in this month's partition, as live data does
        day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        warm_start = day - timedelta(days=2)
        await run_load(server, args.devices, 5, args.factors, args.window, warm_start, 500)
        start = day - timedelta(days=1)
        spy = None
        if os.environ.get("BENCH_PYSPY"):  # a profile of the server under the load
            spy = subprocess.Popen(
                [
                    "py-spy",
                    "record",
                    "--subprocesses",
                    "-p",
                    str(server.proc.pid),
                    "-f",
                    "raw",
                    "-o",
                    os.environ["BENCH_PYSPY"],
                    "-r",
                    "200",
                    "--gil",  # only the thread holding the GIL: where the CPU goes
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        pg_pids = await backend_pids(args.url) + background_pids()
        cpu_pg = sum(cpu_of(pid) for pid in pg_pids)
        cpu_server, cpu_client = server.cpu_seconds(), time.process_time()
        batches_before, batch_seconds_before = batch_figures(server)
        answered, seconds = await run_load(
            server, args.devices, args.packets, args.factors, args.window, start, 0
        )
        cpu_server = server.cpu_seconds() - cpu_server
        cpu_pg = sum(cpu_of(pid) for pid in pg_pids) - cpu_pg
        batches, batch_seconds = batch_figures(server)
        batches -= batches_before
        batch_seconds -= batch_seconds_before
        cpu_client = time.process_time() - cpu_client
        if spy is not None:
            spy.send_signal(2)
            spy.wait(30)
        readings = answered * args.factors
        stored = await count_rows(args.url) - args.devices * 5 * args.factors
        print(
            f"end to end: {args.devices} connections x {args.packets} packets x "
            f"{args.factors} values, window {args.window}"
        )
        print(
            f"  {answered} packets answered 9014, {readings} readings in {seconds:.2f} s: "
            f"{readings / seconds:,.0f} readings/s, {answered / seconds:,.0f} packets/s"
        )
        print(f"  rows in the table: {stored} (expected {readings})")
        print(
            f"  CPU: server {cpu_server:.2f} s ({cpu_server / seconds:.0%} of a core), "
            f"load generator {cpu_client:.2f} s (incl. building packets)"
        )
        print(
            f"  CPU: PostgreSQL {cpu_pg:.2f} s (the server's backends, WAL writer, checkpointer, "
            f"background writer: {cpu_pg / seconds:.0%} of a core)"
        )
        print(
            f"  API process alone (its /metrics): {batches:.0f} batches committed, "
            f"{batch_seconds:.2f} s writing them ({batch_seconds / seconds:.0%} of the run)"
        )
        print(
            f"  server CPU while idle (before the runs): {idle_cpu:.1%} of a core, "
            f"{idle_cpu * seconds / readings * 1e6:.1f} us per reading of this run"
        )
        per_hub = cpu_server / readings
        per_pg = cpu_pg / readings
        per_reading = per_hub + per_pg
        print(
            f"per core: hub {1 / per_hub:,.0f} readings per CPU-second, PostgreSQL "
            f"{1 / per_pg:,.0f}; together {per_reading * 1e6:.1f} us of CPU per reading"
        )
        print(
            "estimate (CPU-bound, linear in cores, load generator elsewhere): "
            f"2 cores {2 / per_reading:,.0f} readings/s, 16 cores {16 / per_reading:,.0f} "
            f"readings/s with {args.processes or 'one per core'} listener processes"
        )
        copy_seconds, copy_cpu = await copy_baseline(args.url, readings)
        print(
            f"raw COPY of {readings} rows into a table like readings: {copy_seconds:.2f} s, "
            f"{readings / copy_seconds:,.0f} rows/s; CPU {copy_cpu:.2f} s "
            f"({copy_cpu / readings * 1e6:.1f} us per row)"
        )
        print(
            f"CPU per reading, end to end / COPY: {(cpu_server + cpu_pg) / copy_cpu:.2f}x "
            "(the load generator's CPU left out; it stands for the devices)"
        )
        print(
            f"ratio end to end / COPY: {seconds / copy_seconds:.2f}x (budget 3x); "
            f"server RSS {server.rss_mb():.0f} MB"
        )
        if args.soak:
            await soak(server, args.soak, args.devices, args.factors)
    finally:
        server.proc.terminate()
        server.proc.wait(30)


if __name__ == "__main__":
    asyncio.run(main())
