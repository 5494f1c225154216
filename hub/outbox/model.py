"""The transactional outbox: what must leave the hub, written with the change that causes it."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hub.db import Base, TenantOwned, new_id, utcnow


class SendState(enum.StrEnum):
    PENDING = "PENDING"  # waiting for the relay (first time, or a retry after backoff)
    ENQUEUED = "ENQUEUED"  # handed to the broker; a worker will deliver it
    DELIVERED = "DELIVERED"
    DEAD = "DEAD"  # gave up after the last attempt; visible to ADMIN, can be retried


class OutboxMessage(TenantOwned, Base):
    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_state_due", "state", "next_attempt_at"),
        Index("ix_outbox_key_order", "ordering_key", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    topic: Mapped[str] = mapped_column(String(64))  # which sender delivers it, e.g. notify
    ordering_key: Mapped[str] = mapped_column(String(64))  # delivered in order per key (a case)
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True)
    payload: Mapped[dict[str, Any]]
    state: Mapped[str] = mapped_column(String(12), default=SendState.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    enqueued_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    dead_at: Mapped[datetime | None]
