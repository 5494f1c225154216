"""A streaming framer: bytes as they arrive from a socket in, parsed packets (or errors) out.

Handles several packets in one read, one packet split over many reads, and garbage between
packets. On anything it cannot use it re-synchronises on the next ``##`` instead of dropping
the buffer, so a good packet after a bad one is not lost. The buffer never holds more than one
maximum-length packet plus one read.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from .codec import MAX_DATA_LENGTH_FIELD, Packet, parse
from .errors import HJ212Error, Reason

_START = b"##"
_CRLF = b"\r\n"
_WHITESPACE = b" \t\r\n\x00"


@dataclass(frozen=True, slots=True)
class FrameResult:
    """One thing the framer found: a packet, or an error with the bytes it concerns."""

    raw: bytes
    packet: Packet | None = None
    error: HJ212Error | None = None

    @property
    def ok(self) -> bool:
        return self.packet is not None


class Framer:
    """``feed(bytes) -> list[FrameResult]``; one instance per connection.

    ``max_length``: largest data segment accepted (TOO_LONG above; default 4096, the standard
    says 1024 but real devices exceed it). ``modbus_crc``/``verify_crc`` are passed to
    :func:`~connectors.hj212.codec.parse`. Garbage (non-whitespace bytes outside packets) is
    reported as a GARBAGE error result, at most ``max_length`` bytes at a time.
    """

    def __init__(
        self,
        *,
        max_length: int = 4096,
        verify_crc: bool = True,
        modbus_crc: bool | Collection[str] = False,
    ) -> None:
        if not 0 < max_length <= MAX_DATA_LENGTH_FIELD:
            raise ValueError("max_length must be in 1..9999")
        self.max_length = max_length
        self.verify_crc = verify_crc
        self.modbus_crc = modbus_crc
        self._buf = bytearray()

    @property
    def buffered(self) -> int:
        """Bytes held waiting for the rest of a packet."""
        return len(self._buf)

    def feed(self, data: bytes | bytearray | memoryview) -> list[FrameResult]:
        self._buf += data
        out: list[FrameResult] = []
        buf = self._buf
        while buf:
            start = buf.find(_START)
            if start < 0:
                # keep a trailing '#': it may be the first half of the next "##"
                keep = 1 if buf.endswith(b"#") else 0
                self._garbage(out, bytes(buf[: len(buf) - keep]))
                del buf[: len(buf) - keep]
                break
            if start:
                self._garbage(out, bytes(buf[:start]))
                del buf[:start]
            if len(buf) < 6:
                break
            digits = bytes(buf[2:6])
            if not digits.isdigit():
                self._skip(out, Reason.BAD_HEADER, f"length field {digits!r} is not 4 digits")
                continue
            length = int(digits)
            if length > self.max_length:
                self._skip(out, Reason.TOO_LONG, f"declared length {length} > {self.max_length}")
                continue
            end = 6 + length + 6
            # A CR LF before the expected tail means the declared length is wrong (the data
            # segment cannot contain CR LF): decide now instead of waiting for more bytes.
            early = buf.find(_CRLF, 6, min(end - 1, len(buf)))
            if early >= 0:
                self._emit(out, early + 2)
                continue
            if len(buf) >= end - 1 and buf[end - 2 : end - 1] == b"\n":
                self._emit(out, end - 1)  # LF only (no CR), decided without the next byte
                continue
            if len(buf) < end:
                break
            if buf[end - 2 : end] == _CRLF:
                self._emit(out, end)
            elif buf[end - 2 : end] == _START:
                self._emit(out, end - 2)  # packet without CR LF, next one follows at once
            else:
                self._skip(out, Reason.BAD_LENGTH, "no CR LF where the length says it ends")
        return out

    def flush(self) -> list[FrameResult]:
        """At end of stream: report what is left as INCOMPLETE and empty the buffer."""
        if not self._buf:
            return []
        raw = bytes(self._buf)
        self._buf.clear()
        if not raw.strip(_WHITESPACE):
            return []
        reason = Reason.INCOMPLETE if raw.startswith(_START) else Reason.GARBAGE
        return [FrameResult(raw, error=HJ212Error(reason, "stream ended inside a packet"))]

    # -- helpers

    def _emit(self, out: list[FrameResult], size: int) -> None:
        buf = self._buf
        raw = bytes(buf[:size])
        try:
            packet = parse(
                raw,
                verify_crc=self.verify_crc,
                modbus_crc=self.modbus_crc,
                max_length=self.max_length,
            )
        except HJ212Error as exc:
            # re-sync on the next "##" inside the rejected bytes, if any (a truncated packet
            # followed directly by a good one), else consume them
            nxt = raw.find(_START, 1)
            cut = nxt if nxt > 0 else size
            out.append(FrameResult(bytes(buf[:cut]), error=exc))
            del buf[:cut]
            return
        out.append(FrameResult(raw, packet=packet))
        del buf[:size]

    def _skip(self, out: list[FrameResult], reason: Reason, message: str) -> None:
        buf = self._buf
        nxt = buf.find(_START, 1)
        if nxt < 0:
            nxt = len(buf) - 1 if buf.endswith(b"#") else len(buf)
        out.append(FrameResult(bytes(buf[:nxt]), error=HJ212Error(reason, message)))
        del buf[:nxt]

    def _garbage(self, out: list[FrameResult], raw: bytes) -> None:
        if raw.strip(_WHITESPACE):
            out.append(
                FrameResult(
                    raw[: self.max_length],
                    error=HJ212Error(Reason.GARBAGE, f"{len(raw)} bytes outside any packet"),
                )
            )
