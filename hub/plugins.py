"""How the hub finds its connectors, and the one way they plug into it.

A connector is a Python entry point in the group ``sanwang.connectors`` (declared in the
pyproject.toml of the package that ships it) naming a :class:`Connector`. The hub imports no
connector by name: it lists the entry points (``importlib.metadata``), so a connector shipped
as a package of its own is found once it is installed, and this repository's connectors are
found after ``pip install -e .``.

A connector offers, all optional: ``settings`` (its typed settings class, read once from the
environment by ``hub.runtime.Runtime.start`` and kept in ``runtime.connector_settings``);
``routes(state)`` (HTTP ingest endpoints mounted by the app); ``install(runtime)`` (called by
every process that changes cases or delivers messages: the API, the worker and the scheduler;
it plugs its outbox senders and case-change hooks in through :func:`plug_in`, and may be
called again with another runtime);
``lifespan(state)`` (an async context manager entered by the API process after its job
runtime starts: listeners such as the HJ 212 TCP server, the demo simulators); ``models``
(the module holding its tables) and ``jobs`` (the module registering its periodic jobs).
Connectors depend on hub; hub knows none of them.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from functools import cache
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from pydantic_settings import BaseSettings

if TYPE_CHECKING:  # a connector's package imports this module: keep it light (the HJ 212 codec)
    from starlette.routing import BaseRoute

    from hub.cases.hooks import CaseChangeHook
    from hub.outbox.service import Sender

log = logging.getLogger("hub.plugins")

GROUP = "sanwang.connectors"


@dataclass(frozen=True)
class Connector:
    """What a connector offers the hub (see the module's docstring)."""

    name: str
    settings: type[BaseSettings] | None = None
    routes: Callable[[dict[str, Any]], list[BaseRoute]] | None = None
    install: Callable[[Any], None] | None = None
    lifespan: Callable[[dict[str, Any]], AbstractAsyncContextManager[None]] | None = None
    models: str | None = None
    jobs: str | None = None


@cache
def connectors() -> tuple[Connector, ...]:
    """Every installed connector, by name (a stable order for routes, hooks and lifespans)."""
    found: dict[str, Connector] = {}
    for point in sorted(entry_points(group=GROUP), key=lambda p: p.name):
        connector = point.load()
        if not isinstance(connector, Connector):
            raise TypeError(f"entry point {point.value} in {GROUP} is not a Connector")
        found.setdefault(point.name, connector)  # the same package seen twice on the path
    if not found:
        log.warning("no connectors are installed (entry points %s): run pip install -e .", GROUP)
    return tuple(found.values())


def plug_in(
    senders: Mapping[str, Sender] | None = None, hooks: Mapping[str, CaseChangeHook] | None = None
) -> None:
    """Add outbox senders (by topic) and case-change hooks (by name); plugging the same name
    in again replaces it, so installing twice is harmless."""
    # Here rather than at the top: the registries' modules bring the ORM models along.
    from hub.cases.hooks import on_case_change
    from hub.outbox.service import register_sender

    for topic, sender in (senders or {}).items():
        register_sender(topic, sender)
    for name, hook in (hooks or {}).items():
        on_case_change(name, hook)


def import_connector_models() -> None:
    """Connector tables join the metadata (migrations, the models == migrations check)."""
    for connector in connectors():
        if connector.models is not None:
            importlib.import_module(connector.models)


def connector_job_modules() -> list[str]:
    """The modules whose @periodic jobs a scheduler starts, besides the hub's own."""
    return [c.jobs for c in connectors() if c.jobs is not None]


def connector_routes(state: Any) -> list[BaseRoute]:
    found: list[BaseRoute] = []
    for connector in connectors():
        if connector.routes is not None:
            found.extend(connector.routes(state))
    return found


class SettingsError(ValueError):
    """A connector's settings do not validate; the message names the environment variables."""


def read_settings(kind: type[BaseSettings], **values: Any) -> BaseSettings:
    """``kind()`` from the environment (``values`` win over it); refused values are reported by
    variable name (SANWANG_HOTLINE_CALLBACK_URL, not callback_url), so an operator knows what to
    fix."""
    try:
        return kind(**values)
    except ValidationError as exc:
        prefix = str(kind.model_config.get("env_prefix", ""))
        problems = [
            f"{prefix}{'.'.join(map(str, error['loc'])).upper()}: {error['msg']}"
            for error in exc.errors()
        ]
        raise SettingsError("; ".join(problems)) from exc


def load_connector_settings(
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """Every connector's own settings, read from the environment now (once per runtime);
    ``overrides`` by connector name (command-line options such as ``serve --hj212-port``)."""
    given = overrides or {}
    return {
        c.name: read_settings(c.settings, **given.get(c.name, {}))
        for c in connectors()
        if c.settings is not None
    }


def install_connectors(runtime: Any) -> None:
    """Let every connector plug in its senders and hooks with this runtime."""
    for connector in connectors():
        if connector.install is not None:
            connector.install(runtime)


@contextlib.asynccontextmanager
async def connector_lifespans(state: Any) -> AsyncIterator[None]:
    """Enter every connector's lifespan in order; leave them in reverse."""
    async with contextlib.AsyncExitStack() as stack:
        for connector in connectors():
            if connector.lifespan is not None:
                await stack.enter_async_context(connector.lifespan(state))
        yield
