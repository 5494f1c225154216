"""POST /ingest/hj212: raw HJ 212 packets in the body (role MONITOR or ADMIN), handled as on
the TCP port; the answer body holds the reply packets the standard requires."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from connectors.hj212.link import Link
from connectors.hj212.settings import hj212_settings
from connectors.ingest import Problem, Refused, answer_refusal, authorize, read_body
from hub.auth import Scope
from hub.monitoring.writer import ReadingWriter
from hub.roles import Permission

log = logging.getLogger("connectors.hj212")

ACCEPTED = {"STORED", "PART", "IGNORED"}
# the packet field at fault
FIELD_OF = {
    "UNKNOWN_MN": "MN",
    "BAD_PASSWORD": "PW",
    "BAD_DATATIME": "DataTime",
    "TOO_MANY_PARTS": "PNUM",
    "PARTS_OVER_CAP": "PNUM",
}


def writer_of(state: dict[str, Any]) -> ReadingWriter:
    """The process's one reading writer (made on first use when no lifespan made it)."""
    writer = state.get("hj212_writer")
    if writer is None:
        writer = state["hj212_writer"] = ReadingWriter(state["db"], state["settings"])
    return writer


def _towns_of(scope: Scope) -> frozenset[uuid.UUID] | None:
    """The towns a token may send packets for: those it sees, unless it sees the whole city
    (then any device, in towns made after the token too)."""
    if len(scope.tenant_ids) == len(scope.directory.tenants):
        return None
    return frozenset(scope.tenant_ids)


def routes(state: dict[str, Any]) -> list[BaseRoute]:
    db, runtime, key = state["db"], state["runtime"], state["key"]
    settings = hj212_settings(runtime)

    async def endpoint(request: Request) -> Response:
        scope = await authorize(request, db, key, Permission.INGEST_MONITORING, "HJ 212 报文")
        if not isinstance(scope, Scope):
            return scope
        try:
            body = await read_body(request)
        except Refused as refused:
            return answer_refusal(refused)
        link = Link(
            writer_of(state),
            runtime.tz,
            "http",
            request.client.host if request.client else None,
            **settings.link_limits(),
            towns=_towns_of(scope),
        )
        try:
            replies = await link.receive(body) + await link.finish()
        except Exception:  # the database failed us: nothing was acknowledged, send again
            log.exception("HJ 212 http packets from %s could not be written", link.peer)
            problem = Problem("body", "数据暂未写入（未确认），请稍后重发")
            return answer_refusal(Refused(503, [problem], "UNAVAILABLE"), {"Retry-After": "5"})
        outcomes = ",".join(f"{k}={v}" for k, v in sorted(link.outcomes.items()))
        headers = {"X-HJ212-Outcomes": outcomes}
        if not link.outcomes:
            problem = Problem("body", "请求体中没有 HJ 212 报文（每条报文以 ## 开头）")
            return answer_refusal(Refused(422, [problem]))
        if ACCEPTED.isdisjoint(link.outcomes):
            problems = [
                Problem(FIELD_OF.get(outcome, "body"), f"{count} 条报文被拒收：{outcome}")
                for outcome, count in sorted(link.outcomes.items())
            ]
            return JSONResponse(Refused(422, problems).body(), status_code=422, headers=headers)
        return Response(replies, media_type="text/plain", headers=headers)

    return [Route("/ingest/hj212", endpoint, methods=["POST"])]
