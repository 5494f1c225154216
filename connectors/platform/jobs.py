"""The scheduled pull (registered when the connector is installed: see __init__.install)."""

from __future__ import annotations

import logging

from connectors.platform.adapter import make_platform
from connectors.platform.pull import pull_once
from connectors.platform.settings import platform_settings
from hub.db import Database
from hub.jobs import current_runtime, periodic

log = logging.getLogger("connectors.platform")


@periodic(
    "platform.pull", seconds=lambda _: platform_settings(current_runtime()).poll_interval_seconds
)
async def pull_platform(db: Database) -> None:
    """Take what the platform assigned since the stored cursor (nothing if no URL is set)."""
    runtime = current_runtime()
    settings = platform_settings(runtime)
    if not settings.url:
        return
    platform = make_platform(settings)
    try:
        result = await pull_once(db, runtime.settings, settings, platform)
    finally:
        await platform.aclose()
    if result.items:
        log.info(
            "platform pull: %d item(s) in %d page(s): %s",
            result.items,
            result.pages,
            result.outcomes,
        )
