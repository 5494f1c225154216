"""The working calendar: one row per tenant and day, seeded from China's official calendar and
editable, because a county's calendar can differ."""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from hub.db import Base, TenantOwned


class WorkDay(TenantOwned, Base):
    __tablename__ = "work_days"

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    day: Mapped[date] = mapped_column(primary_key=True)
    workday: Mapped[bool]
    reason: Mapped[str] = mapped_column(
        String(64)
    )  # 工作日, 周末, 国庆节, 调休上班, or an edit's reason
