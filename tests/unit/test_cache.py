"""The per-database caches: a value lives as long as it was put for, and is forgotten on pop."""

from __future__ import annotations

from hub.cache import Caches


def test_a_value_is_kept_until_it_expires() -> None:
    now = [100.0]
    caches = Caches(timer=lambda: now[0])
    caches.put("short", "a", 5.0)
    caches.put("long", "b", 60.0)
    assert (caches.get("short"), caches.get("long")) == ("a", "b")
    now[0] = 104.9
    assert caches.get("short") == "a"
    now[0] = 105.1
    assert (caches.get("short"), caches.get("long")) == (None, "b")
    now[0] = 161.0
    assert caches.get("long") is None


def test_pop_forgets_and_returns_the_value() -> None:
    caches = Caches()
    caches.put("directory", {"x": 1}, 60.0)
    assert caches.pop("directory") == {"x": 1}
    assert caches.get("directory") is None
    assert caches.pop("directory", "gone") == "gone"
