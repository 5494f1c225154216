"""Outfall and smokestack cameras (排污口视频), their events, the alarm episodes their events
open, and events from cameras the hub does not know (quarantine)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hub.db import Base, TenantOwned, new_id, utcnow


class Camera(TenantOwned, Base):
    """One camera, keyed by the id its recorder (NVR) or video platform gives it."""

    __tablename__ = "cameras"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    camera_id: Mapped[str] = mapped_column(String(64), unique=True)  # as the recorder names it
    name: Mapped[str] = mapped_column(String(200))
    source_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("sources.id"))
    outlet: Mapped[str | None] = mapped_column(String(200))  # the outlet or stack it watches
    latitude: Mapped[float | None]
    longitude: Mapped[float | None]
    live_view_url: Mapped[str | None] = mapped_column(String(1000))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime | None]  # any event or heartbeat, by the hub's clock
    offline_since: Mapped[datetime | None]  # marked offline by the check; None: online
    last_event_at: Mapped[datetime | None]  # the newest event's own time (not heartbeats)
    # {kind, at, caseNumber, snapshotId} of the newest event, kept so the list needs no join
    last_event: Mapped[dict[str, Any] | None]


class CameraEvent(TenantOwned, Base):
    """One event a recorder pushed, kept whether or not it opened a case."""

    __tablename__ = "camera_events"
    __table_args__ = (Index("ix_camera_events_camera_at", "camera_id", "at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    event_id: Mapped[str] = mapped_column(String(100), unique=True)  # the idempotency key
    camera_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cameras.id"))
    kind: Mapped[str] = mapped_column(String(20))
    at: Mapped[datetime]
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    text: Mapped[str | None] = mapped_column(Text)
    confidence: Mapped[float | None]
    snapshot_id: Mapped[str | None] = mapped_column(String(64))
    snapshot_sha256: Mapped[str | None] = mapped_column(String(64))
    digest: Mapped[str] = mapped_column(String(64))  # of the event's content: 200 or 409
    outcome: Mapped[str] = mapped_column(String(16))  # rules.Outcome
    reason: Mapped[str | None] = mapped_column(String(200))  # why it opened no case
    case_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("cases.id"))


class CameraEpisode(TenantOwned, Base):
    """An alarm of one camera and kind (or OFFLINE), from its first event to its end; its
    case is ``case_id``. One open episode per camera and kind."""

    __tablename__ = "camera_episodes"
    __table_args__ = (Index("ix_camera_episodes_open", "camera_id", "kind", "ended_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    camera_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cameras.id"))
    kind: Mapped[str] = mapped_column(String(20))
    started_at: Mapped[datetime]
    last_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    events: Mapped[int] = mapped_column(default=1)
    case_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("cases.id"))


class QuarantinedVideoEvent(Base):
    """An event from a camera id the hub does not know, kept whole so that registering the
    camera releases it. Not tenant-owned (an unknown camera has no town); MONITOR and ADMIN
    see these."""

    __tablename__ = "quarantined_video_events"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    event_id: Mapped[str] = mapped_column(String(100), unique=True)
    camera_id: Mapped[str] = mapped_column(String(64), index=True)
    received_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    peer: Mapped[str | None] = mapped_column(String(64))
    event: Mapped[dict[str, Any]]  # the event as parsed (the snapshot by its id, not its bytes)
    digest: Mapped[str] = mapped_column(String(64))
    released_at: Mapped[datetime | None]
