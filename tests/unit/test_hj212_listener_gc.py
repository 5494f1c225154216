"""A listener process moves what it built at start out of the garbage collector's reach, once."""

from __future__ import annotations

from typing import Any

import pytest

from connectors.hj212 import server


class FakeGC:
    def __init__(self, threshold: tuple[int, int, int]) -> None:
        self.calls: list[Any] = []
        self.threshold = threshold

    def collect(self) -> None:
        self.calls.append("collect")

    def freeze(self) -> None:
        self.calls.append("freeze")

    def get_threshold(self) -> tuple[int, int, int]:
        return self.threshold

    def set_threshold(self, *values: int) -> None:
        self.calls.append(("threshold", values))
        self.threshold = values  # type: ignore[assignment]


@pytest.mark.parametrize(
    ("threshold", "expected"),
    [((700, 10, 10), [("threshold", (server.GC_YOUNG, 10, 10))]),
     ((50_000, 5, 5), []),  # tuned higher already: left as it is
     ((0, 10, 10), [])],  # collection switched off: left off
)  # fmt: skip
def test_freeze_once_after_a_collection(
    monkeypatch: pytest.MonkeyPatch, threshold: tuple[int, int, int], expected: list[Any]
) -> None:
    fake = FakeGC(threshold)
    monkeypatch.setattr(server, "gc", fake)
    monkeypatch.setattr(server, "_frozen", False)
    server.freeze_heap()
    assert fake.calls == ["collect", "freeze", *expected]
    server.freeze_heap()  # a second listener in the same process: nothing more
    assert fake.calls == ["collect", "freeze", *expected]
