"""Sources: the enterprises and facilities cases are about (污染源)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hub.db import Base, TenantOwned, new_id, utcnow


class Source(TenantOwned, Base):
    __tablename__ = "sources"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    industry: Mapped[str] = mapped_column(String(64))
    address: Mapped[str | None] = mapped_column(String(500))
    latitude: Mapped[float | None]
    longitude: Mapped[float | None]
    grid_cell_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("grid_cells.id"))
    # 统一社会信用代码: unique in the whole country, so across towns (saveEnterprise's key).
    credit_code: Mapped[str | None] = mapped_column(String(18), unique=True)
    # A closed enterprise is kept (its cases name it), marked inactive.
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime | None]


# The cached (id, town, name) of every enterprise that callers' words are matched against
# (connectors.hotline); dropped when an enterprise is saved.
NAMES_CACHE_KEY = "source_names"
