"""The evaluation method as data and the published months, frozen.

``evaluation_rules`` holds ADMIN's weight and target per rule key (a key without a row scores
with its default, hub/evaluation/defaults.py). A published month is one
``evaluation_months`` row (who published it, when, and the rules as they were) and one
``evaluation_rows`` row per member (the figures, the breakdown and the score as published, the
member's name and role as they were): later changes to rules or records do not touch them.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hub.db import Base, TenantOwned, new_id, utcnow


class EvaluationRule(Base):
    """One rule's weight and target, city-wide."""

    __tablename__ = "evaluation_rules"

    key: Mapped[str] = mapped_column(String(32), primary_key=True)
    label: Mapped[str] = mapped_column(String(64))
    weight: Mapped[float]
    target: Mapped[float | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(100))


class EvaluationMonth(Base):
    """A published month (YYYY-MM): publishing twice meets this primary key."""

    __tablename__ = "evaluation_months"

    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    published_at: Mapped[datetime] = mapped_column(default=utcnow)
    published_by_id: Mapped[str] = mapped_column(String(64))
    published_by_name: Mapped[str] = mapped_column(String(100))
    # The rules the figures were scored with: [{key, label, weight, target, sense, measure}].
    rules: Mapped[list[dict[str, Any]]]


class EvaluationRow(TenantOwned, Base):
    """One member's row of a published month (the member's town owns it)."""

    __tablename__ = "evaluation_rows"
    __table_args__ = (UniqueConstraint("month", "member_id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    month: Mapped[str] = mapped_column(ForeignKey("evaluation_months.month"), index=True)
    member_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("members.id"))
    member_name: Mapped[str] = mapped_column(String(100))
    member_role: Mapped[str] = mapped_column(String(16))
    left: Mapped[bool]
    joined: Mapped[bool]
    # {rule key: value}: counts, and the on-time rate (null when nothing was due).
    figures: Mapped[dict[str, Any]]
    # [{key, label, value, points}] in the rules' order.
    breakdown: Mapped[list[dict[str, Any]]]
    score: Mapped[float]
