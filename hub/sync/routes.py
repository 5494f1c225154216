"""``GET /sync/changes``: the change feed as newline-delimited JSON, for a client catching up
on many changes at once (the city platform after a night offline, a new replica)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from hub.errors import DomainError
from hub.roles import Permission
from hub.runtime import Runtime
from hub.sync import service
from hub.web import authorize, refusal

MEDIA_TYPE = "application/x-ndjson"


def routes(runtime: Runtime, key: str) -> list[Route]:
    async def changes(request: Request) -> Response:
        scope = await authorize(request, runtime.db, key, Permission.CASE_READ, "读取变更")
        if isinstance(scope, Response):
            return scope
        after = request.query_params.get("after") or None
        raw_limit = request.query_params.get("limit")
        if raw_limit is not None and not (raw_limit.isdigit() and int(raw_limit) > 0):
            return refusal(422, "limit", "limit 应为正整数", "VALIDATION")
        limit = int(raw_limit) if raw_limit is not None else None
        batches = service.bulk_changes(runtime.db, scope, after, limit, key=key)
        try:  # a bad cursor is refused before the first byte is sent
            first = await anext(batches, None)
        except DomainError as exc:
            return refusal(422, exc.field or "after", exc.message, exc.code)
        return StreamingResponse(_lines(first, batches, after), media_type=MEDIA_TYPE)

    return [Route("/sync/changes", changes, methods=["GET"])]


async def _lines(
    first: list[dict[str, object]] | None,
    rest: AsyncIterator[list[dict[str, object]]],
    after: str | None,
) -> AsyncIterator[bytes]:
    """One line per change, then one line ``{"end": true, "endCursor": ...}``: a client that
    did not get it lost the connection mid-stream and asks again from its last cursor."""
    end = after
    batch = first
    while batch:
        yield b"".join(orjson.dumps(row) + b"\n" for row in batch)
        end = str(batch[-1]["cursor"])
        batch = await anext(rest, None)
    yield orjson.dumps({"end": True, "endCursor": end}) + b"\n"
