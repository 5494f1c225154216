"""GraphQL, ADMIN only: the outbox's messages, its dead letters, and retrying one."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from hub.auth import Scope
from hub.errors import not_found
from hub.gql import Context, UserError
from hub.outbox import service
from hub.outbox.model import OutboxMessage as Row
from hub.outbox.model import SendState as SendStateEnum
from hub.pagination import page_size

Info = strawberry.Info[Context, None]
# strawberry.enum registers on the enum class itself; mypy accepts the plain alias as a type
strawberry.enum(
    SendStateEnum, name="SendState", description="Where an outbox message is on its way out."
)
SendState = SendStateEnum


@strawberry.type(description="Something that must leave the hub: a push, a reply, a notification.")
class OutboxMessage:
    id: strawberry.ID
    topic: str
    ordering_key: str
    state: SendState
    attempts: int
    last_error: str | None
    created_at: datetime
    next_attempt_at: datetime
    delivered_at: datetime | None


def outbox_node(row: Row) -> OutboxMessage:
    return OutboxMessage(
        id=strawberry.ID(str(row.id)),
        topic=row.topic,
        ordering_key=row.ordering_key,
        state=SendStateEnum(row.state),
        attempts=row.attempts,
        last_error=row.last_error,
        created_at=row.created_at,
        next_attempt_at=row.next_attempt_at,
        delivered_at=row.delivered_at,
    )


@strawberry.type
class OutboxMessageResult:
    outbox_message: OutboxMessage  # not "message": UserError.message is a String


RetryOutboxResult = Annotated[
    OutboxMessageResult | UserError, strawberry.union("RetryOutboxMessageResult")
]


async def _list(
    session: AsyncSession, scope: Scope, state: SendStateEnum | None, first: int | None
) -> list[OutboxMessage]:
    rows = await service.list_messages(session, scope, state, page_size(first))
    return [outbox_node(r) for r in rows]


async def _retry(session: AsyncSession, scope: Scope, message_id: str) -> OutboxMessage:
    try:
        parsed = uuid.UUID(message_id)
    except ValueError:
        raise not_found("外发消息", "id") from None
    return outbox_node(await service.retry_message(session, scope, parsed))


@strawberry.type
class Query:
    @strawberry.field(description="ADMIN: outbox messages, newest first; first is capped at 200.")
    async def outbox_messages(
        self, info: Info, state: SendState | None = None, first: int | None = 50
    ) -> list[OutboxMessage]:
        return await info.context.read(_list, state, first)

    @strawberry.field(description="ADMIN: messages given up on after their last attempt.")
    async def dead_letters(self, info: Info, first: int | None = 50) -> list[OutboxMessage]:
        return await info.context.read(_list, SendStateEnum.DEAD, first)


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="ADMIN: send a dead letter again, with a fresh set of attempts "
        "(NOT_FOUND if there is no such message, CONFLICT if it is not DEAD)."
    )
    async def retry_outbox_message(self, info: Info, id: strawberry.ID) -> RetryOutboxResult:
        done = await info.context.write(_retry, str(id))
        return done if isinstance(done, UserError) else OutboxMessageResult(outbox_message=done)
