"""The monitoring connector inside the API process: the reading writer, the TCP listener and,
under ``serve --demo``, the demo devices."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from connectors.hj212.http import writer_of
from connectors.hj212.server import Listener
from connectors.hj212.settings import hj212_settings, process_count

log = logging.getLogger("connectors.hj212")


@contextlib.asynccontextmanager
async def lifespan(state: dict[str, Any]) -> AsyncIterator[None]:
    runtime = state["runtime"]
    settings = hj212_settings(runtime)
    writer = writer_of(state)
    count = process_count(settings, runtime.settings.database_url) if settings.port else 1
    writer.handoff = count > 1
    await writer.start()
    listener = None
    others = None
    if settings.port:
        listener = Listener(writer, settings, runtime.tz)
        if count > 1:
            from connectors.hj212.processes import check_port_free

            check_port_free(settings.host, settings.port)
        await listener.start(settings.host, settings.port, reuse_port=count > 1)
        log.info("HJ 212 listener on %s:%d", settings.host, listener.port)
        if count > 1:
            from connectors.hj212.processes import ListenerProcesses

            others = ListenerProcesses(runtime.settings, settings, listener.port, count - 1)
            await others.start()
            state["hj212_processes"] = others
    demo = None
    if runtime.settings.demo and listener is not None:
        from connectors.hj212.devices import DemoDevices

        demo = DemoDevices(state["db"], "127.0.0.1", listener.port)
        await demo.start()
    try:
        yield
    finally:
        if demo is not None:
            await demo.stop()
        if others is not None:
            await others.stop()
        if listener is not None:
            await listener.stop()
        await writer.stop()
