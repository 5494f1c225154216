"""``GET /exports/ledger.xlsx``: the ledger items the caller sees, with their progress."""

from __future__ import annotations

import anyio
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from hub.ledgers import export as ledger_export
from hub.ledgers import service as ledgers
from hub.roles import Permission
from hub.runtime import Runtime
from hub.web import authorize


def routes(runtime: Runtime, key: str) -> list[Route]:
    async def workbook(request: Request) -> Response:
        scope = await authorize(request, runtime.db, key, Permission.LEDGER_READ, "读取台账")
        if isinstance(scope, Response):
            return scope
        async with runtime.db.session(scope.tenant_ids) as session:
            rows = await ledgers.export_rows(session, scope, tz=runtime.tz)
        towns = {t.id: t.name for t in scope.directory.tenants}
        out = await anyio.to_thread.run_sync(ledger_export.write_workbook, rows, towns, runtime.tz)
        return StreamingResponse(
            ledger_export.chunks(out),
            media_type=ledger_export.CONTENT_TYPE,
            headers={
                "Content-Disposition": 'attachment; filename="ledger.xlsx"; '
                "filename*=UTF-8''%E5%8F%B0%E8%B4%A6.xlsx",  # 台账.xlsx
                "Cache-Control": "no-store",
            },
        )

    return [Route("/exports/ledger.xlsx", workbook, methods=["GET"])]
