"""What a complaint is about, from the caller's words (pure, no I/O).

Keywords carry a weight (2: names the problem, 1: a hint). The text is scanned once, longest
keyword first at each position, so 黑烟车 counts as a vehicle and not also as smoke. The
confidence is the winner's share of all the evidence times how much evidence there is; below
``SURE`` (or with nothing found, or a tie) the answer is OTHER and the dispatcher decides.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from hub.cases.enums import Category

KEYWORDS: dict[Category, dict[str, int]] = {
    Category.NOISE: {"噪声": 2, "噪音": 2, "吵": 1, "轰鸣": 1, "震耳": 1, "扰民": 1},
    Category.DUST: {"扬尘": 2, "粉尘": 2, "灰尘": 2, "尘土": 1, "起灰": 1, "漫天灰": 1},
    Category.WATER: {
        "污水": 2,
        "排污": 2,
        "废水": 2,
        "黑水": 2,
        "臭水": 2,
        "偷排": 1,
        "河水发黑": 2,
        "死鱼": 1,
    },
    Category.AIR: {
        "异味": 2,
        "废气": 2,
        "冒烟": 2,
        "烟囱": 2,
        "臭": 1,
        "刺鼻": 1,
        "黑烟": 1,
        "焚烧": 1,
    },
    Category.VEHICLE: {"黑烟车": 2, "尾气": 2, "渣土车": 2, "冒黑烟的车": 2, "柴油车": 1},
    Category.SOLID_WASTE: {"垃圾": 2, "固废": 2, "废渣": 2, "倾倒": 1, "堆放": 1, "危废": 2},
    Category.SOIL: {"土壤": 2, "农田污染": 2, "耕地": 1},
}
SURE = 0.5

_INDEX: dict[str, tuple[Category, int]] = {
    word: (category, weight)
    for category, words in KEYWORDS.items()
    for word, weight in words.items()
}
_LONGEST = max(len(w) for w in _INDEX)


@dataclass(frozen=True)
class Classification:
    category: Category
    confidence: float  # 0..1
    keywords: tuple[str, ...]  # the words that decided it, in order of appearance


def classify(text: str | None) -> Classification:
    """The category the words point to, how sure that is, and the words found."""
    found = _scan(unicodedata.normalize("NFKC", text or ""))
    scores: dict[Category, int] = {}
    for word in found:
        category, weight = _INDEX[word]
        scores[category] = scores.get(category, 0) + weight
    if not scores:
        return Classification(Category.OTHER, 0.0, ())
    ranked = sorted(scores.items(), key=lambda kv: -kv[1])
    (best, top), total = ranked[0], sum(scores.values())
    confidence = round((top / total) * (1 - 0.5**top), 2)
    tied = len(ranked) > 1 and ranked[1][1] == top
    words = tuple(w for w in found if _INDEX[w][0] == best)
    if tied or confidence < SURE:
        return Classification(Category.OTHER, 0.0 if tied else confidence, tuple(found))
    return Classification(best, confidence, words)


def _scan(text: str) -> tuple[str, ...]:
    found: list[str] = []
    i = 0
    while i < len(text):
        for size in range(min(_LONGEST, len(text) - i), 0, -1):
            word = text[i : i + size]
            if word in _INDEX:
                found.append(word)
                i += size
                break
        else:
            i += 1
    return tuple(found)
