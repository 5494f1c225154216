"""What the platform connector keeps: every platform update it has seen (so a repeat is
ignored and a stale one is on record) and where the pull stands (the cursor and its failures).

Neither table is tenant-owned: an update is taken before it is routed to a town, and only the
connector's own jobs (system scope) read them; nothing here is served to town users.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hub.db import Base, utcnow


class PlatformUpdate(Base):
    """One update from the platform, by its id: taken once, whatever became of it."""

    __tablename__ = "platform_updates"

    update_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    platform_case_id: Mapped[str] = mapped_column(String(128), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # protocol.UpdateKind
    at: Mapped[datetime]  # when the platform made it
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    case_id: Mapped[uuid.UUID | None]
    outcome: Mapped[str] = mapped_column(String(16))  # protocol.Outcome
    reason: Mapped[str] = mapped_column(Text, default="")
    payload: Mapped[dict[str, Any]]


class PlatformCursor(Base):
    """Where the pull of one platform stands; moved only after the items before it committed."""

    __tablename__ = "platform_cursors"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    cursor: Mapped[str | None] = mapped_column(String(500))
    failures: Mapped[int] = mapped_column(default=0)  # consecutive failed pulls
    next_attempt_at: Mapped[datetime | None]  # backing off (or paused) until then
    last_error: Mapped[str | None] = mapped_column(Text)
    taken: Mapped[int] = mapped_column(default=0)  # items taken in all
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
