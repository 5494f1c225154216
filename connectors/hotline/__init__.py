"""The 12369 environmental complaint hotline: call intake (POST /ingest/hotline) and the pure
parts that understand a call (classify, phones, names)."""

from __future__ import annotations

from typing import Any

from starlette.routing import BaseRoute


def routes(state: dict[str, Any]) -> list[BaseRoute]:
    from connectors.hotline.http import routes as make

    return make(state)
