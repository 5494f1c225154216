"""POST /ingest/platform: bearer token with role PLATFORM (or ADMIN), one assignment as JSON."""

from __future__ import annotations

from typing import Any

from starlette.routing import BaseRoute

from connectors.ingest import json_route
from connectors.platform.intake import ingest
from hub.roles import Permission


def routes(state: dict[str, Any]) -> list[BaseRoute]:
    return [json_route("/ingest/platform", Permission.INGEST_PLATFORM, "平台案件", state, ingest)]
