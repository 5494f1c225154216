"""Tenants (the city and its towns) and principals (who holds a token)."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from hub.db import Base, new_id, utcnow


class TenantKind(enum.StrEnum):
    CITY = "CITY"
    TOWN = "TOWN"


class Tenant(Base):
    __tablename__ = "tenants"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(8))
    parent_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("tenants.id"))
    # 行政区划代码: 6 digits (county), 9 (town); the city platform may name a town by it.
    division_code: Mapped[str | None] = mapped_column(String(12), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Principal(Base):
    """Who an API token stands for. Only the token's SHA-256 is kept."""

    __tablename__ = "principals"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(100))
    roles: Mapped[list[str]]
    # Tenant codes; empty on a city-wide role means every tenant.
    tenant_codes: Mapped[list[str]]
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    member_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("members.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]
