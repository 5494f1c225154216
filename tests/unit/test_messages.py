"""What a person reads when the hub refuses: Chinese, naming the field, the code unchanged."""

from __future__ import annotations

import re

import pytest

from hub import validation
from hub.errors import DomainError, ErrorCode, label, not_found
from hub.roles import Permission, refusal


def refused(call, *args, **kwargs) -> DomainError:
    with pytest.raises(DomainError) as caught:
        call(*args, **kwargs)
    return caught.value


def test_a_missing_title_is_named_in_chinese() -> None:
    error = refused(validation.check_text, "title", "  ", required=True)
    assert (error.code, error.field, error.message) == (
        ErrorCode.VALIDATION,
        "title",
        "标题不能为空",
    )


def test_a_long_text_names_its_limit() -> None:
    error = refused(validation.check_text, "note", "x" * 4_001)
    assert (error.field, error.message) == ("note", "说明不能超过 4000 个字符")


def test_a_time_without_offset_and_half_a_point() -> None:
    from datetime import datetime

    error = refused(validation.check_time, "occurredAt", datetime(2026, 12, 10))
    assert error.field == "occurredAt" and error.message.startswith("发生时间须带时区偏移")
    error = refused(validation.check_point, 34.5, None)
    assert (error.field, error.message) == ("longitude", "经度和纬度须同时填写")


def test_not_found_keeps_its_code() -> None:
    error = not_found("案件", "caseId")
    assert (error.code, error.field, error.message) == (
        ErrorCode.NOT_FOUND,
        "caseId",
        "案件不存在或您无权查看",
    )


def test_nested_fields_read_as_their_label() -> None:
    assert label("filter.text") == "检索词" and label("somethingNew") == "somethingNew"


@pytest.mark.parametrize("permission", list(Permission))
def test_every_refusal_is_chinese(permission: Permission) -> None:
    words = refusal(permission)
    # Codes of roles or permissions may stay in brackets; the sentence itself is Chinese.
    assert re.search(r"[\u4e00-\u9fff]", words), words
    assert "may not" not in words and "only" not in words
