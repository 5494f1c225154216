"""Signing in and out: /console/login (an account's password, or a kiosk's token), sign-out."""

from __future__ import annotations

import logging
import time

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from hub.accounts import lockout
from hub.accounts.service import PASSWORD_MAX, sign_in
from hub.auth import AuthError, Scope, authenticate

from .web import console_of, csrf_ok, page, render

log = logging.getLogger("hub.console")
HOME = "/console/cases"


def _next(value: object) -> str:
    """Where to go after signing in: a console page of this hub, never another site."""
    text = value if isinstance(value, str) else ""
    ok = text.startswith("/console") and not text.startswith("//") and "\\" not in text
    return text if ok and not text.startswith("/console/login") else HOME


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _form(request: Request, status: int = 200, **context: object) -> Response:
    values = {"next": _next(request.query_params.get("next")), **context}
    if request.query_params.get("expired") and "error" not in values:
        values["notice"] = "登录已过期，请重新登录"
    return render(request, "login.html", values, status=status)


async def login_page(request: Request) -> Response:
    return _form(request)


def _begin(request: Request, **values: object) -> None:
    """A fresh session (a new CSRF token too: nothing from before sign-in carries over)."""
    request.session.clear()
    request.session.update({"since": time.time(), **values})


async def login(request: Request) -> Response:
    console = console_of(request)
    form = await request.form()
    if not csrf_ok(request, form):
        return _form(request, 403, error="表单已失效（CSRF 校验失败），请重新输入后登录")
    target = _next(form.get("next"))
    token = str(form.get("token") or "").strip()
    if token:  # a kiosk on the command-centre screen signs in with an API token
        try:
            scope = await authenticate(console.db, f"Bearer {token}", console.key)
        except AuthError as exc:
            return _form(request, 401, error=f"令牌无效：{exc}", next=target)
        _begin(request, token=token)
        log.info("console: signed in with a token for %s", scope.principal.name)
        return RedirectResponse(target, status_code=303)
    login_name = str(form.get("login") or "").strip()
    password = str(form.get("password") or "")
    if not login_name or not password:
        return _form(request, 422, error="请输入登录名和密码", login=login_name, next=target)
    if len(login_name) > 64 or len(password) > PASSWORD_MAX:
        return _form(request, 422, error="登录名或密码过长", next=target)
    address = _address(request)
    if lockout.locked(console.db, console.policy, login_name, address):
        minutes = console.policy.window_seconds // 60
        log.warning("console: sign-in of %r from %s refused: locked out", login_name, address)
        return _form(
            request,
            429,
            error=f"登录失败次数过多，账号或地址已被暂时锁定，请 {minutes} 分钟后再试",
            login=login_name,
            next=target,
        )
    signed = await sign_in(console.db, login_name, password)
    if signed is None:
        lockout.failed(console.db, console.policy, login_name, address)
        log.warning("console: failed sign-in of %r from %s", login_name, address)
        return _form(request, 401, error="登录名或密码不正确", login=login_name, next=target)
    _begin(request, account=str(signed.account_id), fp=signed.fingerprint)
    log.info("console: %s signed in from %s", login_name, address)
    return RedirectResponse(target, status_code=303)


@page()
async def logout(request: Request, scope: Scope) -> Response:
    request.session.clear()
    return RedirectResponse("/console/login", status_code=303)


@page()
async def home(request: Request, scope: Scope) -> Response:
    return RedirectResponse(HOME, status_code=303)


ROUTES = [
    Route("/", home, methods=["GET"]),
    Route("/login", login_page, methods=["GET"]),
    Route("/login", login, methods=["POST"]),
    Route("/logout", logout, methods=["POST"]),
]
