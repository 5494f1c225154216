"""One device link: bytes in, readings stored, reply packets out.

The same for a TCP connection and for one POST /ingest/hj212 body: frame the bytes, reassemble
split messages, hand complete messages to the hub's reading writer, and answer as the standard
requires once the data is committed:

* an upload whose Flag has the A bit: 9014 with its QN, PW and MN (one per part of a split
  message, sent as each part arrives: the device waits for it before sending the next part);
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
import time
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from connectors.hj212.assembly import Assembler, Message
from connectors.hj212.codec import Packet, parse, reply_9011, required_reply
from connectors.hj212.errors import HJ212Error, Reason
from connectors.hj212.framing import Framer, FrameResult
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


@dataclass
class Link:
    writer: ReadingWriter
    tz: ZoneInfo
    transport: str  # "tcp" or "http": a label in /metrics
    peer: str | None = None
    max_length: int = 4096
    modbus_crc: Collection[str] = ()
    outcomes: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self.framer = Framer(max_length=self.max_length, modbus_crc=set(self.modbus_crc))
        self.assembler = Assembler()

    async def receive(self, data: bytes) -> bytes:
        """Feed bytes as they arrive; the replies to send back."""
        return await self._handle(self.framer.feed(data))

    async def finish(self) -> bytes:
        """The stream ended: what was left is reported as INCOMPLETE or GARBAGE."""
        return await self._handle(self.framer.flush())

    async def _handle(self, results: list[FrameResult]) -> bytes:
        now = utcnow()
        replies: list[bytes | None] = []
        messages: list[tuple[int, Message]] = []
        for result in results:
            if result.packet is None:
                replies.append(self._broken(result))
                continue
            packet = result.packet
            if packet.cn.startswith("9"):
                self._count("IGNORED")  # the device answering a command of ours
                replies.append(None)
                continue
            message = self.assembler.add(packet, time.monotonic())
            if message is None:
                replies.append(required_reply(packet))  # a part: answered as it arrives
                self._count("PART")
                continue
            messages.append((len(replies), message))
            replies.append(None)
        if messages:
            await self._store(messages, replies, now)
        return b"".join(r for r in replies if r)

    async def _store(
        self, messages: list[tuple[int, Message]], replies: list[bytes | None], now: datetime
    ) -> None:
        readable: list[tuple[int, Message]] = []
        uploads = []
        for slot, message in messages:
            try:
                uploads.append(upload_of(message, self.tz, now, self.peer))
            except HJ212Error as error:
                replies[slot] = self._unreadable(message, error)
                continue
            readable.append((slot, message))
        outcomes = await self.writer.submit_many(uploads) if uploads else []
        for (slot, message), outcome in zip(readable, outcomes, strict=True):
            last = message.parts[-1]
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

    def _unreadable(self, message: Message, error: HJ212Error) -> bytes | None:
        """A whole message whose values cannot be taken (its DataTime): refused, not stored."""
        last = message.parts[-1]
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
        self.outcomes[outcome] += 1
        HJ212_PACKETS.labels(self.transport, outcome).inc()


def _readable_header(raw: bytes) -> Packet | None:
    """The packet read without checking its CRC, to address the CRC-error answer."""
    try:
        return parse(raw, verify_crc=False)
    except HJ212Error:
        return None
