"""A bounded load test of `sanwang serve` on PostgreSQL, loopback only, one command.

    python -m tests.perf.load \
        --url postgresql+asyncpg://postgres@127.0.0.1:5432/sanwang_perf [--seconds 60] \
        [--clients 200] [--subscriptions 20] [--think 1.0] [--processes 1|2] \
        [--hotline-rate 10] [--devices 50] [--json FILE]

Fill the database first with ``python -m tests.perf.generate`` (the run adds cases, events and
readings to it). Starts ``--processes`` `sanwang serve` processes (Redis broker: no jobs run in
them; the first also listens for HJ 212) and, for more than one, a round-robin TCP proxy in a
process of its own in front of them (tests/perf/servers.py: what docker/'s proxy does, without
docker). Then, for ``--seconds``:

- ``--clients`` GraphQL clients over keep-alive HTTP, each in a loop with a think time of
  ``--think`` seconds on average (exponential): 45 % queue reads (the contract's ``Cases``, the
  open cases of the caller, first 50), 35 % ``CaseDetail`` of a random case, 20 % workflow
  mutations (``RecordProgress`` on a HANDLING case of chaohua). Half the clients are a city-wide
  DISPATCHER, half an OPERATOR of chaohua; the mutations are the operators'.
- ``--subscriptions`` live ``caseEvents`` subscriptions over graphql-transport-ws (half
  DISPATCHER, half OPERATOR of chaohua): every successful mutation must reach every one of them
  (counted per case id: expected vs received, a few seconds' grace after the load stops).
- hotline calls (POST /ingest/hotline, the simulator's calls) at ``--hotline-rate`` per second,
  and ``--devices`` HJ 212 devices each sending one real-time upload (10 values) per second on
  its own TCP connection; every packet must be answered with its 9014 after its batch commits.

Prints errors (must be 0: any non-2xx, GraphQL error, UserError, transport failure, missing
9014), p50/p95/p99 and throughput per operation, each server's RSS over time and CPU, every
subscription event delivered, and the load average. Exit 1 on an error or a lost event; no
timing asserts.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import websockets

from connectors.hotline.simulator import CallMaker
from hub.auth import issue_jwt
from hub.config import Settings
from tests.operations import op
from tests.perf.bench_cases import SECRET
from tests.perf.bench_hj212_ingest import build_packets, register_devices
from tests.perf.generate import asyncpg_dsn
from tests.perf.servers import Child, children, hub_env, start_hub
from tests.processes import free_port

CASES = op("Cases")
CASE_DETAIL = op("CaseDetail")
RECORD_PROGRESS = op("RecordProgress")
CASE_EVENTS = op("CaseEvents")
# CaseDetail without the reporters: a DISPATCHER's read of full phone numbers is audited (a write
# on the town's audit chain); --no-phone-reads shows what that costs under load
CASE_DETAIL_NO_PHONES = re.sub(r"reporter\s*\{\s*name\s*phone\s*\}", "", CASE_DETAIL)
assert CASE_DETAIL_NO_PHONES != CASE_DETAIL
QUEUE_FILTER = {"status": ["DISPATCHED", "HANDLING"]}
TOWN = "chaohua"


@dataclass
class Figures:
    latencies: dict[str, list[float]] = field(default_factory=dict)
    errors: Counter[str] = field(default_factory=Counter)
    error_samples: list[str] = field(default_factory=list)
    classes: Counter[str] = field(default_factory=Counter)  # errors by kind (status, message)
    progressed: Counter[str] = field(default_factory=Counter)  # case id -> successful mutations
    packets_sent: int = 0

    def ok(self, name: str, ms: float) -> None:
        self.latencies.setdefault(name, []).append(ms)

    def error(self, name: str, what: str) -> None:
        self.errors[name] += 1
        self.classes[f"{name}: {error_class(what)}"] += 1
        if len(self.error_samples) < 10:
            self.error_samples.append(f"{name}: {what[:300]}")


def error_class(what: str) -> str:
    """An error without its particulars (ids, numbers), to count errors by kind."""
    return re.sub(r"[0-9a-f-]{36}|\d+", "#", what)[:120]


def pct(samples: list[float], p: int) -> float:
    if len(samples) < 2:
        return samples[0] if samples else float("nan")
    return statistics.quantiles(samples, n=100, method="inclusive")[p - 1]


async def gql(
    http: httpx.AsyncClient, token: str, query: str, variables: dict[str, Any]
) -> dict[str, Any]:
    response = await http.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {token}"},
    )
    if response.status_code != 200:
        raise RuntimeError(f"HTTP {response.status_code}: {response.text[:200]}")
    payload = response.json()
    if payload.get("errors"):
        raise RuntimeError(str(payload["errors"])[:300])
    return payload["data"]  # type: ignore[no-any-return]


@dataclass
class World:
    dispatcher: str
    operator: str
    hotline: str
    town_cases: list[str]  # cases of chaohua the clients read
    all_cases: list[str]
    handling: list[str]  # HANDLING cases of chaohua: the mutations' targets


async def client(
    n: int,
    http: httpx.AsyncClient,
    world: World,
    figures: Figures,
    until: float,
    think: float,
    detail: str = CASE_DETAIL,
) -> None:
    rnd = random.Random(n)
    operator = n % 2 == 1
    token = world.operator if operator else world.dispatcher
    await asyncio.sleep(rnd.random() * think)  # spread the starts
    while time.monotonic() < until:
        roll = rnd.random()
        started = time.perf_counter()
        try:
            if roll < 0.45:
                name = "Cases (queue)"
                await gql(http, token, CASES, {"first": 50, "filter": QUEUE_FILTER})
            elif roll < 0.80 or not operator:
                name = "CaseDetail"
                ids = world.town_cases if operator else world.all_cases
                case_id = rnd.choice(ids)
                if (await gql(http, token, detail, {"id": case_id}))["case"] is None:
                    raise RuntimeError(f"case {case_id} not found")
            else:
                name = "RecordProgress"
                case_id = rnd.choice(world.handling)
                note = f"压测进展 {uuid.uuid4().hex[:8]}"
                data = await gql(http, token, RECORD_PROGRESS, {"caseId": case_id, "note": note})
                result = data["recordProgress"]
                if result["__typename"] != "CaseResult":
                    raise RuntimeError(f"UserError {result}")
                figures.progressed[case_id] += 1
            figures.ok(name, (time.perf_counter() - started) * 1000)
        except Exception as exc:  # counted: the run must have none
            figures.error(name, f"{type(exc).__name__}: {exc}")
        await asyncio.sleep(rnd.expovariate(1 / think) if think > 0 else 0)


@dataclass
class Subscriber:
    token: str
    label: str
    received: Counter[str] = field(default_factory=Counter)  # case id -> events
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    error: str | None = None


async def subscribe(url: str, sub: Subscriber, stop: asyncio.Event) -> None:
    try:
        async with websockets.connect(
            url,
            subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
            max_size=None,
            ping_interval=None,  # the protocol pings itself; the library's ping times out at 20 s
        ) as ws:
            init = {"type": "connection_init", "payload": {"Authorization": f"Bearer {sub.token}"}}
            await ws.send(json.dumps(init))
            ack = json.loads(await asyncio.wait_for(ws.recv(), 30))
            if ack.get("type") != "connection_ack":
                raise RuntimeError(f"no ack: {ack}")
            payload = {"query": CASE_EVENTS, "variables": {}}
            await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))
            sub.ready.set()
            while not stop.is_set():
                try:
                    raw = await asyncio.wait_for(ws.recv(), 0.5)
                except TimeoutError:
                    continue
                message = json.loads(raw)
                if message.get("type") == "ping":
                    await ws.send(json.dumps({"type": "pong"}))
                elif message.get("type") == "next":
                    if message["payload"].get("errors"):
                        raise RuntimeError(str(message["payload"]["errors"])[:300])
                    event = message["payload"]["data"]["caseEvents"]
                    if event["kind"] == "PROGRESS":
                        sub.received[event["case"]["id"]] += 1
                elif message.get("type") in ("error", "complete"):
                    raise RuntimeError(f"subscription ended: {message}")
    except Exception as exc:
        sub.error = f"{type(exc).__name__}: {exc}"
        sub.ready.set()


def run_subscribers(
    url: str, subs: list[Subscriber], listening: threading.Event, stop: threading.Event
) -> None:
    """The subscriptions on an event loop of their own (a thread): the 200 clients' loop would
    answer the server's keepalive pings late (uvicorn closes a socket whose pong is 20 s late),
    and a lost socket must be the server's doing, not the load generator's."""

    async def main() -> None:
        stopping = asyncio.Event()
        tasks = [asyncio.create_task(subscribe(url, sub, stopping)) for sub in subs]
        await asyncio.gather(*(sub.ready.wait() for sub in subs))
        listening.set()
        while not stop.is_set():
            await asyncio.sleep(0.2)
        stopping.set()
        await asyncio.gather(*tasks)

    asyncio.run(main())


async def hotline(
    http: httpx.AsyncClient, token: str, rate: float, figures: Figures, until: float
) -> None:
    maker = CallMaker(random.Random(11), callers=400)
    tasks: set[asyncio.Task[None]] = set()

    async def call(body: dict[str, Any]) -> None:
        started = time.perf_counter()
        try:
            response = await http.post(
                "/ingest/hotline", json=body, headers={"Authorization": f"Bearer {token}"}
            )
            if response.status_code not in (200, 201):
                raise RuntimeError(f"HTTP {response.status_code}: {response.text[:200]}")
            figures.ok("hotline call", (time.perf_counter() - started) * 1000)
        except Exception as exc:
            figures.error("hotline call", f"{type(exc).__name__}: {exc}")

    next_at = time.monotonic()
    while next_at < until:  # a steady rate: calls go out on schedule, whatever is in flight
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))
        task = asyncio.create_task(call(maker.call()))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        next_at += 1 / rate
    await asyncio.gather(*tasks)


async def device(
    port: int, index: int, figures: Figures, until: float, start: datetime, seconds: int
) -> None:
    """One HJ 212 device: one real-time upload a second; each must be answered (9014)."""
    packets = build_packets(index, seconds + 5, 10, start, index * 10_000)
    sent_at: list[float] = []
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
    except OSError as exc:
        figures.error("HJ 212 upload", str(exc))
        return

    answered: list[float] = []

    async def read() -> None:
        while True:
            line = await reader.readline()
            if not line:
                return
            if b"CN=9014" in line:
                ms = (time.perf_counter() - sent_at[len(answered)]) * 1000
                answered.append(ms)
                figures.ok("HJ 212 upload", ms)

    reading = asyncio.create_task(read())
    await asyncio.sleep(random.Random(index).random())
    sent = 0
    while time.monotonic() < until and sent < len(packets):
        sent_at.append(time.perf_counter())
        writer.write(packets[sent])
        await writer.drain()
        sent += 1
        await asyncio.sleep(1.0)
    deadline = time.monotonic() + 30  # the last answers, after their batch commits
    while len(answered) < sent and time.monotonic() < deadline and not reading.done():
        await asyncio.sleep(0.1)
    reading.cancel()
    writer.close()
    figures.packets_sent += sent


async def warm_up(http: httpx.AsyncClient, world: World) -> None:
    """A few requests of each kind first (pools, caches), not counted."""
    for token in (world.dispatcher, world.operator):
        for _ in range(5):
            await gql(http, token, CASES, {"first": 50, "filter": QUEUE_FILTER})
            await gql(http, token, CASE_DETAIL, {"id": random.choice(world.town_cases)})


async def load_world(url: str, key: str) -> World:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        town = await conn.fetchval("select id from tenants where code = $1", TOWN)
        handling = await conn.fetch(
            "select id from cases where tenant_id = $1 and status = 'HANDLING'"
            " order by created_at desc limit 200",
            town,
        )
        town_cases = await conn.fetch(
            "select id from cases where tenant_id = $1 order by random() limit 1000", town
        )
        all_cases = await conn.fetch("select id from cases order by random() limit 1000")
    finally:
        await conn.close()
    if len(handling) < 20:
        raise SystemExit(f"too few HANDLING cases in {TOWN}: run tests.perf.generate first")
    return World(
        dispatcher=issue_jwt(key, "load-dispatcher", ["DISPATCHER"], [], hours=4),
        operator=issue_jwt(key, "load-operator", ["OPERATOR"], [TOWN], hours=4),
        hotline=issue_jwt(key, "load-call-system", ["HOTLINE"], [], hours=4),
        town_cases=[str(r["id"]) for r in town_cases],
        all_cases=[str(r["id"]) for r in all_cases],
        handling=[str(r["id"]) for r in handling],
    )


def start_proxy(backends: list[int], workdir: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    log = (workdir / "proxy.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.perf.servers", "proxy", str(port), *map(str, backends)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    for _ in range(100):
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return proc, port
        time.sleep(0.1)
    proc.kill()
    raise SystemExit("the proxy did not start")


async def sample_rss(servers: list[Child], out: list[tuple[float, list[float]]], t0: float,
                     stop: asyncio.Event) -> None:  # fmt: skip
    while not stop.is_set():
        out.append((time.monotonic() - t0, [s.rss_mb() for s in servers]))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 5)
    out.append((time.monotonic() - t0, [s.rss_mb() for s in servers]))


async def run(args: argparse.Namespace) -> int:
    settings = Settings(database_url=args.url, secret_key=SECRET, _env_file=None)
    key = settings.signing_key()
    world = await load_world(args.url, key)
    if args.devices:
        await register_devices(args.url, args.devices, 10)
    workdir = Path(tempfile.mkdtemp(prefix="sanwang-load-"))
    hj212 = free_port() if args.devices else 0
    figures = Figures()
    rss: list[tuple[float, list[float]]] = []
    proxy = None
    # The same connections in all, whatever the processes (PostgreSQL's max_connections, 100 by
    # default, is shared by every process and their overflow doubles each pool).
    pool = args.pool if args.pool else max(2, 20 // args.processes)
    with children() as started:
        for i in range(args.processes):
            env = hub_env(args.url, SECRET, SANWANG_HJ212_MAX_CONNECTIONS_PER_ADDRESS="10000",
                          SANWANG_DB_POOL_SIZE=str(pool))  # fmt: skip
            started.append(
                start_hub(workdir, env, hj212_port=hj212 if i == 0 else 0, name=f"hub{i}")
            )
        port = started[0].port
        if args.processes > 1:
            proxy, port = start_proxy([c.port for c in started], workdir)
        base = f"http://127.0.0.1:{port}"
        load0 = os.getloadavg()
        cpu0 = [c.cpu_seconds() for c in started]
        try:
            # Idle connections dropped before uvicorn drops them (timeout_keep_alive, 5 s): at
            # httpx's 5 s default a request could go out on a socket the server was closing
            # ("Server disconnected without sending a response", the ReadErrors of earlier runs).
            limits = httpx.Limits(
                max_connections=args.clients + 50, max_keepalive_connections=None,
                keepalive_expiry=3.0,
            )  # fmt: skip
            async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as http:
                stop = threading.Event()
                subs = [
                    Subscriber(world.dispatcher if i % 2 == 0 else world.operator,
                               "DISPATCHER" if i % 2 == 0 else f"OPERATOR/{TOWN}")
                    for i in range(args.subscriptions)
                ]  # fmt: skip
                ws_url = f"ws://127.0.0.1:{port}/graphql"
                listening = threading.Event()
                subscribers = threading.Thread(
                    target=run_subscribers, args=(ws_url, subs, listening, stop), daemon=True
                )
                subscribers.start()
                await asyncio.to_thread(listening.wait)
                await warm_up(http, world)
                t0 = time.monotonic()
                until = t0 + args.seconds
                rss_stop = asyncio.Event()
                sampler = asyncio.create_task(sample_rss(started, rss, t0, rss_stop))
                start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
                detail = CASE_DETAIL_NO_PHONES if args.no_phone_reads else CASE_DETAIL
                work = [
                    client(n, http, world, figures, until, args.think, detail)
                    for n in range(args.clients)
                ]
                if args.hotline_rate > 0:
                    work.append(hotline(http, world.hotline, args.hotline_rate, figures, until))
                work += [
                    device(hj212, d, figures, until, start, int(args.seconds))
                    for d in range(args.devices)
                ]
                await asyncio.gather(*work)
                elapsed = time.monotonic() - t0
                cpu1 = [c.cpu_seconds() for c in started]
                load1 = os.getloadavg()
                await asyncio.sleep(args.grace)  # events still on their way
                stop.set()
                await asyncio.to_thread(subscribers.join)
                rss_stop.set()
                await sampler
        finally:
            if proxy is not None:
                proxy.terminate()
                proxy.wait(10)

    # --- the report ----------------------------------------------------------------------
    print(
        f"\n{args.processes} serve process(es); {args.clients} GraphQL clients (think"
        f" {args.think:g} s), {args.subscriptions} subscriptions, hotline {args.hotline_rate:g}/s,"
        f" {args.devices} HJ 212 devices x 1 upload/s; pool {pool} + {pool} a process;"
        f" {elapsed:.1f} s;"
        f" load average {load0[0]:.2f} before, {load1[0]:.2f} at the end; {os.cpu_count()} CPUs"
    )
    head = f"{'operation':<18}{'count':>8}{'per s':>8}{'errors':>8}{'p50':>9}{'p95':>9}{'p99':>9}"
    print("\n" + head + "\n" + "-" * len(head))
    summary: dict[str, Any] = {"operations": {}}
    total_graphql = 0
    sent_packets = figures.packets_sent
    for name in ("Cases (queue)", "CaseDetail", "RecordProgress", "hotline call", "HJ 212 upload"):
        samples = figures.latencies.get(name, [])
        if name in ("Cases (queue)", "CaseDetail", "RecordProgress"):
            total_graphql += len(samples)
        print(
            f"{name:<18}{len(samples):>8}{len(samples) / elapsed:>8.1f}{figures.errors[name]:>8}"
            f"{pct(samples, 50):>9.1f}{pct(samples, 95):>9.1f}{pct(samples, 99):>9.1f}"
        )
        summary["operations"][name] = {
            "count": len(samples),
            "errors": figures.errors[name],
            "p50": pct(samples, 50),
            "p95": pct(samples, 95),
            "p99": pct(samples, 99),
        }
    missing_9014 = sent_packets - len(figures.latencies.get("HJ 212 upload", []))
    if missing_9014:
        figures.error("HJ 212 upload", f"{missing_9014} packets without a 9014")
    print(f"(milliseconds; GraphQL requests {total_graphql / elapsed:.1f}/s in all)")

    expected = sum(figures.progressed.values())
    delivered = 0
    lost_subs = []
    for sub in subs:
        got = sum(min(sub.received[c], n) for c, n in figures.progressed.items())
        delivered += got
        if sub.error or got < expected:
            lost_subs.append(f"{sub.label}: {got}/{expected} {sub.error or ''}")
    print(
        f"\nsubscription events: {delivered} of {expected * len(subs)} delivered "
        f"({expected} successful mutations x {len(subs)} subscriptions)"
    )
    for line in lost_subs[:5]:
        print("  short:", line)
    print("\nserver RSS (MB) over time:")
    for at, values in rss:
        print(f"  {at:6.1f} s  " + "  ".join(f"{v:7.1f}" for v in values))
    for c, a, b in zip(started, cpu0, cpu1, strict=True):
        print(
            f"{c.name} CPU: {(b - a):.1f} s of {elapsed:.1f} s ({(b - a) / elapsed:.0%} of a core)"
        )
    errors = sum(figures.errors.values())
    print(f"\nerrors: {errors}")
    for kind, count in figures.classes.most_common(10):
        print(f"  {count:5d} x {kind}")
    summary.update(
        processes=args.processes,
        seconds=elapsed,
        graphql_per_s=total_graphql / elapsed,
        errors=errors,
        error_classes=dict(figures.classes),
        events_expected=expected * len(subs),
        events_delivered=delivered,
        rss=rss,
        load=[load0[0], load1[0]],
    )
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2))
    return 1 if errors or delivered < expected * len(subs) else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="postgresql+asyncpg://postgres@host/db")
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--subscriptions", type=int, default=20)
    parser.add_argument("--think", type=float, default=1.0, help="mean think time per client")
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument(
        "--pool",
        type=int,
        default=0,
        help="pool per serve process (+ as many overflow); default 20 split between the processes",
    )
    parser.add_argument("--hotline-rate", type=float, default=10.0, help="calls per second")
    parser.add_argument("--devices", type=int, default=50, help="HJ 212 devices, 1 upload/s")
    parser.add_argument("--grace", type=float, default=5.0, help="seconds for late events")
    parser.add_argument(
        "--no-phone-reads",
        action="store_true",
        help="CaseDetail without reporters (no audited reads of full phone numbers)",
    )
    parser.add_argument("--json", help="also write the figures to this file")
    sys.exit(asyncio.run(run(parser.parse_args())))


if __name__ == "__main__":
    main()
