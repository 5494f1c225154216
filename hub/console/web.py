"""What every console page shares: who is signed in, CSRF, rendering, calling services.

A page handler is `async def handler(request, scope) -> Response`, wrapped by `@page(...)`:
the wrapper finds the caller (session cookie or bearer token; none: to the sign-in page),
checks the CSRF token of every POST made with a cookie, checks the page's permission with the
one table of hub/roles.py, and turns NOT_FOUND into the 404 page. Handlers call hub services
through `read` and `write` (each its own session or transaction, in the caller's towns), the
same functions the GraphQL resolvers call.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import quote

from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.templating import Jinja2Templates

from hub.accounts import lockout
from hub.accounts.service import account_principal
from hub.auth import AuthError, Principal, Scope, authenticate, scope_for
from hub.cases.enums import CARD_LABELS, CATEGORY_LABELS, CHANNEL_LABELS, PRIORITY_LABELS
from hub.db import utcnow
from hub.errors import DomainError, ErrorCode
from hub.roles import Permission, Role, allows
from hub.runtime import Runtime
from hub.tenancy.service import directory
from hub.uow import Conflict, unit_of_work

from . import labels

log = logging.getLogger("hub.console")
T = TypeVar("T")

SESSION_COOKIE = "sanwang_console"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
LOGIN_PATH = "/console/login"

ROLE_WORDS: dict[str, str] = {
    Role.ADMIN: "管理员",
    Role.DISPATCHER: "指挥中心调度员",
    Role.SUPERVISOR: "督查员",
    Role.OPERATOR: "乡镇网格办",
    Role.MEMBER: "网格员",
    Role.HOTLINE: "12369热线",
    Role.PLATFORM: "社管平台",
    Role.MONITOR: "在线监测",
    Role.VIEWER: "查看员",
}


@dataclass(frozen=True)
class NavItem:
    """One entry of the console's top navigation; shown once a page answers at `path` and the
    signed-in role holds `permission`."""

    label: str
    path: str
    permission: Permission = Permission.CASE_READ


# The console's sections, in order. A section appears as soon as its page group registers a
# route at its path (docs/console.md: "Adding a page").
NAV: tuple[NavItem, ...] = (
    NavItem("指挥中心", "/console/board"),
    NavItem("案件", "/console/cases"),
    NavItem("巡查", "/console/patrols", Permission.PATROL_READ),
    NavItem("台账", "/console/ledger"),
    NavItem("考核", "/console/evaluation"),
    NavItem("通报", "/console/bulletin", Permission.BULLETIN_READ),
    NavItem("监测", "/console/monitoring"),
)


@dataclass
class Console:
    """The console's state, built once with the app."""

    runtime: Runtime
    key: str
    templates: Jinja2Templates
    policy: lockout.Policy
    paths: set[str] = field(default_factory=set)  # every registered page path

    @property
    def db(self) -> Any:
        return self.runtime.db


def environment(runtime: Runtime) -> Environment:
    env = Environment(
        loader=PackageLoader("hub.console", "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    tz = runtime.tz
    env.filters["local"] = lambda at: labels.local(at, tz)
    env.filters["status_word"] = labels.status_word
    env.filters["role_word"] = lambda r: ROLE_WORDS.get(r, r)
    env.globals["PHASE_WORDS"] = labels.PHASE_WORDS
    env.globals["LEVEL_WORDS"] = labels.LEVEL_WORDS
    env.globals["SATISFACTION_WORDS"] = labels.SATISFACTION_WORDS
    env.globals["END_REASON_WORDS"] = labels.END_REASON_WORDS
    env.globals["clock_state"] = labels.clock_state
    env.globals["CATEGORY_LABELS"] = CATEGORY_LABELS
    env.globals["CHANNEL_LABELS"] = CHANNEL_LABELS
    env.globals["CARD_LABELS"] = CARD_LABELS
    env.globals["PRIORITY_LABELS"] = PRIORITY_LABELS
    return env


def console_of(request: Request) -> Console:
    console: Console = request.app.state.console
    return console


# --- who is asking ------------------------------------------------------------------------------


def csrf_token(request: Request) -> str:
    """The session's CSRF token (made on first use): every form carries it, every POST is
    checked against it."""
    token = request.session.get("csrf")
    if not token:
        token = request.session["csrf"] = secrets.token_urlsafe(32)
    return str(token)


def csrf_ok(request: Request, form: Any) -> bool:
    expected = request.session.get("csrf")
    given = form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER)
    if not isinstance(expected, str) or not expected or not isinstance(given, str):
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


async def principal_of_session(request: Request) -> Principal | None:
    """The principal of the signed session cookie, or None (none, expired, account disabled,
    password changed, or the token it holds revoked)."""
    console, session = console_of(request), request.session
    started = session.get("since")
    max_age = console.runtime.settings.console_session_max_hours * 3600
    if not isinstance(started, (int, float)) or time.time() - started > max_age:
        return None
    if "account" in session:
        try:
            account_id = uuid.UUID(str(session["account"]))
        except ValueError:
            return None
        return await account_principal(console.db, account_id, str(session.get("fp", "")))
    if "token" in session:  # a kiosk signed in with a token: checked again on every request
        try:
            scope = await authenticate(console.db, f"Bearer {session['token']}", console.key)
        except AuthError:
            return None
        return scope.principal
    return None


async def current_scope(request: Request) -> Scope | None:
    console = console_of(request)
    request.state.bearer = False
    authorization = request.headers.get("authorization")
    if authorization:  # a kiosk or a script: the same tokens as the API, no cookie, no CSRF
        try:
            scope = await authenticate(console.db, authorization, console.key)
        except AuthError:
            return None
        request.state.bearer = True
        return scope
    principal = await principal_of_session(request)
    if principal is None:
        return None
    return scope_for(principal, await directory(console.db))


def to_login(request: Request) -> Response:
    """Back to the sign-in page, with where to come back to; an htmx request is told to go
    there as a whole page."""
    expired = SESSION_COOKIE in request.cookies
    request.session.clear()
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    url = f"{LOGIN_PATH}?next={quote(target)}" + ("&expired=1" if expired else "")
    if request.headers.get("hx-request"):
        return Response(status_code=401, headers={"HX-Redirect": url})
    if request.headers.get("authorization"):
        return Response("令牌无效或已过期", status_code=401, headers={"WWW-Authenticate": "Bearer"})
    return RedirectResponse(url, status_code=303)


# --- rendering -------------------------------------------------------------------------------


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status: int = 200,
    scope: Scope | None = None,
) -> Response:
    console = console_of(request)
    scope = scope or getattr(request.state, "scope", None)
    values: dict[str, Any] = {
        "csrf_token": csrf_token(request),
        "scope": scope,
        "nav": nav_for(console, scope) if scope else [],
        "now": utcnow(),
        "path": request.url.path,
        **(context or {}),
    }
    return console.templates.TemplateResponse(request, template, values, status_code=status)


def nav_for(console: Console, scope: Scope) -> list[NavItem]:
    return [n for n in NAV if n.path in console.paths and allows(scope, n.permission)]


def error_page(request: Request, status: int, message: str) -> Response:
    return render(request, "error.html", {"status": status, "message": message}, status=status)


MAX_FORM_BYTES = 256 * 1024  # a form of texts: far more than any field's limit
UPLOAD_FRAMING = 64 * 1024  # a form with a photo: the photo's limit plus its texts


def _declared_length(request: Request) -> int:
    try:
        return int(request.headers.get("content-length", "0"))
    except ValueError:
        return 0


class PageNotFound(Exception):
    """The thing in the URL does not exist for the caller (another town's case: 404)."""


Handler = Callable[[Request, Scope], Awaitable[Response]]


def page(
    permission: Permission = Permission.CASE_READ, *, uploads: bool = False
) -> Callable[[Handler], Any]:
    """A console page: signed in (else to the sign-in page), CSRF checked on POST, the
    permission required, NOT_FOUND as the 404 page. ``uploads``: its POST may carry a file
    (a photo) up to the attachments' limit instead of a form of texts' 256 KB."""

    def wrap(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            scope = await current_scope(request)
            if scope is None:
                return to_login(request)
            request.state.scope = scope
            limit = MAX_FORM_BYTES
            if uploads:
                limit = console_of(request).runtime.settings.attachments_max_bytes + UPLOAD_FRAMING
            if _declared_length(request) > limit:
                return error_page(request, 413, f"提交的内容超过 {limit // 1024} KB")
            if request.method == "POST" and not request.state.bearer:
                form = await request.form()
                if not csrf_ok(request, form):
                    log.warning("console: CSRF token missing or wrong on %s", request.url.path)
                    return error_page(
                        request, 403, "表单已失效或来源不明（CSRF 校验失败），请刷新页面后重试"
                    )
            if not allows(scope, permission):
                return error_page(request, 403, "您的角色无权查看此页面")
            try:
                return await handler(request, scope)
            except PageNotFound:
                return error_page(request, 404, "页面不存在，或您无权查看")

        endpoint.__name__ = handler.__name__
        return endpoint

    return wrap


# --- calling services -------------------------------------------------------------------------

Service = Callable[..., Awaitable[T]]


async def read(request: Request, service: Service[T], *args: Any, **kwargs: Any) -> T:
    """One read use case in a session scoped to the caller's towns."""
    scope: Scope = request.state.scope
    async with console_of(request).db.session(scope.tenant_ids) as session:
        return await service(session, scope, *args, **kwargs)


async def write(
    request: Request, service: Service[T], *args: Any, **kwargs: Any
) -> T | DomainError:
    """One write use case in its own transaction: committed, or rolled back (nothing
    half-written) and its DomainError returned for the form to show."""
    scope: Scope = request.state.scope

    async def work(session: AsyncSession) -> T:
        return await service(session, scope, *args, **kwargs)

    try:
        return await unit_of_work(console_of(request).db, scope.tenant_ids, work)
    except DomainError as exc:
        return exc
    except Conflict:
        return DomainError(ErrorCode.CONFLICT, "与同时进行的修改冲突，请重试")
