"""What every feature's GraphQL schema shares: the request context, UserError, errors, selections.

Resolvers stay thin: they call one service function through ``Context.read`` or
``Context.write``, each of which gives that call a session of its own (one AsyncSession is never
shared by two resolvers) scoped to the caller's tenants.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, TypeVar

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import ConnectionInitMessage
from strawberry.types.nodes import FragmentSpread, InlineFragment, SelectedField

from graphql import GraphQLError
from hub.auth import Scope, until_invalid
from hub.config import Settings
from hub.db import Database, utcnow
from hub.errors import DomainError, ErrorCode, invalid, label, out_of_range
from hub.runtime import Runtime
from hub.uow import Conflict, unit_of_work

log = logging.getLogger("hub.graphql")
T = TypeVar("T")

Service = Callable[..., Awaitable[T]]


@dataclass
class Context:
    runtime: Runtime  # the process's, built once at start
    scope: Scope
    key: str  # signs cursors
    request: Any = None
    response: Any = None
    connection_params: dict[str, Any] | None = None

    @property
    def db(self) -> Database:
        return self.runtime.db

    @property
    def settings(self) -> Settings:
        return self.runtime.settings

    @property
    def now(self) -> datetime:
        return utcnow()

    async def read(self, service: Service[T], *args: Any, **kwargs: Any) -> T:
        async with self.db.session(self.scope.tenant_ids) as session:
            try:
                return await service(session, self.scope, *args, **kwargs)
            except DomainError as exc:
                raise public_error(exc) from None

    async def write(self, service: Service[T], *args: Any, **kwargs: Any) -> T | UserError:
        """Run one use case in its own transaction: commit, or roll back and answer a UserError.
        A conflict with a concurrent change (a unique-key race, say) is retried once."""

        async def work(session: AsyncSession) -> T:
            return await service(session, self.scope, *args, **kwargs)

        try:
            return await unit_of_work(self.db, self.scope.tenant_ids, work)
        except DomainError as exc:
            return UserError.of(exc)
        except Conflict:
            return UserError(
                code=ErrorCode.CONFLICT,
                message="与同时进行的修改冲突，请重试",
                field=None,
            )


# strawberry.enum registers on the enum class itself; mypy accepts the plain alias as a type
strawberry.enum(ErrorCode, name="ErrorCode")
ErrorCodeGQL = ErrorCode


@strawberry.type(description="An expected failure: nothing was changed.")
class UserError:
    code: ErrorCodeGQL
    message: str
    field: str | None = None

    @classmethod
    def of(cls, exc: DomainError) -> UserError:
        return cls(code=exc.code, message=exc.message, field=exc.field)


def public_error(exc: DomainError) -> GraphQLError:
    extensions: dict[str, Any] = {"code": exc.code.value}
    if exc.field:
        extensions["field"] = exc.field
    return GraphQLError(exc.message, extensions=extensions)


def utc_arg(value: datetime | None, field: str) -> datetime | None:
    """A DateTime whose UTC time exists (not year 9999 at -05:00); a missing offset is refused
    later, by the use case."""
    if value is not None and value.tzinfo is not None:
        try:
            value.astimezone(UTC)
        except OverflowError:
            raise out_of_range(field) from None
    return value


def day_arg(value: date, field: str) -> date:
    """A Date whose day can be counted in local time: the calendar's first and last days are
    refused (their midnight in Asia/Shanghai, or the day after, leaves the calendar)."""
    if not date.min < value < date.max:
        raise public_error(invalid(field, f"{label(field)}超出可查询的日期范围"))
    return value


def should_mask(error: GraphQLError) -> bool:
    """Mask unexpected errors only: parse, validation and domain errors are meant for clients."""
    original = error.original_error
    return original is not None and not isinstance(original, (GraphQLError, DomainError))


# --- subscription sockets ------------------------------------------------------------------------

FORBIDDEN_CLOSE = 4403  # what strawberry closes a refused connection_init with


class WatchedSocket(BaseGraphQLTransportWSHandler[Context, None]):
    """A graphql-transport-ws connection that lives no longer than its token: closed with 4403
    at the JWT's expiry or once its API token is revoked (HTTP would answer 401 by then)."""

    watch: asyncio.Task[None] | None = None

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        await super().handle_connection_init(message)
        if self.connection_acknowledged and self.watch is None:
            self.watch = asyncio.create_task(self._close_when_invalid())

    async def _close_when_invalid(self) -> None:
        ctx = self.context
        try:
            await until_invalid(
                ctx.db, ctx.scope.principal, ctx.settings.subscription_recheck_seconds
            )
            log.info("subscription socket closed: its token expired or was revoked")
        except Exception:  # the token could not be checked: fail closed, the client reconnects
            log.exception("subscription socket closed: its token could not be re-checked")
        await self.websocket.close(code=FORBIDDEN_CLOSE, reason="Forbidden")

    async def shutdown(self) -> None:
        if self.watch is not None:
            self.watch.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.watch
        await super().shutdown()


# --- what the client selected -------------------------------------------------------------------


def _fields(selections: Iterable[Any]) -> list[SelectedField]:
    found: list[SelectedField] = []
    for item in selections:
        if isinstance(item, SelectedField):
            found.append(item)
        elif isinstance(item, (InlineFragment, FragmentSpread)):
            found.extend(_fields(item.selections))
    return found


def selected(root: Iterable[Any], *path: str) -> set[str]:
    """Names selected under a path of fields, through fragments: selected(info.selected_fields,
    "cases", "edges", "node") -> {"id", "number", ...}."""
    level = _fields(root)
    for name in path:
        level = _fields(s for f in level if f.name == name for s in f.selections)
    return {f.name for f in level}
