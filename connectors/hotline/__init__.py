"""The 12369 environmental complaint hotline: call intake (POST /ingest/hotline), the pure
parts that understand a call (classify, phones, names), the result sent back to the call
system (callback, through the outbox) and, under ``serve --demo``, a simulated call system
(simulator) that phones calls in and answers the callbacks."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from starlette.routing import BaseRoute

from hub.plugins import Connector


def routes(state: dict[str, Any]) -> list[BaseRoute]:
    from connectors.hotline.http import routes as make

    return make(state)


def install(runtime: Any) -> None:
    """Callbacks go to ``settings.hotline_callback_url`` (installing again re-points them)."""
    from connectors.hotline.callback import install as install_callback

    install_callback(runtime.settings)


@contextlib.asynccontextmanager
async def lifespan(state: dict[str, Any]) -> AsyncIterator[None]:
    """Under ``serve --demo``: the simulated call system runs beside the hub."""
    if not state["settings"].demo:
        yield
        return
    from connectors.hotline.simulator import demo

    async with demo(state):
        yield


CONNECTOR = Connector("hotline", routes=routes, install=install, lifespan=lifespan)
