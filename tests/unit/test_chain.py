"""The audit hash chain (pure): canonical JSON, hashing, and finding the first break."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from hub.audit.chain import GENESIS, canonical, entry_hash, first_break


@dataclass(frozen=True)
class Link:
    seq: int
    prev_hash: str
    hash: str


def build(contents: list[dict]) -> list[tuple[Link, dict]]:
    links, prev = [], GENESIS
    for seq, content in enumerate(contents, 1):
        digest = entry_hash(prev, content)
        links.append((Link(seq, prev, digest), content))
        prev = digest
    return links


def test_canonical_json_is_sorted_compact_utf8_and_times_are_utc() -> None:
    at = datetime(2026, 11, 28, 9, 30, tzinfo=UTC) + timedelta(hours=8) - timedelta(hours=8)
    local = at.astimezone(UTC).replace(tzinfo=UTC)
    assert canonical({"b": 1, "a": "扬尘", "at": local}) == (
        '{"a":"扬尘","at":"2026-11-28T09:30:00.000000+00:00","b":1}'.encode()
    )


def test_hash_covers_previous_hash_and_content() -> None:
    base = entry_hash(GENESIS, {"a": 1})
    assert base != entry_hash("1" * 64, {"a": 1})
    assert base != entry_hash(GENESIS, {"a": 2})
    assert len(base) == 64


contents = st.lists(
    st.dictionaries(st.sampled_from(["action", "note", "n"]), st.text(max_size=8) | st.integers()),
    min_size=1,
    max_size=20,
)


@given(contents)
def test_an_intact_chain_verifies(items: list[dict]) -> None:
    checked, broken = first_break(build(items), head_seq=len(items))
    assert (checked, broken) == (len(items), None)


@given(contents, st.data())
def test_tampering_with_any_entry_is_found_at_that_entry(items: list[dict], data) -> None:
    links = build(items)
    at = data.draw(st.integers(0, len(links) - 1))
    link, content = links[at]
    links[at] = (link, {**content, "tampered": True})
    _, broken = first_break(links)
    assert broken is not None and broken.seq == at + 1


@given(contents, st.data())
def test_a_deleted_entry_or_a_cut_end_is_found(items: list[dict], data) -> None:
    links = build(items)
    at = data.draw(st.integers(0, len(links) - 1))
    _, broken = first_break(links[:at] + links[at + 1 :], head_seq=len(links))
    assert broken is not None and broken.seq == at + 1


def test_a_rewritten_hash_breaks_the_next_link() -> None:
    links = build([{"n": 1}, {"n": 2}, {"n": 3}])
    forged = {"n": 99}
    first, _ = links[1]
    links[1] = (replace(first, hash=entry_hash(first.prev_hash, forged)), forged)
    _, broken = first_break(links)
    assert broken is not None and broken.seq == 3
    assert "prev_hash" in broken.reason
