"""The HJ 212 TCP listener (asyncio streams): devices connect and upload; the hub answers.

Per connection: a :class:`~connectors.hj212.link.Link` (framing, reassembly, replies), an idle
timeout, and caps on connections at once, in all and per IP address. A bad packet is logged,
counted and, where the standard says so, answered; the connection stays open for the next packet.

Connections that do nothing must not lock devices out: a connection is *unproven* until a
registered device's packet is stored (or its part kept) on it. An unproven connection is closed
``SANWANG_HJ212_UNPROVEN_SECONDS`` after it opened, whatever bytes it sends meanwhile; and when
the listener is full, a new connection evicts the oldest unproven one instead of being refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from connectors.hj212.link import Link
from connectors.hj212.settings import HJ212Settings
from hub.metrics import HJ212_CONNECTIONS, HJ212_PACKETS
from hub.monitoring.writer import ReadingWriter

log = logging.getLogger("connectors.hj212")

READ_SIZE = 64 * 1024


@dataclass
class _Connection:
    host: str
    link: Link
    stream: asyncio.StreamWriter
    opened: float  # time.monotonic()


@dataclass
class Listener:
    writer: ReadingWriter
    settings: HJ212Settings
    tz: ZoneInfo  # the runtime's: where device times without an offset are read
    server: asyncio.Server | None = None
    connections: dict[asyncio.Task[None], _Connection] = field(default_factory=dict)
    per_host: Counter[str] = field(default_factory=Counter)
    accepted: int = 0  # connections taken by this process (the others' are theirs)

    @property
    def port(self) -> int:
        assert self.server is not None
        return self.server.sockets[0].getsockname()[1]

    async def start(self, host: str, port: int, *, reuse_port: bool = False) -> None:
        """Listen; ``reuse_port``: other processes listen on the same port too (SO_REUSEPORT,
        the kernel spreads new connections over them; see :mod:`connectors.hj212.processes`)."""
        self.server = await asyncio.start_server(
            self._serve, host, port, limit=READ_SIZE, reuse_port=reuse_port or None
        )
        freeze_heap()

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
        for task in list(self.connections):
            task.cancel()
        if self.connections:
            await asyncio.gather(*self.connections, return_exceptions=True)
        if self.server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.server.wait_closed(), 5)

    async def _serve(self, reader: asyncio.StreamReader, stream: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        peer, host = _peer(stream), _host(stream)
        refusal = self._make_room(host)
        if refusal is not None:
            log.warning("HJ 212 connection from %s refused: %s", peer, refusal)
            HJ212_PACKETS.labels("tcp", "CONNECTION_REFUSED").inc()
            stream.close()
            return
        link = Link(
            self.writer,
            self.tz,
            "tcp",
            peer,
            **self.settings.link_limits(),
        )
        self.connections[task] = _Connection(host, link, stream, time.monotonic())
        self.accepted += 1
        self.per_host[host] += 1
        HJ212_CONNECTIONS.inc()
        try:
            await self._converse(reader, stream, link, peer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass  # the device went away, was evicted, or the hub is stopping
        except Exception:
            log.exception("HJ 212 connection from %s failed", peer)
        finally:
            self._forget(task)
            HJ212_CONNECTIONS.dec()
            stream.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(stream.wait_closed(), 1)

    def _make_room(self, host: str) -> str | None:
        """Why a new connection from ``host`` cannot be taken, or None (after evicting the
        oldest unproven connection if the listener is full)."""
        if self.per_host[host] >= self.settings.max_connections_per_address:
            return f"{self.per_host[host]} open from {host}"
        if len(self.connections) < self.settings.max_connections:
            return None
        unproven = [(c.opened, t) for t, c in self.connections.items() if not c.link.proven]
        if not unproven:
            return f"{len(self.connections)} open, all of registered devices"
        _, victim = min(unproven, key=lambda pair: pair[0])
        log.info("HJ 212 connection from %s evicted: unproven", self.connections[victim].link.peer)
        HJ212_PACKETS.labels("tcp", "CONNECTION_EVICTED").inc()
        self._forget(victim)
        victim.cancel()
        return None

    def _forget(self, task: asyncio.Task[None]) -> None:
        connection = self.connections.pop(task, None)
        if connection is not None:
            self.per_host[connection.host] -= 1
            if not self.per_host[connection.host]:
                del self.per_host[connection.host]

    async def _converse(
        self, reader: asyncio.StreamReader, stream: asyncio.StreamWriter, link: Link, peer: str
    ) -> None:
        unproven_until = time.monotonic() + self.settings.unproven_seconds
        while True:
            wait = self.settings.idle_seconds
            if not link.proven:
                wait = min(wait, unproven_until - time.monotonic())
            try:
                if wait <= 0:
                    raise TimeoutError
                # a timeout scope, not wait_for: wait_for wraps every read in a task of its own
                async with asyncio.timeout(wait):
                    data = await reader.read(READ_SIZE)
            except TimeoutError:
                why = "idle" if link.proven else "no packet of a registered device"
                log.info("HJ 212 connection from %s closed: %s", peer, why)
                return
            if not data:
                await link.finish()
                return
            replies = await link.receive(data)
            if replies:
                stream.write(replies)
                await stream.drain()


def _peer(stream: asyncio.StreamWriter) -> str:
    address = stream.get_extra_info("peername")
    if isinstance(address, tuple) and len(address) >= 2:
        return f"{address[0]}:{address[1]}"
    return str(address)


def _host(stream: asyncio.StreamWriter) -> str:
    address = stream.get_extra_info("peername")
    if isinstance(address, tuple) and address:
        return str(address[0])
    return str(address)


_frozen = False


def freeze_heap() -> None:
    """Once per process, when its listener starts: what the process has built so far (the app,
    its schema, SQLAlchemy's and the codec's tables) moves out of the garbage collector's
    reach (``gc.freeze``). Ingest allocates tens of objects per reading that live until their
    batch commits, so full collections come often, and each one walked the whole heap: most of
    the listener's CPU went to them (py-spy --gil under bench_hj212_ingest: the time sat on
    the lines that allocate). Frozen objects are never freed, so it is done once, after a
    collection, not at every start (tests start many listeners in one process).

    The youngest generation is collected every GC_YOUNG allocations instead of 700: most of a
    batch's objects are gone before the next collection then, instead of being walked again
    and again while they wait for the commit (in process, 100,000 readings: 0.5 s of
    collections became 0.26 s)."""
    global _frozen
    if _frozen:
        return
    _frozen = True
    gc.collect()
    gc.freeze()
    young, middle, old = gc.get_threshold()
    if 0 < young < GC_YOUNG:
        gc.set_threshold(GC_YOUNG, middle, old)


GC_YOUNG = 10_000
