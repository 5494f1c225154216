"""What every plain HTTP route of the hub shares: the caller's scope from the bearer token, and
refusals in the ingest routes' shape (``{"errors": [{"field", "message", "code"}]}``)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse

from hub.auth import AuthError, Scope, authenticate
from hub.db import Database
from hub.roles import PERMISSIONS, Permission, allows


def refusal(
    status: int, field: str, message: str, code: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    body = {"errors": [{"field": field, "message": message, "code": code}]}
    return JSONResponse(body, status_code=status, headers=headers)


async def authenticated(request: Request, db: Database, key: str) -> Scope | JSONResponse:
    """The caller's scope from the bearer token, or the 401 to answer instead."""
    try:
        return await authenticate(db, request.headers.get("authorization"), key)
    except AuthError as exc:
        return refusal(
            401, "authorization", str(exc), "UNAUTHENTICATED", {"WWW-Authenticate": "Bearer"}
        )


async def authorize(
    request: Request, db: Database, key: str, permission: Permission, what: str
) -> Scope | JSONResponse:
    """The caller's scope, or the 401/403 answer to give instead (``what``: what the caller
    asked for, in Chinese, for the 403's message)."""
    scope = await authenticated(request, db, key)
    if isinstance(scope, Scope) and not allows(scope, permission):
        needs = " or ".join(sorted(PERMISSIONS[permission]))
        return refusal(403, "authorization", f"令牌的角色无权{what}（须为 {needs}）", "FORBIDDEN")
    return scope
