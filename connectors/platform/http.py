"""POST /ingest/platform: bearer token with role PLATFORM (or ADMIN), one assignment as JSON."""

from __future__ import annotations

import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

# The body reader and the error answer are the hotline's, unchanged: generic to any JSON ingest.
from connectors.hotline.http import _answer, _fields, _read
from connectors.hotline.intake import Problem, Refused
from connectors.platform.intake import ingest
from hub.auth import AuthError, authenticate
from hub.db import utcnow
from hub.roles import Permission

log = logging.getLogger("connectors.platform")


def routes(state: dict[str, Any]) -> list[BaseRoute]:
    db, settings, key = state["db"], state["settings"], state["key"]

    async def platform(request: Request) -> JSONResponse:
        try:
            scope = await authenticate(db, request.headers.get("authorization"), key)
        except AuthError as exc:
            refused = Refused(401, [Problem("authorization", str(exc))], "UNAUTHENTICATED")
            return _answer(refused, {"WWW-Authenticate": "Bearer"})
        if not scope.principal.can(Permission.INGEST_PLATFORM):
            message = "the token's roles may not post platform cases (needs PLATFORM)"
            return _answer(Refused(403, [Problem("authorization", message)], "FORBIDDEN"))
        try:
            raw = await _read(request)
            answer = await ingest(db, scope, settings, raw, utcnow())
        except Refused as refused:
            log.info("platform case refused: %s %s", refused.status, _fields(refused))
            return _answer(refused)
        return JSONResponse(answer.body, status_code=answer.status)

    return [Route("/ingest/platform", platform, methods=["POST"])]
