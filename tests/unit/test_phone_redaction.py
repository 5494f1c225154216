"""Numbers in free text are masked as the phone field is; other digits stay as written."""

from __future__ import annotations

import pytest

from hub.cases.phones import redact_phones

MASKED = {
    "来电人13812345678反映": "来电人138****5678反映",
    "请回电 138 1234 5678": "请回电 138****5678",
    "+86 139-8765-4321 来电": "139****4321 来电",
    "座机 0371-62345678": "座机 037*****5678",
    "(010)12345678": "010****5678",
    "（0532）8765432": "053****5432",
}
KEPT = [
    "XM-2026-000123",
    "2026-01-15 08:30",
    "拨打 12369 举报",
    "MN 010000A8900016F000169DC0",
    "DataTime=20260101120000",
    "PM2.5 浓度 138 微克",
    "113.625341, 34.746611",
]


@pytest.mark.parametrize(("text", "expected"), MASKED.items())
def test_numbers_in_text_are_masked(text: str, expected: str) -> None:
    assert redact_phones(text) == expected


@pytest.mark.parametrize("text", KEPT)
def test_other_digits_are_kept(text: str) -> None:
    assert redact_phones(text) == text
