"""More HJ 212 listener processes on the same port (SO_REUSEPORT), so that parsing is not held
to one core by one GIL.

The API process listens with ``reuse_port`` and starts ``processes - 1`` children (spawned, not
forked: the parent runs event loops and threads). Each child is a whole ingest path of its own:
a :class:`~connectors.hj212.server.Listener` bound to the same port and a
:class:`~hub.monitoring.writer.ReadingWriter` of its own that group-commits its connections'
uploads and answers each one only after its batch committed. The kernel hands every new
connection to one of the listening processes; a connection stays in the process that took it.

What is per process: the connection caps (``SANWANG_HJ212_MAX_CONNECTIONS`` and
``_MAX_CONNECTIONS_PER_ADDRESS`` hold in each process), the registry cache, the alarm state
(a point's open episodes are read again from the database when its device shows up in a
process after a pause, see ``ReadingWriter(handoff=True)``), and /metrics (the API process's
figures count its own connections only). A child that dies is started again; a child whose
API process died stops within a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import signal
import socket
from multiprocessing.process import BaseProcess
from multiprocessing.synchronize import Event

from connectors.hj212.server import Listener
from connectors.hj212.settings import HJ212Settings
from hub.config import Settings
from hub.monitoring.writer import ReadingWriter
from hub.runtime import Runtime

log = logging.getLogger("connectors.hj212")

RESTART_CHECK_SECONDS = 2.0
PARENT_CHECK_SECONDS = 1.0
STOP_SECONDS = 20.0  # a child writes what it has queued before it exits


def check_port_free(host: str, port: int) -> None:
    """Raise OSError (address in use) when another socket listens on ``host:port``. The API
    process asks before it listens with SO_REUSEPORT: a second hub started by mistake on the
    same port (same user) would otherwise share the devices silently instead of failing."""
    if not port:
        return
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as asyncio's servers do
        probe.bind((host, port))


class ListenerProcesses:
    """``count`` child listener processes on ``host:port`` (already bound by the parent with
    ``reuse_port``)."""

    def __init__(self, settings: Settings, hj212: HJ212Settings, port: int, count: int) -> None:
        self.settings = settings
        self.hj212 = hj212
        self.port = port
        self.count = count
        self._context = multiprocessing.get_context("spawn")
        self._children: list[BaseProcess] = []
        self._watch: asyncio.Task[None] | None = None
        self._stopping = False

    async def start(self) -> None:
        ready = [self._spawn() for _ in range(self.count)]
        self._children = [child for child, _ in ready]
        for child, event in ready:  # each child listens before start returns
            if not await asyncio.to_thread(event.wait, 60):
                raise RuntimeError(f"HJ 212 listener process {child.pid} did not start")
        self._watch = asyncio.create_task(self._supervise())
        log.info("HJ 212: %d more listener processes on port %d", self.count, self.port)

    def _spawn(self) -> tuple[BaseProcess, Event]:
        event = self._context.Event()
        child = self._context.Process(
            target=child_main,
            args=(self.settings, self.hj212, self.port, event),
            name="hj212-listener",
            daemon=True,
        )
        child.start()
        return child, event

    async def _supervise(self) -> None:
        while not self._stopping:
            await asyncio.sleep(RESTART_CHECK_SECONDS)
            for n, child in enumerate(self._children):
                if self._stopping or child.is_alive():
                    continue
                log.error("HJ 212 listener process %s exited (%s); starting another",
                          child.pid, child.exitcode)  # fmt: skip
                self._children[n], _ = self._spawn()

    @property
    def pids(self) -> list[int]:
        return [child.pid for child in self._children if child.pid is not None]

    async def stop(self) -> None:
        self._stopping = True
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
        for child in self._children:
            if child.is_alive():
                child.terminate()  # SIGTERM: the child stops listening and flushes its writer
        for child in self._children:
            await asyncio.to_thread(child.join, STOP_SECONDS)
            if child.is_alive():
                log.error("HJ 212 listener process %s did not stop; killed", child.pid)
                child.kill()
                await asyncio.to_thread(child.join, 5)
        self._children = []


def child_main(settings: Settings, hj212: HJ212Settings, port: int, ready: Event) -> None:
    """A child process: one listener and one writer until SIGTERM."""
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    asyncio.run(_serve(settings, hj212, port, ready))


async def _serve(settings: Settings, hj212: HJ212Settings, port: int, ready: Event) -> None:
    runtime = Runtime.start(settings)
    runtime.connector_settings["hj212"] = hj212
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    orphaned = asyncio.create_task(_parent_gone(os.getppid(), stop))
    writer = ReadingWriter(runtime.db, settings, handoff=True)
    listener = Listener(writer, hj212, runtime.tz)
    try:
        await writer.start()
        await listener.start(hj212.host, port, reuse_port=True)
        ready.set()
        await stop.wait()
    finally:
        orphaned.cancel()
        await listener.stop()
        await writer.stop()
        await runtime.db.dispose()


async def _parent_gone(parent: int, stop: asyncio.Event) -> None:
    """A child whose API process died without stopping it (SIGKILL) stops too: it must not
    keep taking connections on the port beside the next server's processes."""
    while os.getppid() == parent:
        await asyncio.sleep(PARENT_CHECK_SECONDS)
    log.error("HJ 212 listener process %d: the API process %d is gone; stopping", os.getpid(),
              parent)  # fmt: skip
    stop.set()
