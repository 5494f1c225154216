"""The bulletin's ranking of towns (pure): who did best, ties sharing a rank.

Order: on-time rate, higher first (a town with no case to judge, rate null, comes last); then
fewer red cards, then fewer yellow cards. Towns equal on all three share a rank and the next
rank skips (1, 2, 2, 4: standard competition ranking); ties are listed by town code.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")


def standing(rate: float | None, red: int, yellow: int) -> tuple[bool, float, int, int]:
    """The sort key: smaller is better."""
    return (rate is None, -(rate or 0.0), red, yellow)


def rank(
    items: Sequence[T],
    key: Callable[[T], tuple[bool, float, int, int]],
    name: Callable[[T], str],
) -> list[tuple[int, T]]:
    """(rank, item) best first; equal keys share the rank of the first of them."""
    ordered = sorted(items, key=lambda i: (key(i), name(i)))
    ranked: list[tuple[int, T]] = []
    for position, item in enumerate(ordered, start=1):
        if ranked and key(ranked[-1][1]) == key(item):
            ranked.append((ranked[-1][0], item))
        else:
            ranked.append((position, item))
    return ranked
