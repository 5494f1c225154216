"""The pure half of hotline intake: decoding, field checks and titles."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from connectors.hotline.intake import Refused, decode, parse, title_of
from hub.cases.enums import Category

NOW = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)
CALL = {
    "callId": "c1",
    "receivedAt": "2026-11-28T09:30:00+08:00",
    "description": "扬尘",
}


def problems(body: dict) -> dict[str, str]:
    with pytest.raises(Refused) as caught:
        parse(body, NOW)
    assert caught.value.status == 422
    return {p.field: p.message for p in caught.value.problems}


def test_a_minimal_call() -> None:
    call = parse(CALL, NOW)
    assert call.received_at.astimezone(UTC) == datetime(2026, 11, 28, 1, 30, tzinfo=UTC)
    assert call.category is None and call.anonymous is None


def test_every_problem_is_named_at_once() -> None:
    found = problems({"callId": 1, "receivedAt": "2026-11-28T09:30:00", "latitude": 99})
    assert {"callId", "receivedAt", "description", "latitude"} <= set(found)
    assert "须带时区偏移" in found["receivedAt"]


@pytest.mark.parametrize(
    ("received", "ok"),
    [
        ("2026-11-28T10:04:00+08:00", True),  # four minutes ahead: clock skew
        ("2026-11-28T10:06:00+08:00", False),
        ("2026-11-28T02:04:00Z", True),
        ("2026-11-28T02:06:00Z", False),
    ],
)
def test_future_times_beyond_the_skew(received: str, ok: bool) -> None:
    body = {**CALL, "receivedAt": received}
    if ok:
        parse(body, NOW)
    else:
        assert "不能晚于当前时间" in problems(body)["receivedAt"]


def test_category_must_be_one_of_the_enum() -> None:
    assert parse({**CALL, "category": "NOISE"}, NOW).category == Category.NOISE
    assert "category" in problems({**CALL, "category": "noise"})


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"\xff", 422),
        (b"{", 422),
        (b"[]", 422),
        (b"null", 422),
        (b'{"a": Infinity}', 422),
        (b"x" * 1_000_001, 413),
    ],
)
def test_decode_refuses_naming_the_body(raw: bytes, status: int) -> None:
    with pytest.raises(Refused) as caught:
        decode(raw)
    assert caught.value.status == status
    assert [p.field for p in caught.value.problems] == ["body"]


def test_decode_names_the_field_with_bad_text() -> None:
    with pytest.raises(Refused) as caught:
        decode(json.dumps({**CALL, "address": "a\u0000b"}).encode())
    assert [p.field for p in caught.value.problems] == ["address"]


@pytest.mark.parametrize(
    ("description", "title"),
    [
        ("耐火材料厂夜间扬尘严重。晚上十点以后尤其明显", "耐火材料厂夜间扬尘严重"),
        ("噪音很大！请尽快处理", "噪音很大"),
        ("  。。有异味", "有异味"),
        ("扬" * 80, "扬" * 59 + "…"),
        ("no punctuation at all", "no punctuation at all"),
        ("line one\nline two", "line one"),
    ],
)
def test_title_is_the_first_sentence(description: str, title: str) -> None:
    assert title_of(description) == title
    assert len(title_of(description)) <= 60
