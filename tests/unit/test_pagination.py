"""Signed cursors and page sizes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.errors import DomainError
from hub.pagination import MAX_PAGE, decode_cursor, encode_cursor, page_size


@given(st.lists(st.text(max_size=20) | st.integers(), max_size=4))
def test_cursor_round_trip(values: list) -> None:
    assert decode_cursor("k", encode_cursor("k", values)) == values


@given(st.text(max_size=64))
def test_anything_else_is_refused_with_the_field_named(text: str) -> None:
    try:
        decode_cursor("k", text)
    except DomainError as exc:
        assert exc.field == "after"


def test_a_cursor_of_another_key_is_refused() -> None:
    with pytest.raises(DomainError):
        decode_cursor("k", encode_cursor("other", ["2026-01-01", "x"]))


@pytest.mark.parametrize(("first", "size"), [(None, 50), (0, 0), (5, 5), (10**9, MAX_PAGE)])
def test_page_size(first: int | None, size: int) -> None:
    assert page_size(first) == size


def test_negative_first_is_refused() -> None:
    with pytest.raises(DomainError) as exc:
        page_size(-1)
    assert exc.value.field == "first"


@pytest.mark.parametrize(("first", "size"), [(500, 500), (1000, 1000), (5000, 1000), (None, 50)])
def test_the_change_feed_pages_up_to_its_own_maximum(first: int | None, size: int) -> None:
    from hub.sync.service import FEED_MAX_PAGE

    assert page_size(first, FEED_MAX_PAGE) == size
    assert page_size(first) == min(size, MAX_PAGE)
