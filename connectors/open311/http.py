"""The Open311 GeoReport v2 routes under /open311/v2/ (JSON; other formats are refused).

- ``GET services.json``: the case categories, with Chinese names.
- ``POST requests.json`` (form-encoded, as the specification says; a JSON object is accepted
  too): ``api_key`` is a hub token whose roles may register cases; the request goes through
  the same intake as a hotline call (routing, duplicates, case numbers, the audit trail) as a
  report of channel OTHER, and answers the case number and the caller's query code. An
  ``Idempotency-Key`` header makes a retried POST answer what the first one did.
- ``GET requests.json`` and ``GET requests/{id}.json``: public reads of the public view.
"""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from connectors.ingest import Naming, Refused, read_body, register_once
from connectors.open311 import georeport
from connectors.open311.georeport import GeoReportError
from hub.auth import AuthError, Scope, authenticate
from hub.cases import inputs, intake
from hub.db import utcnow
from hub.errors import DomainError
from hub.public.service import issue_code, public_requests
from hub.roles import Permission, allows

log = logging.getLogger("connectors.open311")
NAMING = Naming("Idempotency-Key", georeport.FIELDS)
# Refusals of the shared intake (422 field by field) are GeoReport's 400.
_STATUS = {422: 400, 413: 413, 409: 409, 403: 403, 401: 401}


def _json_only(request: Request) -> None:
    if request.path_params.get("format") != "json":
        raise GeoReportError(400, "format：只支持 JSON 格式（.json）", "format")


def routes(state: dict[str, Any]) -> list[BaseRoute]:
    db, settings, key = state["db"], state["settings"], state["key"]
    tz = state["runtime"].tz

    def refused(error: GeoReportError) -> JSONResponse:
        return JSONResponse(error.body(), error.status)

    async def services(request: Request) -> Response:
        try:
            _json_only(request)
        except GeoReportError as error:
            return refused(error)
        return JSONResponse(georeport.services())

    async def list_requests(request: Request) -> Response:
        try:
            _json_only(request)
            search = georeport.query_of(dict(request.query_params), utcnow())
        except GeoReportError as error:
            return refused(error)
        found = await public_requests(db, search)
        return JSONResponse([georeport.service_request(f, tz) for f in found])

    async def one_request(request: Request) -> Response:
        try:
            _json_only(request)
        except GeoReportError as error:
            return refused(error)
        number = request.path_params["id"]
        found = await public_requests(db, georeport.Search(numbers=[number], limit=1))
        if not found:
            return refused(GeoReportError(404, f"没有编号为 {number[:40]} 的服务请求"))
        return JSONResponse([georeport.service_request(found[0], tz)])

    async def create(request: Request) -> Response:
        try:
            _json_only(request)
            fields = _fields(request, await _body(request))
            scope = await _caller(request, fields)
            try:
                intake.throttle(db, scope, settings.register_rate_per_minute)
            except DomainError as exc:
                raise GeoReportError(429, exc.message, "api_key") from None
            inp = georeport.register_input(fields, utcnow(), request.headers.get("idempotency-key"))
            secret = key

            def extra(done: inputs.Registered) -> dict[str, Any]:
                return {"queryCode": issue_code(done.report, secret)}

            answer = await register_once(db, scope, settings, inp, NAMING, extra=extra)
        except GeoReportError as error:
            log.info("open311 request refused: %s %s", error.status, error.field or "")
            return refused(error)
        except Refused as refusal:
            log.info("open311 request refused: %s %s", refusal.status, refusal.problems[0].field)
            problem = refusal.problems[0]
            status = _STATUS.get(refusal.status, 400)
            return refused(
                GeoReportError(status, f"{problem.field}：{problem.message}", problem.field)
            )
        body = answer.body
        return JSONResponse(
            georeport.created(
                body["caseNumber"],
                body["queryCode"],
                answer.status,
                body["duplicateOf"] is not None,
            ),
            answer.status,
        )

    async def _caller(request: Request, fields: dict[str, str]) -> Scope:
        api_key = fields.get("api_key") or request.query_params.get("api_key")
        if not api_key:
            raise GeoReportError(401, "缺少 api_key：请提供有权登记案件的令牌", "api_key")
        try:
            scope = await authenticate(db, f"Bearer {api_key}", key)
        except AuthError:
            raise GeoReportError(401, "api_key 无效或已吊销", "api_key") from None
        if not allows(scope, Permission.CASE_REGISTER):
            raise GeoReportError(403, "api_key 的角色无权提交服务请求", "api_key")
        return scope

    return [
        Route("/open311/v2/services.{format}", services, methods=["GET"]),
        Route("/open311/v2/requests.{format}", list_requests, methods=["GET"]),
        Route("/open311/v2/requests.{format}", create, methods=["POST"]),
        Route("/open311/v2/requests/{id}.{format}", one_request, methods=["GET"]),
    ]


async def _body(request: Request) -> bytes:
    try:
        return await read_body(request)
    except Refused as refusal:
        raise GeoReportError(refusal.status, refusal.problems[0].message, "body") from None


def _fields(request: Request, raw: bytes) -> dict[str, str]:
    """The POST's fields: form-encoded (the specification) or a JSON object of strings."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise GeoReportError(400, "请求体不是有效的 UTF-8", "body") from None
    if kind == "application/json":
        try:
            decoded = json.loads(text)
        except ValueError:
            raise GeoReportError(400, "请求体不是 JSON", "body") from None
        if not isinstance(decoded, dict):
            raise GeoReportError(400, "请求体须为一个 JSON 对象", "body")
        return {str(k): "" if v is None else str(v) for k, v in decoded.items()}
    if kind not in ("application/x-www-form-urlencoded", ""):
        raise GeoReportError(400, "请求体须为 application/x-www-form-urlencoded（或 JSON）", "body")
    fields: dict[str, str] = {}
    try:
        pairs = parse_qsl(text, keep_blank_values=True, max_num_fields=100)
    except ValueError:
        raise GeoReportError(400, "请求体的字段过多", "body") from None
    for name, value in pairs:
        fields.setdefault(name, value)
    return fields
