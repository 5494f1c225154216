"""The city social-management platform: cases assigned down and pushed to the hub
(POST /ingest/platform)."""

from __future__ import annotations

from typing import Any

from starlette.routing import BaseRoute


def routes(state: dict[str, Any]) -> list[BaseRoute]:
    from connectors.platform.http import routes as make

    return make(state)
