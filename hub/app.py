"""The Starlette app: GraphQL (HTTP and WebSocket), health, readiness and metrics."""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

import orjson
from cross_web import HTTPException
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.extensions import SchemaExtension
from strawberry.http import GraphQLHTTPResponse
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL

from graphql import GraphQLError
from hub import jobs, metrics
from hub.attachments import routes as attachment_routes
from hub.auth import AuthError, authenticate
from hub.console.app import console_app
from hub.console.graphiql import graphiql_html
from hub.db import Database
from hub.evaluation.export import routes as evaluation_routes
from hub.gql import Context, WatchedSocket
from hub.ledgers.routes import routes as ledger_routes
from hub.plugins import connector_lifespans, connector_routes, install_connectors
from hub.public.http import routes as public_routes
from hub.reports.http import routes as export_routes
from hub.responses import response_cache
from hub.runtime import Runtime
from hub.schema import build_schema
from hub.shape import lone_surrogate
from hub.sync.routes import routes as sync_routes
from hub.web import BUSY, RETRY_AFTER, Overload, SameHostOnly, overloaded

log = logging.getLogger("hub.app")


class Overloaded(SchemaExtension):
    """An operation that failed for want of a database connection answers 503 with Retry-After
    and one error (a 200 with a masked error would hide it). Listed after MaskErrors, so that it
    sees the errors before they are masked."""

    def on_operation(self) -> Iterator[None]:
        yield
        result, context = self.execution_context.result, self.execution_context.context
        response = getattr(context, "response", None)
        if result is None or not result.errors or not isinstance(response, Response):
            return  # a socket's operation has no status to set
        if any(e.original_error and overloaded(e.original_error) for e in result.errors):
            response.status_code = 503
            response.headers["Retry-After"] = RETRY_AFTER
            result.data = None
            result.errors = [GraphQLError(BUSY, extensions={"code": "UNAVAILABLE"})]


class HubGraphQL(GraphQL[Context, None]):
    graphql_transport_ws_handler_class = WatchedSocket

    def __init__(self, runtime: Runtime, key: str) -> None:
        settings = runtime.settings
        schema = build_schema(settings)
        schema.extensions = (*schema.extensions, Overloaded)
        super().__init__(
            schema,
            graphql_ide="graphiql" if settings.graphql_ide else None,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            allowed_origins=settings.allowed_origins,
        )
        self.runtime, self.db, self.settings, self.key = runtime, runtime.db, settings, key
        self.responses = response_cache(runtime.db, settings.response_cache_seconds)

    async def render_graphql_ide(self, request: Request) -> Response:
        """GraphiQL from the hub's own static files (strawberry's page loads it from a CDN)."""
        return HTMLResponse(graphiql_html())

    def decode_json(self, data: str | bytes) -> object:
        """JSON, or a 400 that says what is wrong with it (both were 500s): bytes that are not
        UTF-8, nesting deeper than the decoder recurses, an operationName no encoder can write."""
        try:
            decoded = json.loads(data)
        except UnicodeDecodeError:
            raise HTTPException(400, "请求体不是有效的 UTF-8 编码") from None
        except RecursionError:
            raise HTTPException(400, "请求体的 JSON 嵌套过深") from None
        name = decoded.get("operationName") if isinstance(decoded, dict) else None
        if isinstance(name, str) and lone_surrogate(name):
            raise HTTPException(400, "operationName 含有无效的 Unicode 字符（孤立的代理项）")
        return decoded

    def encode_json(self, data: object) -> str | bytes:
        """orjson: a 50-case page (~25 kB) encoded in C, several times faster than the standard
        library; text stays UTF-8 as it is (the content type says charset=utf-8) instead of
        \\u escapes. What orjson refuses (a lone surrogate echoed in a message) goes strawberry's
        way."""
        try:
            # A str, not bytes: the same encoder frames the WebSocket's messages, which
            # graphql-transport-ws sends as text frames (bytes would go out as binary frames,
            # which clients such as graphql-ws drop).
            return orjson.dumps(data).decode()
        except TypeError:  # orjson.JSONEncodeError
            return super().encode_json(data)

    async def get_sub_response(self, request: Request | WebSocket) -> Response:
        sub_response = await super().get_sub_response(request)
        sub_response.media_type = response_media_type(request.headers.get("accept", ""))
        return sub_response

    def create_response(
        self, response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse], sub_response: Response
    ) -> Response:
        """GraphQL over HTTP: a request error (parse, validation, variables: nothing ran) has no
        `data` entry, and answers 400 to a client that accepts application/graphql-response+json;
        application/json clients keep 200, as that media type asks."""
        media_type = sub_response.media_type or "application/json"
        if isinstance(response_data, dict) and is_request_error(response_data):
            response_data = response_data.copy()
            response_data.pop("data", None)
            if media_type == GRAPHQL_RESPONSE and not sub_response.status_code:
                sub_response.status_code = 400
        response = super().create_response(response_data, sub_response)
        response.headers["content-type"] = f"{media_type}; charset=utf-8"
        return response

    async def get_context(self, request: Request | WebSocket, response: Any) -> Context:
        # HTTP requests were authenticated by GraphQLGate; WebSockets at connection_init.
        scope = request.scope.get("sanwang.scope")
        return Context(self.runtime, scope, self.key, request, response)  # type: ignore[arg-type]

    async def on_ws_connect(self, context: Context) -> Any:
        params = context.connection_params or {}
        authorization = params.get("Authorization") or params.get("authorization")
        try:
            context.scope = await authenticate(self.db, authorization, self.key)
        except AuthError as exc:
            raise ConnectionRejectionError({"reason": str(exc)}) from None
        return None


class BodyTooLarge(Exception):
    """The request body grew past the limit while it was read."""


async def read_body(receive: Receive, limit: int) -> bytes:
    """The whole body, read chunk by chunk and abandoned as soon as it passes `limit` bytes
    (Content-Length can be absent, chunked, or wrong)."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def replay(body: bytes, receive: Receive) -> Receive:
    """A receive channel that hands the already read body over once, then waits on the real
    one (for the client's disconnect)."""
    sent = False

    async def again() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return again


def too_large(limit: int) -> JSONResponse:
    return JSONResponse(
        {
            "errors": [
                {
                    "message": f"请求体超过 {limit} 字节",
                    "extensions": {"code": "PAYLOAD_TOO_LARGE", "limit": limit},
                }
            ]
        },
        status_code=413,
    )


def _declared_length(request: Request) -> int | None:
    try:
        return int(request.headers["content-length"])
    except (KeyError, ValueError):
        return None


GRAPHQL_RESPONSE = "application/graphql-response+json"


def response_media_type(accept: str) -> str:
    """application/graphql-response+json when the client accepts it at least as much as
    application/json; otherwise (no Accept, */*, legacy clients) application/json."""
    weights: dict[str, float] = {}
    for item in accept.split(","):
        kind, *params = (part.strip() for part in item.split(";"))
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        weights[kind.lower()] = quality
    wanted = weights.get(GRAPHQL_RESPONSE, 0.0)
    if wanted > 0 and wanted >= weights.get("application/json", 0.0):
        return GRAPHQL_RESPONSE
    return "application/json"


def is_request_error(payload: Mapping[str, Any]) -> bool:
    """Errors raised before execution carry no path; a field error always has one."""
    errors = payload.get("errors") or []
    return payload.get("data") is None and bool(errors) and not any("path" in e for e in errors)


class GraphQLGate:
    """In front of GraphQL over HTTP: the body size cap, then the bearer token (no valid token,
    401 and no data). A browser's plain GET (no query) gets GraphiQL, which asks for a token
    itself."""

    def __init__(self, app: HubGraphQL) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        if request.method == "GET" and "query" not in request.query_params:
            await self.app(scope, receive, send)
            return
        body = None
        if request.method == "POST":
            limit = self.app.settings.graphql_max_body_bytes
            declared = _declared_length(request)
            try:
                if declared is not None and declared > limit:
                    raise BodyTooLarge
                body = await read_body(receive, limit)
                receive = replay(body, receive)
            except BodyTooLarge:
                await too_large(limit)(scope, receive, send)
                return
            except ClientDisconnect:
                return  # the client left mid-body: nobody to answer
        try:
            scope["sanwang.scope"] = await authenticate(
                self.app.db, request.headers.get("authorization"), self.app.key
            )
        except AuthError as exc:
            response = JSONResponse(
                {"errors": [{"message": str(exc), "extensions": {"code": "UNAUTHENTICATED"}}]},
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
            await response(scope, receive, send)
            return
        if self.app.responses is not None and body is not None:  # the queue's and board's reads
            await self.app.responses.serve(scope, body, receive, send, self.app)
            return
        await self.app(scope, receive, send)


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> JSONResponse:
    db: Database = request.app.state.db
    try:
        async with db.engine.connect() as conn:
            await conn.execute(text("select 1"))
    except Exception as exc:  # any failure means not ready; say which
        log.warning("readiness: database unavailable: %s", exc)
        return JSONResponse(
            {"status": "unavailable", "reason": f"database: {type(exc).__name__}"}, 503
        )
    problem = await jobs.broker_problem(request.app.state.settings)
    if problem:
        log.warning("readiness: %s", problem)
        return JSONResponse({"status": "unavailable", "reason": problem}, 503)
    return JSONResponse({"status": "ok"})


async def metrics_endpoint(request: Request) -> Response:
    body, content_type = metrics.render()
    return Response(body, media_type=content_type)


class Timing:
    """Counts and times every HTTP request by route (for /metrics)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            metrics.observe_request(
                scope["path"], scope["method"], status, time.perf_counter() - started
            )


def create_app(runtime: Runtime) -> Starlette:
    """The app of this runtime (built once by the process's entry point)."""
    settings, db = runtime.settings, runtime.db
    install_connectors(runtime)
    graphql = HubGraphQL(runtime, settings.signing_key())
    state = {"db": db, "settings": settings, "runtime": runtime, "key": graphql.key}

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # With the embedded broker the worker and the scheduler run in this process.
        embedded = await jobs.start_embedded(runtime)
        try:
            async with connector_lifespans(state):
                yield
        finally:
            await runtime.events.close()
            await jobs.stop(embedded)
            if graphql.responses is not None:
                await graphql.responses.close()
            await db.dispose()

    app = Starlette(
        routes=[
            Route("/graphql", GraphQLGate(graphql), methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics_endpoint),
            *sync_routes(runtime, graphql.key),
            *ledger_routes(runtime, graphql.key),
            *evaluation_routes(runtime, graphql.key),
            *attachment_routes.routes(runtime, graphql.key),
            *public_routes(state),
            Mount("/console", app=console_app(runtime, graphql.key)),
            *export_routes(),
            *connector_routes(state),
        ],
        lifespan=lifespan,
    )
    app.add_middleware(Overload)
    app.add_middleware(SameHostOnly)
    app.add_middleware(Timing)
    # Browsers on the listed origins may call /graphql over HTTP as they may open its WebSocket
    # (strawberry checks the WebSocket's Origin itself); preflights are answered here.
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.allowed_origins,
        allow_methods=["GET", "POST", "OPTIONS"],
        allow_headers=["Authorization", "Content-Type"],
        max_age=600,
    )
    app.state.db = db
    app.state.settings = settings
    app.state.runtime = runtime
    app.state.responses = graphql.responses  # the response cache, or None (tests reach it here)
    app.state.connectors = state  # what connectors keep between requests (tests reach it here)
    return app
