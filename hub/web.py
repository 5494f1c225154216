"""What every plain HTTP route of the hub shares: the caller's scope from the bearer token,
refusals in the ingest routes' shape (``{"errors": [{"field", "message", "code"}]}``), and the
503 of a request that found no database connection in time."""

from __future__ import annotations

import logging
from collections.abc import Callable

import asyncpg
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Send
from starlette.types import Scope as ASGIScope

from hub.auth import AuthError, Scope, authenticate
from hub.db import Database
from hub.roles import PERMISSIONS, Permission, allows

log = logging.getLogger("hub.web")

# Overload: the pool's wait ran out (SANWANG_DB_POOL_TIMEOUT_SECONDS), or PostgreSQL refused one
# more connection. The client is told to come back, not that the hub broke.
BUSY = "服务繁忙：数据库连接已用尽，请稍后重试"
RETRY_AFTER = "5"  # seconds


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


def overloaded(exc: BaseException) -> bool:
    """Whether a failure means the database had no connection for the request in time (SQLAlchemy
    wraps the driver's error: its cause, context and ``orig`` are searched)."""
    seen: set[int] = set()
    pending: list[BaseException] = [exc]
    while pending:
        error = pending.pop()
        if id(error) in seen:
            continue
        seen.add(id(error))
        if isinstance(error, (PoolTimeout, asyncpg.TooManyConnectionsError)):
            return True
        more = (error.__cause__, error.__context__, getattr(error, "orig", None))
        pending += [e for e in more if isinstance(e, BaseException)]
    return False


def busy(path: str) -> JSONResponse:
    """The 503 answer: GraphQL's error shape on /graphql, the refusal shape elsewhere."""
    headers = {"Retry-After": RETRY_AFTER}
    if path.startswith("/graphql"):
        body = {"errors": [{"message": BUSY, "extensions": {"code": "UNAVAILABLE"}}]}
        return JSONResponse(body, status_code=503, headers=headers)
    return refusal(503, "database", BUSY, "UNAVAILABLE", headers)


class Overload:
    """Middleware: a request that fails for want of a database connection answers 503 with
    Retry-After (a 500 would read as a fault of the hub, and clients do not retry it)."""

    def __init__(self, app: ASGIApp, answer: Callable[[ASGIScope], Response] | None = None) -> None:
        self.app = app
        self.answer = answer  # the web console's: a page, not JSON

    async def __call__(self, scope: ASGIScope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def sending(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except Exception as exc:
            if started or not overloaded(exc):
                raise
            log.warning("%s %s: 503, no database connection: %s",
                        scope["method"], scope["path"], exc)  # fmt: skip
            answer = self.answer(scope) if self.answer else busy(scope["path"])
            await answer(scope, receive, send)


# What a page may load: this host only (scripts, styles, fonts, images, maps, sockets). The
# bureau's network has no internet, and a vendored script that named another host (GraphiQL's
# bundle carries many addresses in its comments and messages) is refused by the browser
# instead of hanging on it. Inline code and eval stay allowed: the pages and htmx use them.
SAME_HOST_ONLY = (
    "default-src 'self' 'unsafe-inline' 'unsafe-eval' data: blob:; "
    "connect-src 'self'; form-action 'self'; base-uri 'self'; frame-ancestors 'self'"
)


class SameHostOnly:
    """Middleware: every HTML answer carries ``SAME_HOST_ONLY`` as its Content-Security-Policy."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: ASGIScope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if headers.get("content-type", "").startswith("text/html"):
                    headers["Content-Security-Policy"] = SAME_HOST_ONLY
            await send(message)

        await self.app(scope, receive, sending)
