"""The one way connectors plug in: entry points of the group sanwang.connectors, each naming a
Connector; senders and hooks through plug_in."""

from __future__ import annotations

import importlib
from typing import Any

from hub.cases import hooks
from hub.outbox import service
from hub.outbox.service import sender_for
from hub.plugins import Connector, connector_job_modules, connectors, plug_in


def test_the_connectors_are_found_through_their_entry_points() -> None:
    found = {c.name: c for c in connectors()}
    assert sorted(found) == ["hj212", "hotline", "open311", "platform", "video"]
    assert all(isinstance(c, Connector) for c in found.values())
    assert found["platform"].models == "connectors.platform.model"
    assert connector_job_modules() == ["connectors.platform.jobs", "connectors.video.jobs"]
    for name in (found["platform"].models, *connector_job_modules()):
        assert importlib.import_module(name) is not None
    assert found["hotline"].install is not None and found["hj212"].lifespan is not None


async def test_plugging_in_again_replaces_by_name() -> None:
    async def first(payload: dict[str, Any], key: str) -> None: ...
    async def second(payload: dict[str, Any], key: str) -> None: ...
    async def hook(session: Any, case: Any, event: Any) -> None: ...

    plug_in(senders={"test.plugins": first}, hooks={"test.plugins": hook})
    plug_in(senders={"test.plugins": second})
    try:
        assert sender_for("test.plugins") is second
        assert hooks._hooks["test.plugins"] is hook
    finally:
        hooks._hooks.pop("test.plugins", None)
        service._senders.pop("test.plugins", None)
