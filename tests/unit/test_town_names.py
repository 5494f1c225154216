"""How a sender may name a town: the hub's code, the Chinese name (with or without its
suffix when that is unambiguous) or the administrative division code."""

from __future__ import annotations

import uuid

import pytest

from hub.tenancy.model import TenantKind
from hub.tenancy.service import Directory, TenantInfo


def town(code: str, name: str, division: str | None) -> TenantInfo:
    return TenantInfo(uuid.uuid4(), code, name, TenantKind.TOWN, None, "xinmi", division)


CITY = TenantInfo(uuid.uuid4(), "xinmi", "新密市环境保护局", TenantKind.CITY, None, None, "410183")
TOWNS = Directory.of(
    [
        CITY,
        town("chaohua", "超化镇", "410183104"),
        town("qingping", "青屏街道", "410183001"),
        town("laiji", "来集镇", None),
    ]
)


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("chaohua", "chaohua"),
        ("超化镇", "chaohua"),
        ("超化", "chaohua"),
        ("青屏", "qingping"),
        ("410183104", "chaohua"),
        ("410183104000", "chaohua"),
        ("410183", "xinmi"),
        ("410183000000", "xinmi"),
        ("来集", "laiji"),
    ],
)
def test_a_town_is_found_by_code_name_or_division(text: str, code: str) -> None:
    found = TOWNS.find(text)
    assert found is not None and found.code == code


@pytest.mark.parametrize("text", ["超化乡", "410183999", "4101831", "镇", "", "CHAOHUA"])
def test_what_names_no_town(text: str) -> None:
    assert TOWNS.find(text) is None


def test_a_stem_two_towns_share_names_neither() -> None:
    both = Directory.of([town("a", "超化镇", None), town("b", "超化乡", None)])
    assert both.find("超化") is None
    found = both.find("超化乡")
    assert found is not None and found.code == "b"
