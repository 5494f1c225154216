"""The monitoring connector inside the API process: the reading writer, the TCP listener and,
under ``serve --demo``, the demo devices."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from connectors.hj212.http import writer_of
from connectors.hj212.server import Listener
from connectors.hj212.settings import hj212_settings

log = logging.getLogger("connectors.hj212")


@contextlib.asynccontextmanager
async def lifespan(state: dict[str, Any]) -> AsyncIterator[None]:
    runtime = state["runtime"]
    settings = hj212_settings(runtime)
    writer = writer_of(state)
    await writer.start()
    listener = None
    if settings.port:
        listener = Listener(writer, settings, runtime.tz)
        await listener.start(settings.host, settings.port)
        log.info("HJ 212 listener on %s:%d", settings.host, listener.port)
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
        if listener is not None:
            await listener.stop()
        await writer.stop()
