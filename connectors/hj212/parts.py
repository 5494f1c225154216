"""Split messages (PNUM/PNO) kept in the database until they are whole.

Each part is written (``hj212_pending_parts``) before the device gets its 9014, so a part the
device was told is safe survives a restart, and the last part completes the message whichever
connection (or HTTP body) brings it. The caller checks the device's MN and PW first: a part
from nobody is never kept. Parts older than ``SANWANG_HJ212_PART_TTL_SECONDS`` are deleted
whenever a part of the same town is kept, and never take part in a message.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from connectors.hj212.codec import Packet, parse_data
from connectors.hj212.model import PendingPart
from hub.db import Database

MessageKey = tuple[str, str, int]  # MN, CN, PNUM


def key_of(packet: Packet) -> MessageKey:
    assert packet.mn is not None and packet.pnum is not None
    return (packet.mn, packet.cn, packet.pnum)


def size_of(packet: Packet) -> int:
    return len((packet.data or "").encode())


class PartStore:
    def __init__(self, db: Database, ttl_seconds: float) -> None:
        self.db = db
        self.ttl = timedelta(seconds=ttl_seconds)

    async def keep(self, tenant_id: uuid.UUID, packet: Packet, now: datetime) -> list[Packet]:
        """Write one part (replacing an earlier copy of it); the whole message, parts in PNO
        order, when every part is now kept, else ``[]``."""
        mn, cn, pnum = key_of(packet)
        async with self.db.session([tenant_id], write=True) as session:
            await session.execute(
                delete(PendingPart).where(PendingPart.received_at < now - self.ttl)
            )
            await _upsert(session, tenant_id, packet, now)
            rows = list(
                await session.scalars(
                    select(PendingPart)
                    .where(PendingPart.mn == mn, PendingPart.cn == cn, PendingPart.pnum == pnum)
                    .order_by(PendingPart.pno)
                )
            )
            await session.commit()
        if [row.pno for row in rows] != list(range(1, pnum + 1)):
            return []
        return [_packet_of(row) for row in rows]

    async def forget(self, tenant_id: uuid.UUID, key: MessageKey) -> None:
        """The message was handed on (stored or refused): its parts go."""
        mn, cn, pnum = key
        async with self.db.session([tenant_id], write=True) as session:
            await session.execute(
                delete(PendingPart).where(
                    PendingPart.mn == mn, PendingPart.cn == cn, PendingPart.pnum == pnum
                )
            )
            await session.commit()


async def _upsert(
    session: AsyncSession, tenant_id: uuid.UUID, packet: Packet, now: datetime
) -> None:
    from sqlalchemy.dialects import postgresql, sqlite

    dialect_insert = sqlite.insert if session.info["db"].is_sqlite else postgresql.insert
    mn, cn, pnum = key_of(packet)
    row = {
        "tenant_id": tenant_id, "mn": mn, "cn": cn, "pnum": pnum, "pno": packet.pno,
        "qn": (packet.qn or "")[:32] or None, "data": packet.data or "",
        "size": size_of(packet), "received_at": now,
    }  # fmt: skip
    statement = dialect_insert(PendingPart).values(row)
    replaced = {k: statement.excluded[k] for k in ("qn", "data", "size", "received_at")}
    await session.execute(
        statement.on_conflict_do_update(index_elements=["mn", "cn", "pnum", "pno"], set_=replaced)
    )


def _packet_of(row: PendingPart) -> Packet:
    """A kept part read back: its data segment parsed again (it parsed when it arrived)."""
    return parse_data(row.data)
