"""The hash chain of the audit trail (pure).

hash = SHA-256(prev_hash + canonical JSON of the entry's content). Canonical JSON: sorted keys,
no whitespace, UTF-8, times as ISO 8601 UTC with microseconds, ids as strings.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

GENESIS = "0" * 64


class ChainLink(Protocol):
    seq: int
    prev_hash: str
    hash: str


def canonical(content: Mapping[str, Any]) -> bytes:
    return json.dumps(
        content, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_plain
    ).encode()


def _plain(value: Any) -> str:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="microseconds")
    return str(value)  # uuids, enums


def entry_hash(prev_hash: str, content: Mapping[str, Any]) -> str:
    return hashlib.sha256(prev_hash.encode() + canonical(content)).hexdigest()


@dataclass(frozen=True)
class Break:
    seq: int
    reason: str


@dataclass
class Walker:
    """Checks a chain one entry at a time, in seq order, so a long chain needs no memory."""

    expected_prev: str = GENESIS
    expected_seq: int = 1
    checked: int = 0

    def step(self, link: ChainLink, content: Mapping[str, Any]) -> Break | None:
        self.checked += 1
        if link.seq != self.expected_seq:
            return Break(self.expected_seq, f"entry {self.expected_seq} is missing")
        if link.prev_hash != self.expected_prev:
            return Break(link.seq, "prev_hash does not match the previous entry")
        if entry_hash(link.prev_hash, content) != link.hash:
            return Break(link.seq, "hash does not match the entry's content")
        self.expected_prev, self.expected_seq = link.hash, self.expected_seq + 1
        return None

    def finish(self, head_seq: int | None) -> Break | None:
        """The head remembers the chain's length: entries cut off its end are found too."""
        if head_seq is not None and head_seq >= self.expected_seq:
            return Break(self.expected_seq, f"entries {self.expected_seq}..{head_seq} are missing")
        return None


def first_break(
    links: Iterable[tuple[ChainLink, Mapping[str, Any]]], *, head_seq: int | None = None
) -> tuple[int, Break | None]:
    """Walk (entry, content) pairs in seq order: how many were checked, and the first break."""
    walker = Walker()
    for link, content in links:
        found = walker.step(link, content)
        if found:
            return walker.checked, found
    return walker.checked, walker.finish(head_seq)
