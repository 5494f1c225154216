"""A real server for tests that need a socket: uvicorn on the test's event loop, and a small
graphql-transport-ws client (the protocol strawberry speaks on /graphql)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import uvicorn
from websockets.asyncio.client import ClientConnection, connect

from hub.events import Broadcaster

PROTOCOL = "graphql-transport-ws"
TIMEOUT = 5.0


@contextlib.asynccontextmanager
async def live_server(app: Any) -> AsyncIterator[str]:
    """Serve ``app`` on a free port of 127.0.0.1 and yield its base URL."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="off", log_level="warning")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(TIMEOUT):
            while not server.started:
                if task.done():
                    task.result()  # raises why it did not start
                    raise RuntimeError("uvicorn stopped before it started")
                await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


class GraphQLSocket:
    """One acknowledged graphql-transport-ws connection."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self._ids = 0

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(message))

    async def receive(self, timeout: float = TIMEOUT) -> dict[str, Any]:
        """The next message other than a ping (answered with a pong)."""
        while True:
            message = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
            if message.get("type") != "ping":
                return message
            await self.send({"type": "pong"})

    async def subscribe(self, query: str, variables: dict[str, Any] | None = None) -> str:
        """Start an operation; returns once the server holds a live subscriber for it."""
        self._ids += 1
        op_id = str(self._ids)
        before = subscriber_count()
        payload = {"query": query, "variables": variables or {}}
        await self.send({"id": op_id, "type": "subscribe", "payload": payload})
        async with asyncio.timeout(TIMEOUT):
            while subscriber_count() <= before:
                await asyncio.sleep(0.01)
        return op_id

    async def next(self, timeout: float = TIMEOUT) -> dict[str, Any]:
        """The payload of the next "next" message (an "error" one fails the test)."""
        message = await self.receive(timeout)
        assert message["type"] == "next", message
        return message["payload"]

    async def silent(self, timeout: float = 0.5) -> None:
        """Assert that nothing arrives for ``timeout`` seconds."""
        with contextlib.suppress(TimeoutError):
            message = await self.receive(timeout)
            raise AssertionError(f"expected no message, got {message}")


def subscriber_count() -> int:
    """Live subscribers of the process's broadcasters (the server shares the test's process; on
    PostgreSQL a subscriber counts once its process LISTENs)."""
    return Broadcaster.everywhere


def ws_url(base_url: str) -> str:
    return base_url.replace("http://", "ws://", 1) + "/graphql"


@contextlib.asynccontextmanager
async def graphql_socket(base_url: str, token: str | None) -> AsyncIterator[GraphQLSocket]:
    """Connect, send connection_init with the bearer token and expect connection_ack.
    A rejected connection raises websockets' ConnectionClosed (close code 4403)."""
    async with connect(ws_url(base_url), subprotocols=[PROTOCOL], open_timeout=TIMEOUT) as ws:
        socket = GraphQLSocket(ws)
        payload = {"Authorization": f"Bearer {token}"} if token is not None else {}
        await socket.send({"type": "connection_init", "payload": payload})
        ack = await socket.receive()
        assert ack["type"] == "connection_ack", ack
        yield socket
