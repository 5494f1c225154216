"""The change feed: one row per case, moved to the end of the feed by every change."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index
from sqlalchemy.orm import Mapped, mapped_column

from hub.db import Base, TenantOwned


class CaseFeed(TenantOwned, Base):
    """``txid`` is the writing transaction's id (PostgreSQL's pg_current_xact_id; on SQLite,
    whose writers are serialised, the same as ``seq``). The feed is read in (txid, seq) order
    and only below the oldest transaction still running, so a transaction that commits late
    can never slip in behind a reader's cursor."""

    __tablename__ = "case_feed"
    __table_args__ = (Index("ix_case_feed_order", "txid", "seq"),)

    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id"), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    txid: Mapped[int] = mapped_column(BigInteger)
    changed_at: Mapped[datetime]
