"""How the hub finds its connectors without importing them at module top: by module name.

Each connector package may offer ``routes(app_state) -> list[BaseRoute]`` (HTTP ingest
endpoints mounted by the app) and ``install(settings)`` (registers its outbox senders and its
case-change hooks; called by every process that changes cases or delivers messages: the API,
the worker and the scheduler) and ``lifespan(state)`` (an async context manager entered by the
API process after its job runtime starts: listeners such as the HJ 212 TCP server, and the
demo simulators when ``settings.demo`` is set). Connectors depend on hub; hub only knows these
names.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from starlette.routing import BaseRoute

log = logging.getLogger("hub.plugins")

CONNECTOR_MODULES: list[str] = ["connectors.hotline", "connectors.platform", "connectors.hj212"]


def import_connector_models() -> None:
    """Connector tables join the metadata (migrations, the models == migrations check) by
    module name: a connector with tables has a ``model`` module."""
    for name in CONNECTOR_MODULES:
        try:
            importlib.import_module(f"{name}.model")
        except ModuleNotFoundError as exc:
            if exc.name != f"{name}.model":
                raise


def connector_routes(state: Any) -> list[BaseRoute]:
    found: list[BaseRoute] = []
    for name in CONNECTOR_MODULES:
        module = importlib.import_module(name)
        make = getattr(module, "routes", None)
        if make is not None:
            found.extend(make(state))
    return found


def install_connectors(settings: Any) -> None:
    """Let every connector register its senders and hooks (idempotent: registries are keyed)."""
    for name in CONNECTOR_MODULES:
        install = getattr(importlib.import_module(name), "install", None)
        if install is not None:
            install(settings)


@contextlib.asynccontextmanager
async def connector_lifespans(state: Any) -> AsyncIterator[None]:
    """Enter every connector's lifespan in order; leave them in reverse."""
    async with contextlib.AsyncExitStack() as stack:
        for name in CONNECTOR_MODULES:
            lifespan = getattr(importlib.import_module(name), "lifespan", None)
            if lifespan is not None:
                await stack.enter_async_context(lifespan(state))
        yield
