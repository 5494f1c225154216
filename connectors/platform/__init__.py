"""The city social-management platform (郑州市社会公共管理信息平台): cases assigned down arrive
exactly once (pushed to POST /ingest/platform, or pulled from the platform's feed), and every
status of them goes back up, in order, through the outbox. See docs/platform.md."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from starlette.routing import BaseRoute


def routes(state: dict[str, Any]) -> list[BaseRoute]:
    from connectors.platform.http import routes as make

    return make(state)


def install(settings: Any) -> None:
    """The push sender and hook, and the pull job (hub.jobs imports PERIODIC_MODULES when a
    scheduler starts: the connector adds its own module there). Idempotent."""
    from connectors.platform import push
    from hub import jobs
    from hub.cases.hooks import on_case_change
    from hub.outbox.service import register_sender

    # httpx narrates every request at INFO: a poll every few seconds would fill the log.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    register_sender(push.TOPIC, push.send_status)
    on_case_change("platform.status", push.on_case_change)
    if "connectors.platform.jobs" not in jobs.PERIODIC_MODULES:
        jobs.PERIODIC_MODULES.append("connectors.platform.jobs")
    if getattr(settings, "demo", False):
        from connectors.platform.demo import prepare

        prepare()


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
