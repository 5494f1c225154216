"""A loopback webhook sink: a real HTTP server on 127.0.0.1 that receives notifications.

It applies each Idempotency-Key once (``effects``), records every request (``received``), and
can be told to misbehave for the next requests: answer an error status, or hang (the request
arrived and took effect, but the answer never comes back, as when a worker dies mid-call).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.live import live_server


@dataclass
class Received:
    key: str
    body: dict[str, Any]
    answer: str  # "ok", "duplicate", "500", "hang"


@dataclass
class Sink:
    received: list[Received] = field(default_factory=list)
    effects: dict[str, dict[str, Any]] = field(default_factory=dict)  # key -> body, once
    plan: deque[tuple[str, float]] = field(default_factory=deque)
    url: str = ""
    released: asyncio.Event = field(default_factory=asyncio.Event)  # ends every hang

    def fail(self, times: int, status: int = 500) -> None:
        """The next ``times`` requests get ``status`` and take no effect."""
        self.plan.extend([("status", status)] * times)

    def hang(self, times: int, seconds: float = 60.0) -> None:
        """The next ``times`` requests take effect, then get no answer for ``seconds``."""
        self.plan.extend([("hang", seconds)] * times)

    def requests_for(self, key: str) -> list[Received]:
        return [r for r in self.received if r.key == key]

    async def wait_for(self, predicate: Callable[[Sink], bool], timeout: float = 20.0) -> None:
        async with asyncio.timeout(timeout):
            while not predicate(self):
                await asyncio.sleep(0.02)

    def _apply(self, key: str, body: dict[str, Any]) -> bool:
        if key in self.effects:
            return False
        self.effects[key] = body
        return True

    async def handle(self, request: Request) -> JSONResponse:
        key = request.headers.get("idempotency-key", "")
        body = json.loads(await request.body())
        action, arg = self.plan.popleft() if self.plan else ("ok", 0.0)
        if action == "status":
            self.received.append(Received(key, body, str(int(arg))))
            return JSONResponse({"error": "planned failure"}, status_code=int(arg))
        applied = self._apply(key, body)
        if action == "hang":
            self.received.append(Received(key, body, "hang"))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.released.wait(), arg)
        else:
            self.received.append(Received(key, body, "ok" if applied else "duplicate"))
        return JSONResponse({"ok": True, "duplicate": not applied})


@contextlib.asynccontextmanager
async def webhook_sink() -> AsyncIterator[Sink]:
    """A sink listening on a free loopback port; ``sink.url`` is where to POST."""
    sink = Sink()
    app = Starlette(routes=[Route("/hook", sink.handle, methods=["POST"])])
    async with live_server(app) as base:
        sink.url = f"{base}/hook"
        try:
            yield sink
        finally:
            sink.released.set()  # the server waits for open requests before it stops
