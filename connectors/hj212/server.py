"""The HJ 212 TCP listener (asyncio streams): devices connect and upload; the hub answers.

Per connection: a :class:`~connectors.hj212.link.Link` (framing, reassembly, replies), an idle
timeout, and a cap on connections at once. A bad packet is logged, counted and, where the
standard says so, answered; the connection stays open for the next packet.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from connectors.hj212.link import Link
from hub.config import Settings
from hub.metrics import HJ212_CONNECTIONS, HJ212_PACKETS
from hub.monitoring.writer import ReadingWriter

log = logging.getLogger("connectors.hj212")

READ_SIZE = 64 * 1024


@dataclass
class Listener:
    writer: ReadingWriter
    settings: Settings
    server: asyncio.Server | None = None
    connections: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def port(self) -> int:
        assert self.server is not None
        return self.server.sockets[0].getsockname()[1]

    async def start(self, host: str, port: int) -> None:
        self.server = await asyncio.start_server(self._serve, host, port, limit=READ_SIZE)

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
        peer = _peer(stream)
        if len(self.connections) >= self.settings.hj212_max_connections:
            log.warning("HJ 212 connection from %s refused: %d open", peer, len(self.connections))
            HJ212_PACKETS.labels("tcp", "CONNECTION_REFUSED").inc()
            stream.close()
            return
        self.connections.add(task)
        HJ212_CONNECTIONS.inc()
        try:
            await self._converse(reader, stream, peer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass  # the device went away, or the hub is stopping
        except Exception:
            log.exception("HJ 212 connection from %s failed", peer)
        finally:
            self.connections.discard(task)
            HJ212_CONNECTIONS.dec()
            stream.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(stream.wait_closed(), 1)

    async def _converse(
        self, reader: asyncio.StreamReader, stream: asyncio.StreamWriter, peer: str
    ) -> None:
        link = Link(
            self.writer,
            ZoneInfo(self.settings.timezone),
            "tcp",
            peer,
            max_length=self.settings.hj212_max_packet,
            modbus_crc=self.settings.hj212_modbus_crc_mns,
        )
        while True:
            try:
                data = await asyncio.wait_for(
                    reader.read(READ_SIZE), self.settings.hj212_idle_seconds
                )
            except TimeoutError:
                log.info("HJ 212 connection from %s idle: closed", peer)
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
