"""Matching the enterprise a caller names against the registered sources (pure, no I/O).

Tolerated: full-width characters, spacing and punctuation, the legal form (有限公司,
有限责任公司, 股份有限公司, 公司, 厂, 集团) and leading place names (新密市, 来集镇, 来集, ...).
Exactly one registered source with the same core name is a match; none or several is no
match: an ambiguous name is left for the dispatcher, never guessed.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Hashable, Iterable
from typing import TypeVar

K = TypeVar("K", bound=Hashable)

# Longest first: 有限责任公司 before 公司, 工厂 before 厂.
LEGAL_FORMS = (
    "股份有限公司",
    "有限责任公司",
    "集团有限公司",
    "有限公司",
    "集团公司",
    "总公司",
    "公司",
    "集团",
    "工厂",
    "厂",
)
# Places a caller may put before (or leave out of) any name in the county.
GENERIC_PLACES = ("河南省", "河南", "郑州市", "郑州")
_PLACE_SUFFIXES = ("省", "市", "县", "区", "镇", "乡", "街道")
_PLACE_HEAD = re.compile(r"^(.{2,6}?(?:省|市|县|区|镇|乡|街道))")
MIN_CORE = 2  # a core shorter than this names nothing in particular


def fold(text: str) -> str:
    """Full-width to half-width, lower case, letters/digits/CJK only (no spaces, no brackets)."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return "".join(ch for ch in folded if ch.isalnum())


def place_variants(places: Iterable[str]) -> tuple[str, ...]:
    """Each place with and without its administrative suffix (来集镇 and 来集), longest first."""
    found: set[str] = set()
    for place in (*GENERIC_PLACES, *places):
        name = fold(place)
        if not name:
            continue
        # 新密市环境保护局 names the place 新密市: keep what ends at the first place suffix.
        head = _PLACE_HEAD.match(name)
        for whole in {name, head.group(1)} if head else {name}:
            found.add(whole)
            for suffix in _PLACE_SUFFIXES:
                if whole.endswith(suffix) and len(whole) - len(suffix) >= MIN_CORE:
                    found.add(whole[: -len(suffix)])
    return tuple(sorted(found, key=lambda p: (-len(p), p)))


def core_name(name: str, places: Iterable[str] = ()) -> str:
    """The distinguishing part of an enterprise name: 新密市来集镇宏达耐火材料有限公司 and
    宏达耐火材料厂 both give 宏达耐火材料."""
    return _core(fold(name), place_variants(places))


def _core(s: str, variants: tuple[str, ...]) -> str:
    stripping = True
    while stripping:
        stripping = False
        for place in variants:
            if s.startswith(place) and len(s) - len(place) >= MIN_CORE:
                s, stripping = s[len(place) :], True
                break
    stripping = True
    while stripping:
        stripping = False
        for form in LEGAL_FORMS:
            if s.endswith(form) and len(s) - len(form) >= MIN_CORE:
                s, stripping = s[: -len(form)], True
                break
    return s


def match_source(
    name: str | None, candidates: Iterable[tuple[K, str]], places: Iterable[str] = ()
) -> K | None:
    """The one candidate (key, registered name) whose core name equals the caller's, else None."""
    if not name:
        return None
    variants = place_variants(places)
    wanted = _cores(fold(name), variants)
    if not wanted:
        return None
    hits = {key for key, registered in candidates if wanted & _cores(fold(registered), variants)}
    return hits.pop() if len(hits) == 1 else None


def _cores(s: str, variants: tuple[str, ...]) -> set[str]:
    """Every core the name may have: 丰源粮食加工厂 is 丰源粮食加工 (厂) or 丰源粮食加 (工厂);
    the registered 丰源粮食加工有限公司 is 丰源粮食加工, and one shared core is a match."""
    head = _core(s, variants)  # the place names stripped, the longest legal form first
    found = {head} if len(head) >= MIN_CORE else set()
    stripped = _strip_places(s, variants)
    for form in LEGAL_FORMS:
        if stripped.endswith(form) and len(stripped) - len(form) >= MIN_CORE:
            found.add(_core(stripped[: -len(form)], variants))
    return {c for c in found if len(c) >= MIN_CORE}


def _strip_places(s: str, variants: tuple[str, ...]) -> str:
    stripping = True
    while stripping:
        stripping = False
        for place in variants:
            if s.startswith(place) and len(s) - len(place) >= MIN_CORE:
                s, stripping = s[len(place) :], True
                break
    return s
