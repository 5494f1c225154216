"""The 12369 environmental complaint hotline: call intake (POST /ingest/hotline), the pure
parts that understand a call (classify, phones, names), the result sent back to the call
system (callback, through the outbox) and, under ``serve --demo``, a simulated call system
(simulator) that phones calls in and answers the callbacks."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from starlette.routing import BaseRoute

from connectors.hotline.settings import HotlineSettings
from hub.plugins import Connector


def routes(state: dict[str, Any]) -> list[BaseRoute]:
    from connectors.hotline.http import routes as make

    return make(state)


def install(runtime: Any) -> None:
    """Callbacks go to SANWANG_HOTLINE_CALLBACK_URL (installing again re-points them)."""
    from connectors.hotline.callback import install as install_callback
    from connectors.hotline.settings import hotline_settings

    install_callback(hotline_settings(runtime))


@contextlib.asynccontextmanager
async def lifespan(state: dict[str, Any]) -> AsyncIterator[None]:
    """Under ``serve --demo``: the simulated call system runs beside the hub."""
    if not state["settings"].demo:
        yield
        return
    from connectors.hotline.simulator import demo

    async with demo(state):
        yield


CONNECTOR = Connector(
    "hotline", settings=HotlineSettings, routes=routes, install=install, lifespan=lifespan
)
