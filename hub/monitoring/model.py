"""Monitoring points (HJ 212 devices on stacks and outfalls, and air stations), what they
measure (readings), their alarm episodes, and packets held back from unknown devices."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hub.db import Base, TenantOwned, new_id, utcnow


class PointKind(enum.StrEnum):
    AIR_STATION = "AIR_STATION"
    FLUE_GAS = "FLUE_GAS"
    WASTEWATER = "WASTEWATER"
    NOISE = "NOISE"
    OTHER = "OTHER"


class Interval(enum.StrEnum):
    """The HJ 212 data kind a reading came in as (CN 2011, 2051, 2061, 2031)."""

    REALTIME = "REALTIME"
    MINUTE = "MINUTE"
    HOUR = "HOUR"
    DAY = "DAY"


class AlarmKind(enum.StrEnum):
    OVER_LIMIT = "OVER_LIMIT"  # 超标: above max (or below min, e.g. pH)
    OFFLINE = "OFFLINE"  # 离线: no data for too long


class QuarantineReason(enum.StrEnum):
    UNKNOWN_MN = "UNKNOWN_MN"
    BAD_PASSWORD = "BAD_PASSWORD"


class MonitoringPoint(TenantOwned, Base):
    __tablename__ = "monitoring_points"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    mn: Mapped[str] = mapped_column(String(32), unique=True)  # the device's MN
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    source_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("sources.id"))
    password: Mapped[str | None] = mapped_column(String(32))  # the PW the device must send
    latitude: Mapped[float | None]
    longitude: Mapped[float | None]
    limits: Mapped[list[dict[str, Any]]]  # [{pollutant, max, min, unit}]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime | None]
    # The newest value per pollutant, kept by the reading writer once per batch so that the
    # point list never has to search the readings: {code: {value, unit, flag, at, interval}}.
    latest: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Reading(TenantOwned, Base):
    """One value of one pollutant at one point, keyed by its time and data kind; a repeat of the
    same key is ignored. No foreign keys and no tenant index: at tens of thousands of rows a
    second each per-row FK check and a second index would halve the write rate, and only the
    reading writer (which resolved the point first) inserts here."""

    __tablename__ = "readings"

    point_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    pollutant: Mapped[str] = mapped_column(String(16), primary_key=True)
    interval: Mapped[str] = mapped_column(String(8), primary_key=True)
    at: Mapped[datetime] = mapped_column(primary_key=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column()
    value: Mapped[float | None]
    min: Mapped[float | None]
    max: Mapped[float | None]
    flag: Mapped[str | None] = mapped_column(String(4))


class AlarmEpisode(TenantOwned, Base):
    """An over-limit or offline episode of a point (and pollutant), from its first alarming
    value to its end; the case it became is ``case_id``."""

    __tablename__ = "alarm_episodes"
    __table_args__ = (Index("ix_alarm_episodes_open", "point_id", "ended_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    point_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("monitoring_points.id"))
    pollutant: Mapped[str | None] = mapped_column(String(16))  # None for OFFLINE
    kind: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime]
    last_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    peak: Mapped[float | None]
    limit: Mapped[float | None]
    unit: Mapped[str | None] = mapped_column(String(16))
    values: Mapped[int] = mapped_column(default=0)  # alarming values seen in the episode
    external_id: Mapped[str] = mapped_column(String(200))
    case_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("cases.id"))


class QuarantinedPacket(Base):
    """A packet from a device the hub does not know (or with the wrong PW), kept with the
    readings it carried so that registering the device releases them. Not tenant-owned: an
    unknown MN has no town yet; only MONITOR and ADMIN see these."""

    __tablename__ = "quarantined_packets"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    received_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    mn: Mapped[str] = mapped_column(String(32), index=True)
    reason: Mapped[str] = mapped_column(String(16))
    cn: Mapped[str | None] = mapped_column(String(8))
    peer: Mapped[str | None] = mapped_column(String(64))
    raw: Mapped[str] = mapped_column(Text)
    samples: Mapped[list[dict[str, Any]]]
    released_at: Mapped[datetime | None]
