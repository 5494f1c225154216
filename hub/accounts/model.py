"""Console accounts: people who sign in to the web console with a login and a password."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from hub.db import Base, new_id, utcnow


class ConsoleAccount(Base):
    """One person's sign-in. Roles, towns and the bound grid member mean what they mean on an
    API token (hub.auth.Principal); only a slow salted hash of the password is kept (argon2id).
    Not a tenant's row: like principals, an account may span towns (its tenant_codes)."""

    __tablename__ = "console_accounts"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    login: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(100))  # what people read on the timeline
    password_hash: Mapped[str] = mapped_column(String(255))
    roles: Mapped[list[str]]
    tenant_codes: Mapped[list[str]]  # empty on a city-wide role: every tenant
    member_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("members.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    password_changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    disabled_at: Mapped[datetime | None]
