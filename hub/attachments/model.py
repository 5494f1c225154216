"""An uploaded file (content-addressed by sha256) and what it is attached to."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hub.db import Base, TenantOwned, new_id, utcnow


class OwnerKind(enum.StrEnum):
    CASE = "CASE"
    PATROL = "PATROL"
    LEDGER = "LEDGER"  # a ledger item (台账)
    FINDING = "FINDING"  # a patrol's finding (its case gets the attachment too)
    CAMERA_EVENT = "CAMERA_EVENT"  # a camera's snapshot


class Attachment(TenantOwned, Base):
    """One upload. The blob lives in the storage under its sha256, once for every row that
    names it; the row is per town and uploader, so the same file sent again by the same person
    (a phone retrying) is the same attachment."""

    __tablename__ = "attachments"
    __table_args__ = (UniqueConstraint("tenant_id", "uploaded_by", "sha256"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int]
    content_type: Mapped[str] = mapped_column(String(64))
    uploaded_by: Mapped[str] = mapped_column(String(200))  # the principal's id
    uploaded_at: Mapped[datetime] = mapped_column(default=utcnow)


class AttachmentLink(TenantOwned, Base):
    """An attachment used by a case, patrol, ledger item, finding or camera event."""

    __tablename__ = "attachment_links"
    __table_args__ = (
        UniqueConstraint("attachment_id", "owner_kind", "owner_id"),
        Index("ix_attachment_links_owner", "owner_kind", "owner_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    attachment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("attachments.id"), index=True)
    owner_kind: Mapped[str] = mapped_column(String(16))
    owner_id: Mapped[uuid.UUID]
    linked_by: Mapped[str] = mapped_column(String(200))
    linked_at: Mapped[datetime] = mapped_column(default=utcnow)
