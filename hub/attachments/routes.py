"""POST /attachments (one photo or document as multipart/form-data) and GET /attachments/{id}.

The body is read through a counting channel: an upload larger than the limit is refused (413)
as soon as it passes it, never read whole into memory (Starlette's multipart parser spools a
file part to a temporary file past 1 MiB). Answers and refusals are shaped like the ingest
routes': ``{"errors": [{"field", "message", "code"}]}``."""

from __future__ import annotations

import logging
from typing import Any

from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import Message, Receive

from hub import metrics
from hub.attachments import service
from hub.attachments.sniff import extension
from hub.auth import Scope
from hub.db import Database
from hub.errors import DomainError, ErrorCode
from hub.roles import Permission
from hub.runtime import Runtime
from hub.uow import Conflict, unit_of_work
from hub.web import authenticated, authorize, refusal

log = logging.getLogger("hub.attachments")

# Room for the multipart framing and a small field or two (tenantCode) around the file.
FRAMING_BYTES = 64 * 1024
FILE_FIELD = "file"


class _TooLarge(Exception):
    pass


def _counted(receive: Receive, limit: int) -> Receive:
    """The request's receive channel, raising _TooLarge once the body passes ``limit`` bytes
    (Content-Length may be absent or chunked)."""
    size = 0

    async def counting() -> Message:
        nonlocal size
        message = await receive()
        if message["type"] == "http.request":
            size += len(message.get("body", b""))
            if size > limit:
                raise _TooLarge
        return message

    return counting


def file_response(row: service.Attachment, data: bytes) -> Response:
    """The file as a browser shows it: its content type (never sniffed), inline, private."""
    name = f"{row.id}.{extension(row.content_type)}"
    return Response(
        data,
        media_type=row.content_type,
        headers={
            "Content-Disposition": f'inline; filename="{name}"',
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, max-age=3600",
            "ETag": f'"{row.sha256}"',
        },
    )


def _too_large(limit: int) -> JSONResponse:
    metrics.ATTACHMENT_UPLOADS.labels("TOO_LARGE").inc()
    return refusal(413, FILE_FIELD, service.TooLarge(limit).message, "PAYLOAD_TOO_LARGE")


def _malformed(field: str, message: str) -> JSONResponse:
    metrics.ATTACHMENT_UPLOADS.labels("MALFORMED").inc()
    return refusal(422, field, message, ErrorCode.VALIDATION)


def routes(runtime: Runtime, key: str) -> list[BaseRoute]:
    db: Database = runtime.db
    limit = runtime.settings.attachments_max_bytes

    async def upload(request: Request) -> Response:
        scope = await authorize(request, db, key, Permission.ATTACHMENT_UPLOAD, "上传附件")
        if not isinstance(scope, Scope):
            metrics.ATTACHMENT_UPLOADS.labels("REFUSED").inc()
            return scope
        kind = request.headers.get("content-type", "")
        if not kind.lower().startswith("multipart/form-data"):
            return _malformed("body", "请以 multipart/form-data 上传，文件放在 file 字段")
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit + FRAMING_BYTES:
            return _too_large(limit)
        counted = Request(request.scope, _counted(request.receive, limit + FRAMING_BYTES))
        try:
            async with counted.form(max_files=1, max_fields=10) as form:
                part = form.get(FILE_FIELD)
                if not isinstance(part, UploadFile):
                    part = next((v for v in form.values() if isinstance(v, UploadFile)), None)
                if part is None:
                    return _malformed(FILE_FIELD, "缺少文件：请把照片或文档放在 file 字段上传")
                data = await part.read(limit + 1)
                tenant_code = form.get("tenantCode")
        except _TooLarge:
            return _too_large(limit)
        except HTTPException as exc:  # the multipart parser's 400 (bad framing, too many parts)
            return _malformed("body", f"multipart 请求体无效：{exc.detail}")
        except ClientDisconnect:
            return Response(status_code=400)  # nobody is left to read an answer
        if len(data) > limit:
            return _too_large(limit)
        code = tenant_code if isinstance(tenant_code, str) and tenant_code else None

        async def work(session: Any) -> service.Attachment:
            tenant_id = service.upload_tenant(scope, code)
            return await service.store_attachment(
                session,
                runtime.blobs,
                data=data,
                uploaded_by=scope.principal.id,
                tenant_id=tenant_id,
                max_bytes=limit,
            )

        try:
            row = await unit_of_work(db, scope.tenant_ids, work)
        except service.TooLarge:
            return _too_large(limit)
        except (service.UnsupportedType, service.EmptyFile) as exc:
            metrics.ATTACHMENT_UPLOADS.labels("WRONG_TYPE").inc()
            return refusal(415, FILE_FIELD, exc.message, "UNSUPPORTED_MEDIA_TYPE")
        except DomainError as exc:
            return _malformed(exc.field or "body", exc.message)
        except Conflict:
            return refusal(409, "body", "附件正被同时写入，请重试", ErrorCode.CONFLICT)
        metrics.ATTACHMENT_UPLOADS.labels("STORED").inc()
        metrics.ATTACHMENT_BYTES.inc(row.size)
        return JSONResponse(
            {
                "id": str(row.id),
                "sha256": row.sha256,
                "size": row.size,
                "contentType": row.content_type,
            },
            status_code=201,
        )

    async def read(request: Request) -> Response:
        scope = await authenticated(request, db, key)
        if not isinstance(scope, Scope):
            return scope
        async with db.session(scope.tenant_ids) as session:
            try:
                row, data = await service.read_attachment(
                    session, runtime.blobs, scope, request.path_params["id"]
                )
            except DomainError as exc:
                return refusal(404, "id", exc.message, ErrorCode.NOT_FOUND)
            except FileNotFoundError:
                log.error(
                    "attachment %s: blob missing from %s",
                    request.path_params["id"],
                    runtime.blobs.describe(),
                )
                return refusal(500, "id", "附件文件在存储中缺失，请联系管理员", "STORAGE")
        return file_response(row, data)

    return [
        Route("/attachments", upload, methods=["POST"]),
        Route("/attachments/{id}", read, methods=["GET"]),
    ]
