"""POST /ingest/hotline: bearer token with role HOTLINE (or ADMIN), one call record as JSON."""

from __future__ import annotations

import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from connectors.hotline.intake import MAX_BODY_BYTES, Problem, Refused, ingest, invalid
from hub.auth import AuthError, authenticate
from hub.db import utcnow
from hub.roles import Permission

log = logging.getLogger("connectors.hotline")


def routes(state: dict[str, Any]) -> list[BaseRoute]:
    db, settings, key = state["db"], state["settings"], state["key"]

    async def hotline(request: Request) -> JSONResponse:
        try:
            scope = await authenticate(db, request.headers.get("authorization"), key)
        except AuthError as exc:
            refused = Refused(401, [Problem("authorization", str(exc))], "UNAUTHENTICATED")
            return _answer(refused, {"WWW-Authenticate": "Bearer"})
        if not scope.principal.can(Permission.INGEST_HOTLINE):
            message = "the token's roles may not post hotline calls (needs HOTLINE)"
            return _answer(Refused(403, [Problem("authorization", message)], "FORBIDDEN"))
        try:
            raw = await _read(request)
            answer = await ingest(db, scope, settings, raw, utcnow())
        except Refused as refused:
            log.info("hotline call refused: %s %s", refused.status, _fields(refused))
            return _answer(refused)
        return JSONResponse(answer.body, status_code=answer.status)

    return [Route("/ingest/hotline", hotline, methods=["POST"])]


async def _read(request: Request) -> bytes:
    """The body, refusing one larger than the cap without reading all of it."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise invalid("body", f"the body is larger than {MAX_BODY_BYTES} bytes", 413)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise invalid("body", f"the body is larger than {MAX_BODY_BYTES} bytes", 413)
        chunks.append(chunk)
    return b"".join(chunks)


def _fields(refused: Refused) -> str:
    # Field names only: messages may quote what the caller sent (never log a phone number).
    return ",".join(p.field for p in refused.problems)


def _answer(refused: Refused, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(refused.body(), status_code=refused.status, headers=headers)
