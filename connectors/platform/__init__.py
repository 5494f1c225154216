"""The city social-management platform (郑州市社会公共管理信息平台): cases assigned down arrive
exactly once (pushed to POST /ingest/platform, or pulled from the platform's feed), and every
status of them goes back up, in order, through the outbox. See docs/platform.md."""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import AsyncIterator
from typing import Any

from starlette.routing import BaseRoute

from connectors.platform.settings import PlatformSettings
from hub.plugins import Connector, plug_in


def routes(state: dict[str, Any]) -> list[BaseRoute]:
    from connectors.platform.http import routes as make

    return make(state)


def install(runtime: Any) -> None:
    """The push sender and hook (the pull job is the connector's ``jobs`` module). Idempotent."""
    from connectors.platform import push

    # httpx narrates every request at INFO: a poll every few seconds would fill the log.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # The notes' local times: the hub's time zone, bound here once.
    hook = functools.partial(push.on_case_change, tz=runtime.tz)
    plug_in(senders={push.TOPIC: push.send_status}, hooks={"platform.status": hook})
    if runtime.settings.demo:
        from connectors.platform.demo import prepare

        prepare(runtime)


@contextlib.asynccontextmanager
async def lifespan(state: dict[str, Any]) -> AsyncIterator[None]:
    """Under serve --demo: the simulator in-process, the pull pointed at it, assignments now
    and then, and some platform cases moved along so that statuses go back."""
    if not state["settings"].demo:
        yield
        return
    from connectors.platform.demo import running

    async with running(state):
        yield


CONNECTOR = Connector(
    "platform",
    settings=PlatformSettings,
    routes=routes,
    install=install,
    lifespan=lifespan,
    models="connectors.platform.model",
    jobs="connectors.platform.jobs",
)
