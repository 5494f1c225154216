"""Attachments for a signed-in browser: /console/attachments/{id}, by the same rule as
GET /attachments/{id} (hub/attachments `read_attachment`: the uploader until it is attached,
then whoever may see what it is attached to), with the console's session (its cookie is scoped
to /console, so it never reaches /attachments)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hub.attachments import service as attachments
from hub.attachments.routes import file_response
from hub.auth import Scope
from hub.errors import DomainError

from .web import PageNotFound, console_of, page, read


async def _fetch(session: AsyncSession, scope: Scope, attachment_id: str, blobs: Any) -> Any:
    try:
        return await attachments.read_attachment(session, blobs, scope, attachment_id)
    except (DomainError, FileNotFoundError):
        return None


async def attachment_response(request: Request, attachment_id: str) -> Response:
    """The file, or the 404 page (an unknown id and one the caller may not see look alike)."""
    found = await read(request, _fetch, attachment_id, console_of(request).runtime.blobs)
    if found is None:
        raise PageNotFound
    row, data = found
    return file_response(row, data)


@page()
async def attachment(request: Request, scope: Scope) -> Response:
    return await attachment_response(request, request.path_params["attachment_id"])


ROUTES = [Route("/attachments/{attachment_id}", attachment, methods=["GET"])]
