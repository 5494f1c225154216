"""Outfall and smokestack video (排污口视频): recorders push camera events with snapshots to
POST /ingest/video (``intake``); snapshots are checked and kept by content hash
(``snapshots``); the periodic check marks silent cameras offline (``jobs``); under
``serve --demo`` simulated cameras at demo enterprises push events (``simulator``). The
registry and the rules are the hub's (``hub.cameras``); docs/video.md for installers."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from starlette.routing import BaseRoute

from connectors.video.settings import VideoSettings
from hub.plugins import Connector


def routes(state: dict[str, Any]) -> list[BaseRoute]:
    from connectors.video.intake import routes as make

    return make(state)


@contextlib.asynccontextmanager
async def lifespan(state: dict[str, Any]) -> AsyncIterator[None]:
    """Under ``serve --demo``: simulated cameras push events through the real route."""
    if not state["settings"].demo:
        yield
        return
    from connectors.video.simulator import demo

    async with demo(state):
        yield


CONNECTOR = Connector(
    "video",
    settings=VideoSettings,
    routes=routes,
    lifespan=lifespan,
    jobs="connectors.video.jobs",
)
