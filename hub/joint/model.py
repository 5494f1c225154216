"""A joint action and the cases it acted on (each in its own town)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hub.db import Base, TenantOwned, new_id, utcnow


class JointAction(TenantOwned, Base):
    """Owned by the town of its first case (the city's when the cases span towns)."""

    __tablename__ = "joint_actions"
    __table_args__ = (Index("ix_joint_actions_tenant_at", "tenant_id", "at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    at: Mapped[datetime]
    departments: Mapped[list[str]]
    note: Mapped[str] = mapped_column(Text)
    recorded_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class JointActionCase(TenantOwned, Base):
    """One case of a joint action, owned by the case's town: counted per town and period."""

    __tablename__ = "joint_action_cases"
    __table_args__ = (UniqueConstraint("action_id", "case_id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    action_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("joint_actions.id"), index=True)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id"), index=True)
    at: Mapped[datetime]
