"""The console as an ASGI app mounted at /console: its page groups, static files and session.

Adding a page group: a module in hub/console/ with `ROUTES` (paths relative to /console,
handlers wrapped in `web.page`), listed in PAGE_GROUPS below; its NavItem in web.NAV shows in
the navigation as soon as a route answers at its path (docs/console.md).
"""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.types import Scope as ASGIScope

from hub.accounts.lockout import Policy
from hub.runtime import Runtime
from hub.web import BUSY, RETRY_AFTER, Overload

from . import board, bulletin, cases, files, login, monitoring, people, phone
from .web import SESSION_COOKIE, Console, environment, error_page

PAGE_GROUPS = (login, cases, files, board, monitoring, phone, people, bulletin)
STATIC = Path(__file__).parent / "static"
PREFIX = "/console"


def session_key(key: str) -> str:
    """The session cookie's own signing key, derived from the hub's secret (a cookie signature
    is never also valid as a cursor or anything else the secret signs)."""
    return hmac.new(key.encode(), b"sanwang console session", hashlib.sha256).hexdigest()


def static_files() -> StaticFiles:
    return StaticFiles(directory=STATIC)


def console_app(runtime: Runtime, key: str) -> Starlette:
    settings = runtime.settings
    routes: list[BaseRoute] = [r for group in PAGE_GROUPS for r in group.ROUTES]
    paths = {PREFIX + r.path.rstrip("/") for r in routes if isinstance(r, Route)}
    routes.append(Mount("/static", app=static_files(), name="static"))
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(
                SessionMiddleware,
                secret_key=session_key(key),
                session_cookie=SESSION_COOKIE,
                max_age=int(settings.console_session_minutes * 60),
                path=PREFIX,
                same_site="lax",
                https_only=settings.console_cookie_secure,
            ),
            # Inside the console's own error handling, which would answer a 500 first.
            Middleware(Overload, answer=busy_page),
        ],
    )
    app.state.console = Console(
        runtime=runtime,
        key=key,
        templates=Jinja2Templates(env=environment(runtime)),
        policy=Policy(
            settings.console_lockout_failures,
            settings.console_lockout_address_failures,
            int(settings.console_lockout_minutes * 60),
        ),
        paths=paths,
    )
    return app


def busy_page(scope: ASGIScope) -> Response:
    """The 503 of a page that found no database connection in time: the console's error page
    in Chinese, with Retry-After."""
    page = error_page(Request(scope), 503, BUSY)
    page.headers["Retry-After"] = RETRY_AFTER
    return page
