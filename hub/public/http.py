"""The public routes: ``GET /lookup`` (a Chinese page with a form, server-rendered, no script)
and ``GET /public/cases/{number}?code=QUERYCODE`` (JSON). Anyone may ask; a wrong number and a
wrong code answer alike (404, the same body); wrong codes are rate-limited per client address
(SANWANG_LOOKUP_WRONG_CODES in SANWANG_LOOKUP_WINDOW_SECONDS, then 429 with Retry-After for
every lookup from that address); every lookup is counted in /metrics.

The page is a GET form: nothing changes on the server, so it needs no CSRF token; the answer
is marked no-store and no-referrer so the code stays out of caches and other sites' logs.
"""

from __future__ import annotations

import math
import time
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from limits import RateLimitItemPerSecond
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from hub import metrics
from hub.config import Settings
from hub.db import Database
from hub.public import codes, service
from hub.public.view import PublicCase

HERE = Path(__file__).parent
NOT_FOUND = "案件编号或查询码不正确，请核对后再试"
PRIVATE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
_TEMPLATES = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


class WrongCodes:
    """Wrong lookups per client address in a moving window (limits, in this process)."""

    def __init__(self, settings: Settings) -> None:
        self.item = RateLimitItemPerSecond(
            settings.lookup_wrong_codes, settings.lookup_window_seconds
        )
        self.limiter = MovingWindowRateLimiter(MemoryStorage())

    def retry_after(self, address: str) -> int | None:
        """Seconds until this address may look up again, or None if it may now."""
        if self.limiter.test(self.item, "lookup", address):
            return None
        stats = self.limiter.get_window_stats(self.item, "lookup", address)
        return max(1, math.ceil(stats.reset_time - time.time()))

    def wrong(self, address: str) -> None:
        self.limiter.hit(self.item, "lookup", address)


# One counter per database, so two hubs in one process (tests) do not share counts.
_WRONG: weakref.WeakKeyDictionary[Database, WrongCodes] = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class Outcome:
    view: PublicCase | None = None
    retry_after: int | None = None  # set when refused by the rate limit


class Lookups:
    """The one way every public route looks a case up: limit, look up, count."""

    def __init__(self, db: Database, settings: Settings, key: str) -> None:
        self.db, self.key = db, key
        wrong = _WRONG.get(db)
        if wrong is None:
            wrong = _WRONG[db] = WrongCodes(settings)
        self.wrong = wrong

    async def __call__(self, via: str, address: str, number: str, code: str) -> Outcome:
        waited = self.wrong.retry_after(address)
        if waited is not None:
            metrics.PUBLIC_LOOKUPS.labels(via, "limited").inc()
            return Outcome(retry_after=waited)
        view = await service.lookup(self.db, number, code, self.key)
        if view is None:
            self.wrong.wrong(address)
        metrics.PUBLIC_LOOKUPS.labels(via, "ok" if view else "wrong").inc()
        return Outcome(view)


def client_address(request: Request) -> str:
    """The peer's address (uvicorn puts a trusted proxy's X-Forwarded-For here, see
    --forwarded-allow-ips); requests without one share a bucket."""
    return request.client.host if request.client else "unknown"


def routes(state: dict[str, Any]) -> list[BaseRoute]:
    db, settings, key = state["db"], state["settings"], state["key"]
    lookups = Lookups(db, settings, key)
    tz = state["runtime"].tz

    async def public_case(request: Request) -> Response:
        number = request.path_params["number"]
        code = request.query_params.get("code", "")
        outcome = await lookups("json", client_address(request), number, code)
        if outcome.retry_after is not None:
            return _limited_json(outcome.retry_after)
        if outcome.view is None:
            body = {"errors": [{"field": "code", "message": NOT_FOUND, "code": "NOT_FOUND"}]}
            return JSONResponse(body, 404, headers=PRIVATE)
        return JSONResponse(outcome.view.as_json(tz), headers=PRIVATE)

    async def lookup_page(request: Request) -> Response:
        number = request.query_params.get("number", "").strip()[:40]
        code = request.query_params.get("code", "")
        context: dict[str, Any] = {"number": number, "alphabet_length": codes.LENGTH}
        status = 200
        if number or code:
            outcome = await lookups("page", client_address(request), number, code)
            if outcome.retry_after is not None:
                status = 429
                context["error"] = _limited_words(outcome.retry_after)
            elif outcome.view is None:
                status = 404
                context["error"] = NOT_FOUND
            else:
                context["case"] = outcome.view.as_json(tz)
        html = _TEMPLATES.get_template("lookup.html").render(**context)
        headers = dict(PRIVATE)
        if status == 429:
            headers["Retry-After"] = str(outcome.retry_after)
        return HTMLResponse(html, status, headers=headers)

    return [
        Route("/lookup", lookup_page, methods=["GET"]),
        Route("/public/cases/{number}", public_case, methods=["GET"]),
        Mount("/public/static", StaticFiles(directory=HERE / "static"), name="public-static"),
    ]


def _limited_words(seconds: int) -> str:
    return f"查询码错误次数过多，请 {max(1, math.ceil(seconds / 60))} 分钟后再试"


def _limited_json(seconds: int) -> JSONResponse:
    body = {
        "errors": [{"field": "code", "message": _limited_words(seconds), "code": "RATE_LIMITED"}]
    }
    return JSONResponse(body, 429, headers={**PRIVATE, "Retry-After": str(seconds)})
