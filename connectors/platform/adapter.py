"""Talking to a platform. ``Platform`` is what the connector needs of one; ``HttpPlatform``
speaks the hub's documented protocol (docs/platform.md). Another platform's real API is one
subclass away: override the three calls (and ``statuses`` if it names statuses otherwise).

Failures are of two kinds: ``Unavailable`` (a timeout, a refused connection, a 5xx, a 408 or
429, an answer that is not what the protocol says: worth trying again) and ``Refused`` (any
other 4xx: the platform said no for good; the outbox dead-letters such a status).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import quote

import httpx

from connectors.platform.protocol import STATUSES, Page, hub_status, parse_page
from connectors.platform.settings import PlatformSettings
from hub.cases.enums import CaseStatus

RETRYABLE_4XX = frozenset({408, 425, 429})


class PlatformError(Exception):
    """The platform could not be used this time."""


class Unavailable(PlatformError):
    """Try again later."""


class Refused(PlatformError):
    """The platform refused for good (a 4xx other than 408/425/429)."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(f"the platform refused with {status}: {text[:500]}")
        self.status = status


@dataclass(frozen=True)
class StatusUpdate:
    """One status of one platform case, as it goes up."""

    platform_case_id: str
    case_number: str
    status: CaseStatus
    note: str | None
    at: str  # ISO 8601 with offset
    idempotency_key: str


@dataclass(frozen=True)
class View:
    """The platform's copy of one of its cases: the last status it took, if any."""

    platform_case_id: str
    case_number: str | None
    status: CaseStatus | None
    status_name: str | None  # as the platform says it (for a status the table lacks)


class Platform:
    """What the connector needs of a platform."""

    statuses: ClassVar[dict[CaseStatus, str]] = STATUSES

    async def assignments(self, after: str | None, limit: int) -> Page:
        raise NotImplementedError

    async def send_status(self, update: StatusUpdate) -> None:
        raise NotImplementedError

    async def view(self, platform_case_id: str) -> View | None:
        """None when the platform does not know the case."""
        raise NotImplementedError

    async def aclose(self) -> None:
        return None


class HttpPlatform(Platform):
    """The documented protocol over HTTP(S), bearer token, with the configured timeouts."""

    def __init__(self, settings: PlatformSettings, client: httpx.AsyncClient | None = None):
        if not settings.url:
            raise ValueError("SANWANG_PLATFORM_URL is not set")
        headers = {"Authorization": f"Bearer {settings.token}"} if settings.token else {}
        timeout = httpx.Timeout(
            settings.read_timeout_seconds, connect=settings.connect_timeout_seconds
        )
        self.base = settings.url.rstrip("/")
        self.client = client or httpx.AsyncClient(headers=headers, timeout=timeout)

    async def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = await self.client.request(method, self.base + path, **kwargs)
        except httpx.HTTPError as exc:  # timeouts, refused connections, broken answers
            raise Unavailable(f"{type(exc).__name__}: {exc}") from exc
        status = response.status_code
        if status >= 500 or status in RETRYABLE_4XX:
            raise Unavailable(f"the platform answered {status}")
        if 400 <= status < 500 and status != 404:
            raise Refused(status, response.text)
        return response

    @staticmethod
    def _json(response: httpx.Response) -> Any:
        try:
            return response.json()
        except ValueError:
            raise Unavailable("the platform's answer is not JSON") from None

    async def assignments(self, after: str | None, limit: int) -> Page:
        params: dict[str, Any] = {"limit": limit}
        if after:
            params["after"] = after
        response = await self._call("GET", "/assignments", params=params)
        if response.status_code == 404:
            raise Unavailable("GET /assignments answered 404")
        try:
            return parse_page(self._json(response))
        except ValueError as exc:
            raise Unavailable(f"a page not as the protocol says: {exc}") from None

    async def send_status(self, update: StatusUpdate) -> None:
        body = {
            "caseNumber": update.case_number,
            "status": self.statuses[update.status],
            "note": update.note,
            "at": update.at,
            "idempotencyKey": update.idempotency_key,
        }
        path = f"/assignments/{quote(update.platform_case_id, safe='')}/status"
        response = await self._call("POST", path, json=body)
        if response.status_code == 404:
            raise Refused(404, f"the platform does not know {update.platform_case_id}")

    async def view(self, platform_case_id: str) -> View | None:
        path = f"/assignments/{quote(platform_case_id, safe='')}"
        response = await self._call("GET", path)
        if response.status_code == 404:
            return None
        body = self._json(response)
        if not isinstance(body, dict):
            raise Unavailable("a case view must be a JSON object")
        name = body.get("status")
        name = name if isinstance(name, str) else None
        number = body.get("caseNumber")
        return View(
            platform_case_id,
            number if isinstance(number, str) else None,
            hub_status(name, self.statuses) if name else None,
            name,
        )

    async def aclose(self) -> None:
        await self.client.aclose()


def make_platform(settings: PlatformSettings) -> Platform:
    """The adapter SANWANG_PLATFORM_ADAPTER names ("module:Class"), HttpPlatform by default."""
    module_name, _, class_name = settings.adapter.partition(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    return cls(settings)
