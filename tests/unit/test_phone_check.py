"""The reporter's phone check (pure): every form a Chinese mobile or landline is written in is
taken in one canonical form; anything else is VALIDATION naming the field, in Chinese."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.cases.phones import check_phone, normalize_phone
from hub.demo import world
from hub.errors import DomainError, ErrorCode

TAKEN = [
    ("13812345678", "13812345678"),
    ("+86 138 1234 5678", "13812345678"),
    ("0371-62345678", "037162345678"),
    ("0371-62345678-801", "037162345678-801"),
    ("(0371) 6234 5678 转 801", "037162345678-801"),
    ("010 1234 5678 ext 9", "01012345678-9"),
    (None, None),
    ("", None),
    ("   ", None),
]
REFUSED = [
    "abc",
    "62345678",  # a local number: which city's?
    "12369",  # a service number
    "95598",
    "1381234567",  # ten digits
    "+1 415 555 0100",
    "13812345678-801",  # a mobile has no extension
    "0371-62345678-1234567",
]


@pytest.mark.parametrize(("text", "canonical"), TAKEN)
def test_numbers_taken(text: str | None, canonical: str | None) -> None:
    assert check_phone("reporterPhone", text) == canonical


@pytest.mark.parametrize("text", REFUSED)
def test_numbers_refused_name_the_field_in_chinese(text: str) -> None:
    with pytest.raises(DomainError) as refused:
        check_phone("reporterPhone", text)
    assert refused.value.code == ErrorCode.VALIDATION
    assert refused.value.field == "reporterPhone"
    assert "reporterPhone 不是有效的手机或固定电话号码" in str(refused.value)


def test_the_demo_worlds_numbers_pass() -> None:
    assert all(check_phone("phone", m.phone) == m.phone for m in world.MEMBERS)


areas = st.sampled_from(["010", "021", "0371", "0398", "0755"])
locals_ = st.from_regex(r"[2-8][0-9]{7}", fullmatch=True)
extensions = st.from_regex(r"[0-9]{1,6}", fullmatch=True)
markers = st.sampled_from(["-", " 转 ", "转", " ext. ", "#", " 分机 "])


@given(areas, locals_, st.none() | extensions, markers, st.sampled_from(["-", " ", ""]))
def test_any_writing_of_a_landline_gives_its_canonical_form(
    area: str, local: str, ext: str | None, marker: str, sep: str
) -> None:
    written = f"({area}){sep}{local[:4]}{sep}{local[4:]}"
    if ext is not None:
        written += marker + ext
    expected = area + local + (f"-{ext}" if ext is not None else "")
    assert check_phone("reporterPhone", written) == expected
    assert normalize_phone(expected) == expected  # the canonical form reads as itself


@given(st.text(alphabet=st.characters(categories=["L", "P", "Zs"]), min_size=1, max_size=20))
def test_words_without_digits_are_never_a_number(text: str) -> None:
    if text.strip():
        with pytest.raises(DomainError):
            check_phone("reporterPhone", text)


def test_the_hotline_simulators_numbers_pass() -> None:
    from connectors.hotline.simulator import CallMaker

    maker = CallMaker(random.Random(7))
    bodies = [maker.call() for _ in range(30)]
    bodies += [maker.again(b, same_caller=False) for b in bodies[:10]]
    assert all(check_phone("callerPhone", b["callerPhone"]) for b in bodies)
