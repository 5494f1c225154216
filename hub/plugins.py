"""How the hub finds its connectors without importing them at module top: by module name.

Each connector package may offer ``routes(app_state) -> list[BaseRoute]`` (HTTP ingest
endpoints mounted by the app). Connectors depend on hub; hub only knows these names.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

from starlette.routing import BaseRoute

log = logging.getLogger("hub.plugins")

CONNECTOR_MODULES: list[str] = ["connectors.hotline", "connectors.platform"]


def connector_routes(state: Any) -> list[BaseRoute]:
    found: list[BaseRoute] = []
    for name in CONNECTOR_MODULES:
        module = importlib.import_module(name)
        make = getattr(module, "routes", None)
        if make is not None:
            found.extend(make(state))
    return found
