"""One device link: bytes in, readings stored, reply packets out.

The same for a TCP connection and for one POST /ingest/hj212 body: frame the bytes, reassemble
split messages, hand complete messages to the hub's reading writer, and answer as the standard
requires once the data is committed:

* an upload whose Flag has the A bit: 9014 with its QN, PW and MN (one per part of a split
  message, sent as each part arrives, once the part is kept in the database: the device waits
  for it before sending the next part; see :mod:`connectors.hj212.parts`);
* a part from an unknown MN or with a wrong PW: the same refusal as a whole packet (below),
  never kept; a part whose PNUM is over ``SANWANG_HJ212_MAX_PARTS``, or that would take the
  link's unfinished parts over ``SANWANG_HJ212_MAX_PENDING_BYTES``: 9011 QnRtn 2 (refused);
* a 1013 time-calibration notice: 9013;
* an upload refused for a wrong PW or an unknown MN, that asked for an answer: 9011 with
  QnRtn 3 (PW error) or 4 (MN error) instead of 9014, so the device keeps its data and sends
  it again (the hub keeps a copy in quarantine meanwhile);
* a packet whose CRC is wrong but whose header can be read, that asked for an answer: 9011
  with QnRtn 9 (CRC error). Other broken bytes get no answer: there is nobody to address;
* a data upload whose DataTime is no plausible time (year 0001, a day ahead, not a date), that
  asked for an answer: 9011 with QnRtn 2 (refused); nothing of it is stored.
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from connectors.hj212.assembly import Message, merge
from connectors.hj212.codec import Packet, parse, reply_9011, required_reply
from connectors.hj212.errors import HJ212Error, Reason
from connectors.hj212.framing import Framer, FrameResult
from connectors.hj212.parts import MessageKey, PartStore, key_of, size_of
from connectors.hj212.uploads import upload_of
from hub.db import utcnow
from hub.metrics import HJ212_PACKETS
from hub.monitoring.writer import Outcome, ReadingWriter

log = logging.getLogger("connectors.hj212")

QN_RTN_REFUSED = 2
QN_RTN_PW_ERROR = 3
QN_RTN_MN_ERROR = 4
QN_RTN_CRC_ERROR = 9
REFUSAL_CODES = {Outcome.BAD_PASSWORD: QN_RTN_PW_ERROR, Outcome.UNKNOWN_MN: QN_RTN_MN_ERROR}
LOGGED_BYTES = 120
PROVING = frozenset({"STORED", "PART"})  # outcomes only a registered device's packet has


@dataclass
class Link:
    writer: ReadingWriter
    tz: ZoneInfo
    transport: str  # "tcp" or "http": a label in /metrics
    peer: str | None = None
    max_length: int = 4096
    modbus_crc: Collection[str] = ()
    max_parts: int = 100  # SANWANG_HJ212_MAX_PARTS
    max_pending_bytes: int = 1_048_576
    part_ttl_seconds: float = 900.0
    outcomes: Counter[str] = field(default_factory=Counter)
    parts: PartStore | None = None
    proven: bool = False  # a registered device's packet was stored (or its part kept) here
    towns: Collection[uuid.UUID] | None = None  # a town-scoped token's: devices of others refused

    def __post_init__(self) -> None:
        self.framer = Framer(max_length=self.max_length, modbus_crc=set(self.modbus_crc))
        if self.parts is None:
            self.parts = PartStore(self.writer.db, self.part_ttl_seconds)
        self.pending: dict[MessageKey, int] = {}  # bytes of parts this link kept, per message
        self._assembled: list[tuple[uuid.UUID, MessageKey]] = []

    async def receive(self, data: bytes) -> bytes:
        """Feed bytes as they arrive; the replies to send back."""
        return await self._handle(self.framer.feed(data))

    async def finish(self) -> bytes:
        """The stream ended: what was left is reported as INCOMPLETE or GARBAGE."""
        return await self._handle(self.framer.flush())

    async def _handle(self, results: list[FrameResult]) -> bytes:
        now = utcnow()
        replies: list[bytes | None] = []
        # (reply slot, message, the packet to answer: the part that completed it, whatever
        # its PNO, for parts may come in any order)
        messages: list[tuple[int, Message, Packet]] = []
        for result in results:
            if result.packet is None:
                replies.append(self._broken(result))
                continue
            packet = result.packet
            if packet.cn.startswith("9"):
                self._count("IGNORED")  # the device answering a command of ours
                replies.append(None)
                continue
            if packet.pnum is not None and packet.pno is not None and packet.pnum > 1:
                reply, whole = await self._part(packet, now)
                if whole is None:
                    replies.append(reply)
                    continue
                message = whole
            else:
                message = _alone(packet)
            messages.append((len(replies), message, packet))
            replies.append(None)
        if messages:
            await self._store(messages, replies, now)
        await self._forget_assembled()
        return b"".join(r for r in replies if r)

    async def _part(self, packet: Packet, now: datetime) -> tuple[bytes | None, Message | None]:
        """One part of a split message: its device checked, kept, then answered. Returns the
        reply, or the message to store: the whole one when this part completes it, the part
        alone when its device is refused (then refused and quarantined like any packet)."""
        tenant_id, _ = await self.writer.check(packet.mn or "", packet.pw, self.towns)
        if tenant_id is None:
            return None, _alone(packet)
        refusal = self._over_caps(packet)
        if refusal is not None:
            self._count(refusal)
            log.warning(
                "HJ 212 %s part refused from %s: %s (MN %s, PNUM %s)",
                self.transport, self.peer, refusal, packet.mn, packet.pnum,
            )  # fmt: skip
            return (reply_9011(packet, QN_RTN_REFUSED) if packet.needs_ack else None), None
        assert self.parts is not None
        parts = await self.parts.keep(tenant_id, packet, now)
        key = key_of(packet)
        if not parts:
            self.pending[key] = self.pending.get(key, 0) + size_of(packet)
            self._count("PART")
            return required_reply(packet), None
        self.pending.pop(key, None)
        self._assembled.append((tenant_id, key))
        return None, merge(parts)

    def _over_caps(self, packet: Packet) -> str | None:
        assert packet.pnum is not None
        if packet.pnum > self.max_parts:
            return "TOO_MANY_PARTS"
        if sum(self.pending.values()) + size_of(packet) > self.max_pending_bytes:
            return "PARTS_OVER_CAP"
        return None

    async def _forget_assembled(self) -> None:
        """Parts of messages handed to the writer go (after it answered: if it failed, they
        stay, and the device sending its last part again completes the message again)."""
        assert self.parts is not None
        while self._assembled:
            tenant_id, key = self._assembled.pop()
            await self.parts.forget(tenant_id, key)

    async def _store(
        self,
        messages: list[tuple[int, Message, Packet]],
        replies: list[bytes | None],
        now: datetime,
    ) -> None:
        readable: list[tuple[int, Packet]] = []
        uploads = []
        for slot, message, last in messages:
            try:
                uploads.append(upload_of(message, self.tz, now, self.peer))
            except HJ212Error as error:
                replies[slot] = self._unreadable(last, error)
                continue
            readable.append((slot, last))
        outcomes = await self.writer.submit_many(uploads, self.towns) if uploads else []
        for (slot, last), outcome in zip(readable, outcomes, strict=True):
            self._count(outcome.value)
            if outcome is Outcome.STORED:
                replies[slot] = required_reply(last)
                continue
            log.warning(
                "HJ 212 %s refused from %s: %s (MN %s, CN %s); kept in quarantine",
                self.transport,
                self.peer,
                outcome.value,
                last.mn,
                last.cn,
            )
            if last.needs_ack:
                replies[slot] = reply_9011(last, REFUSAL_CODES[outcome])

    def _unreadable(self, last: Packet, error: HJ212Error) -> bytes | None:
        """A whole message whose values cannot be taken (its DataTime): refused, not stored."""
        self._count(error.reason.value)
        log.warning(
            "HJ 212 %s refused from %s: %s (MN %s, CN %s)",
            self.transport,
            self.peer,
            error.message,
            last.mn,
            last.cn,
        )
        return reply_9011(last, QN_RTN_REFUSED) if last.needs_ack else None

    def _broken(self, result: FrameResult) -> bytes | None:
        error = result.error
        assert error is not None
        self._count(error.reason.value)
        log.warning(
            "HJ 212 %s bad packet from %s: %s %s: %r",
            self.transport,
            self.peer,
            error.reason.value,
            error.message,
            result.raw[:LOGGED_BYTES],
        )
        if error.reason is not Reason.BAD_CRC:
            return None
        header = _readable_header(result.raw)
        if header is None or not header.needs_ack:
            return None
        return reply_9011(header, QN_RTN_CRC_ERROR)

    def _count(self, outcome: str) -> None:
        if outcome in PROVING:
            self.proven = True
        self.outcomes[outcome] += 1
        counter = _COUNTERS.get((self.transport, outcome))
        if counter is None:  # labels() takes a lock and builds a key: once per pair, not packet
            counter = _COUNTERS[(self.transport, outcome)] = HJ212_PACKETS.labels(
                self.transport, outcome
            )
        counter.inc()


_COUNTERS: dict[tuple[str, str], Any] = {}


def _alone(packet: Packet) -> Message:
    """An unsplit packet (or a refused part) as a message of its own."""
    return Message(parts=(packet,), cp=packet.cp, notes=packet.notes)


def _readable_header(raw: bytes) -> Packet | None:
    """The packet read without checking its CRC, to address the CRC-error answer."""
    try:
        return parse(raw, verify_crc=False)
    except HJ212Error:
        return None
