"""Phone normalisation (pure): a table, and properties over how people write numbers."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.hotline.phones import is_mobile, normalize_phone

TABLE = [
    ("13800000000", "13800000000"),
    ("138 0000 0000", "13800000000"),
    ("138-0000-0000", "13800000000"),
    ("+86 138 0000 0000", "13800000000"),
    ("+86-13800000000", "13800000000"),
    ("0086 13800000000", "13800000000"),
    ("8613800000000", "13800000000"),
    ("013800000000", "13800000000"),  # dialled with a trunk 0
    ("１３８００００００００", "13800000000"),  # full-width digits
    ("＋８６ １３８－００００－００００", "13800000000"),
    (" 19912345678\t", "19912345678"),
    ("0371-62345678", "037162345678"),
    ("(0371) 6234 5678", "037162345678"),
    ("（0371）6234-5678", "037162345678"),
    ("+86 371 6234 5678", "037162345678"),
    ("+86 (0)371 62345678", "037162345678"),
    ("010-12345678", "01012345678"),
    ("021 1234 5678", "02112345678"),
    ("0398-1234567", "03981234567"),  # 7-digit local number
    # not numbers we can stand behind: None, never a guess
    ("", None),
    ("   ", None),
    ("12345", None),
    ("62345678", None),  # no area code
    ("12800000000", None),  # 12x is not a mobile prefix
    ("1380000000", None),  # 10 digits
    ("138000000000", None),  # 12 digits
    ("+1 415 555 0100", None),
    ("0371-62345678-801", "037162345678-801"),  # an extension
    ("0371-62345678转801", "037162345678-801"),
    ("0371 6234 5678 ext. 801", "037162345678-801"),
    ("010-12345678 分机 2", "01012345678-2"),
    ("13800000000-12", None),  # a mobile has no extension
    ("0371-62345678-1234567", None),  # seven digits are no extension
    ("12369", None),  # a service number reaches the service, not the caller
    ("138O0000000", None),  # letter O
    ("١٣٨٠٠٠٠٠٠٠٠", None),  # Arabic-Indic digits
    ("call me", None),
    ("010-1234567", None),  # Beijing numbers have 8 digits
]


@pytest.mark.parametrize(("text", "expected"), TABLE)
def test_table(text: str, expected: str | None) -> None:
    assert normalize_phone(text) == expected


def test_none_is_none() -> None:
    assert normalize_phone(None) is None


def test_local_number_with_the_default_area_code() -> None:
    assert normalize_phone("6234 5678", area_code="0371") == "037162345678"
    assert normalize_phone("13800000000", area_code="0371") == "13800000000"


mobiles = st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True)
separators = st.sampled_from(["", " ", "-", "  ", "\u3000", "－"])
prefixes = st.sampled_from(["", "+86", "+86 ", "0086", "0086-", "＋８６", "86", "0"])


@given(mobiles, separators, prefixes, st.booleans())
def test_any_writing_of_a_mobile_gives_the_mobile(
    number: str, sep: str, prefix: str, wide: bool
) -> None:
    written = prefix + sep.join([number[:3], number[3:7], number[7:]])
    if wide:
        written = written.translate({ord(c): ord(c) + 0xFEE0 for c in "0123456789"})
    assert normalize_phone(written) == number
    assert is_mobile(number)


@given(st.text(max_size=30))
def test_canonical_form_is_a_fixed_point(text: str) -> None:
    found = normalize_phone(text)
    if found is not None:
        assert found.isascii() and found.replace("-", "", 1).isdigit()
        assert normalize_phone(found) == found
