"""POST /ingest/hotline: bearer token with role HOTLINE (or ADMIN), one call record as JSON."""

from __future__ import annotations

from typing import Any

from starlette.routing import BaseRoute

from connectors.hotline.intake import ingest
from connectors.ingest import json_route
from hub.roles import Permission


def routes(state: dict[str, Any]) -> list[BaseRoute]:
    return [json_route("/ingest/hotline", Permission.INGEST_HOTLINE, "热线来电", state, ingest)]
