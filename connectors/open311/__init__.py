"""Open311 GeoReport v2 (/open311/v2/...): a facade over the same intake as the hotline and
over the public view, so the city's and third parties' apps submit and follow requests with a
standard they already speak. Pure mapping in georeport.py, routes in http.py."""

from __future__ import annotations

from typing import Any

from starlette.routing import BaseRoute

from hub.plugins import Connector


def routes(state: dict[str, Any]) -> list[BaseRoute]:
    from connectors.open311.http import routes as make

    return make(state)


CONNECTOR = Connector("open311", routes=routes)
