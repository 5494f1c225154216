"""Reassemble multi-packet messages (Flag bit D, PNUM/PNO). Pure: the caller passes the time.

HJ 212-2017 §6.3 and C.49-C.50: a data segment over 1024 bytes is sent in PNUM parts numbered
PNO = 1..PNUM, each with its own QN (so parts are grouped by MN, CN and PNUM, not by QN), each
acknowledged separately when Flag has A. Parts may arrive in any order; a repeated part (a
retry) replaces the earlier copy.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .codec import CP, Packet, Version


@dataclass(frozen=True, slots=True)
class Message:
    """A whole message: one packet, or all parts of a split one merged (``parts`` by PNO)."""

    parts: tuple[Packet, ...]
    cp: CP = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    __hash__ = None  # type: ignore[assignment]

    @property
    def first(self) -> Packet:
        return self.parts[0]

    @property
    def cn(self) -> str:
        return self.first.cn

    @property
    def mn(self) -> str | None:
        return self.first.mn

    @property
    def st(self) -> str | None:
        return self.first.st

    @property
    def version(self) -> Version:
        return self.first.version

    @property
    def qns(self) -> tuple[str | None, ...]:
        return tuple(p.qn for p in self.parts)


_Key = tuple[str | None, str, int]


@dataclass
class _Pending:
    pnum: int
    started: float
    parts: dict[int, Packet] = field(default_factory=dict)


class Assembler:
    """``add(packet, now) -> Message | None``: a message when it is complete.

    Unsplit packets come back at once as one-part messages. Incomplete messages older than
    ``timeout`` seconds are dropped by :meth:`expire` (also called by :meth:`add`); at most
    ``max_pending`` are kept (the oldest is dropped first).
    """

    def __init__(self, *, timeout: float = 600.0, max_pending: int = 1000) -> None:
        self.timeout = timeout
        self.max_pending = max_pending
        self._pending: dict[_Key, _Pending] = {}

    @property
    def pending(self) -> int:
        return len(self._pending)

    def add(self, packet: Packet, now: float = 0.0) -> Message | None:
        if self._pending:
            self.expire(now)
        if packet.pnum is None or packet.pno is None:
            return Message(parts=(packet,), cp=packet.cp, notes=packet.notes)
        if packet.pnum == 1:
            return Message(parts=(packet,), cp=packet.cp, notes=packet.notes)
        key: _Key = (packet.mn, packet.cn, packet.pnum)
        entry = self._pending.get(key)
        if entry is None:
            while len(self._pending) >= self.max_pending:
                self._pending.pop(next(iter(self._pending)))
            entry = self._pending[key] = _Pending(pnum=packet.pnum, started=now)
        entry.parts[packet.pno] = packet
        if len(entry.parts) < entry.pnum:
            return None
        del self._pending[key]
        return merge([entry.parts[i] for i in range(1, entry.pnum + 1)])

    def expire(self, now: float) -> list[tuple[Packet, ...]]:
        """Drop incomplete messages older than ``timeout``; returns their parts (to log)."""
        dropped: list[tuple[Packet, ...]] = []
        for key in [k for k, e in self._pending.items() if now - e.started > self.timeout]:
            entry = self._pending.pop(key)
            dropped.append(tuple(entry.parts[i] for i in sorted(entry.parts)))
        return dropped


def merge(parts: list[Packet]) -> Message:
    """Merge parts (already in PNO order): top-level keys and factor fields combined."""
    cp: CP = {}
    notes: list[str] = []
    for part in parts:
        notes.extend(n for n in part.notes if n not in notes)
        for key, value in part.cp.items():
            if isinstance(value, dict):
                existing = cp.get(key)
                if isinstance(existing, dict):
                    existing.update(value)
                elif existing is None:
                    cp[key] = dict(value)
                else:
                    notes.append(f"CP_KEY_CLASH:{key}")
            else:
                existing = cp.get(key)
                if existing is not None and existing != value:
                    note = f"PARTS_DISAGREE:{key}"
                    if note not in notes:
                        notes.append(note)
                    continue
                cp[key] = value
    return Message(parts=tuple(parts), cp=cp, notes=tuple(notes))
