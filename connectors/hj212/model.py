"""What the HJ 212 connector keeps between packets: the parts of split messages (PNUM/PNO)
that were acknowledged (9014) before the whole message arrived.

A part is written here before its 9014 goes out, so a restart, or the next part arriving on
another connection, loses nothing the device was told is safe. Tenant-owned (the town of the
point whose MN and PW the part carried): row-level security applies as on readings.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hub.db import Base, TenantOwned, utcnow


class PendingPart(TenantOwned, Base):
    """One part, keyed by the message it belongs to and its number. Each part carries its own
    QN (HJ 212-2017 C.49-C.50), so the QN cannot group parts; a part sent again (its 9014 was
    lost) replaces the earlier copy."""

    __tablename__ = "hj212_pending_parts"

    mn: Mapped[str] = mapped_column(String(32), primary_key=True)
    cn: Mapped[str] = mapped_column(String(8), primary_key=True)
    pnum: Mapped[int] = mapped_column(Integer, primary_key=True)
    pno: Mapped[int] = mapped_column(Integer, primary_key=True)
    qn: Mapped[str | None] = mapped_column(String(32))
    data: Mapped[str] = mapped_column(Text)  # the data segment as received, parsed again
    size: Mapped[int] = mapped_column(Integer)  # bytes of data, for the caps
    received_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
