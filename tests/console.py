"""Helpers for console tests: accounts, a signed-in browser-like client (cookies), CSRF."""

from __future__ import annotations

import re
from typing import Any

import httpx

from hub.accounts.service import create_account

PASSWORD = "correct horse battery"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


async def account(hub: Any, login: str, role: str, tenants: list[str] | None = None, **kw: Any):
    return await create_account(hub.db, login, PASSWORD, [role], tenants or [], **kw)


def client(hub: Any) -> httpx.AsyncClient:
    """A client with its own cookie jar (one person's browser)."""
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=hub.app, client=("10.0.0.7", 50000)),
        base_url="http://hub.test",
    )


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "no CSRF token in the page"
    return found.group(1)


async def sign_in(http: httpx.AsyncClient, login: str, password: str = PASSWORD) -> httpx.Response:
    page = await http.get("/console/login")
    return await http.post(
        "/console/login",
        data={"login": login, "password": password, "csrf_token": csrf_of(page.text)},
    )


async def post_form(http: httpx.AsyncClient, page_url: str, action_url: str, **data: str):
    """Open the page (for its CSRF token) and post the form."""
    page = await http.get(page_url)
    assert page.status_code == 200, page.text
    return await http.post(action_url, data={"csrf_token": csrf_of(page.text), **data})
