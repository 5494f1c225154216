"""Which town or village an address names (pure, no I/O).

Built from the grid cells' names (来集镇网格, 李堂村网格) and the towns' names (来集镇). Each
place is known by its full name and by its stem (李堂村 and 李堂, 来集镇 and 来集). An address
is scanned once, longest name first at each position, so 来集镇李堂村 reads as the town 来集镇
and the village 李堂村, never as the stem 来集 of the village 来集村.

A name that several towns share names nothing; a village names its town's cell; the answer is
the one deepest place that every name found agrees with, else nothing (the dispatcher decides:
an address is never guessed).
"""

from __future__ import annotations

import unicodedata
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

# Suffixes of the cell names that are not part of the place's name, then administrative ones.
CELL_SUFFIXES = ("网格",)
PLACE_SUFFIXES = ("社区", "街道", "村", "镇", "乡", "居委会")
MIN_NAME = 2  # a one-character stem names nothing in particular


@dataclass(frozen=True)
class Place:
    tenant_id: uuid.UUID
    cell_id: uuid.UUID | None  # None: a town known by its name only (no level-2 cell)
    level: int  # 2 town, 3 village or community
    name: str  # as registered, e.g. 李堂村网格


@dataclass(frozen=True)
class Found:
    place: Place
    words: tuple[str, ...]  # the names found in the address, in order


def fold(text: str) -> str:
    """Full-width to half-width, no spaces or punctuation (the address as it is compared)."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return "".join(ch for ch in folded if ch.isalnum())


def names_of(name: str) -> set[str]:
    """The full name and its stem: 李堂村网格 -> {李堂村, 李堂}."""
    full = fold(name)
    for suffix in CELL_SUFFIXES:
        if full.endswith(suffix) and len(full) - len(suffix) >= MIN_NAME:
            full = full[: -len(suffix)]
    found = {full} if len(full) >= MIN_NAME else set()
    for suffix in PLACE_SUFFIXES:
        if full.endswith(suffix) and len(full) - len(suffix) >= MIN_NAME:
            found.add(full[: -len(suffix)])
            break
    return found


class Gazetteer:
    """Place names -> places; ``find(address)`` answers the one place the address names."""

    def __init__(self, places: Iterable[Place]) -> None:
        by_name: dict[str, set[Place]] = {}
        for place in places:
            for name in names_of(place.name):
                by_name.setdefault(name, set()).add(place)
        self._index = {name: _settle(found) for name, found in by_name.items()}
        self._longest = max((len(n) for n in self._index), default=0)

    def find(self, address: str | None) -> Found | None:
        words = self._scan(fold(address or ""))
        places = [p for w in words if (p := self._index[w]) is not None]
        if not places:
            return None
        tenants = {p.tenant_id for p in places}
        if len(tenants) != 1:
            return None  # names of two towns: which one is meant is for a person to say
        deepest = {p for p in places if p.level == max(q.level for q in places)}
        if len(deepest) != 1:
            return None  # two villages of one town: the town would do, but which cell?
        return Found(deepest.pop(), tuple(words))

    def _scan(self, text: str) -> list[str]:
        found: list[str] = []
        i = 0
        while i < len(text):
            for size in range(min(self._longest, len(text) - i), MIN_NAME - 1, -1):
                word = text[i : i + size]
                if word in self._index:
                    found.append(word)
                    i += size
                    break
            else:
                i += 1
        return found


def _settle(found: set[Place]) -> Place | None:
    """What one name means: the place, the town when a town and its own village share it
    (来集 is 来集镇 before it is 来集村), or None when it could be in several towns."""
    if len(found) == 1:
        return next(iter(found))
    if len({p.tenant_id for p in found}) > 1:
        return None
    shallow = min(p.level for p in found)
    top = [p for p in found if p.level == shallow]
    with_cell = [p for p in top if p.cell_id is not None]
    return (with_cell or top)[0] if len(with_cell) <= 1 else None
