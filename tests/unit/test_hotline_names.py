"""Source-name matching (pure): variations of one name match, vague or shared names never do."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.hotline.names import core_name, fold, match_source

PLACES = ["新密市环境保护局", "来集镇", "超化镇", "牛店镇", "曲梁乡"]
SOURCES = [
    ("hongda", "新密市来集镇宏达耐火材料有限公司"),
    ("jinxin", "新密市来集镇金鑫耐火材料有限公司"),
    ("yuxin", "新密市超化镇豫新发电有限责任公司"),
    ("ruifeng", "新密市超化镇瑞丰水泥有限公司"),
    ("jingang", "新密市牛店镇金刚磨料有限公司"),
    ("yufeng-a", "新密市曲梁乡裕丰面粉有限公司"),
    ("yufeng-b", "裕丰面粉厂"),  # another registration with the same core name
    ("abc", "ABC Chemical Co"),
]

TABLE = [
    ("新密市来集镇宏达耐火材料有限公司", "hongda"),  # exactly
    ("宏达耐火材料有限公司", "hongda"),
    ("宏达耐火材料厂", "hongda"),  # 厂 vs 公司
    ("宏达耐火材料公司", "hongda"),
    ("来集宏达耐火材料厂", "hongda"),  # town without 镇
    ("新密宏达耐火材料", "hongda"),
    ("河南省郑州市新密市宏达耐火材料有限公司", "hongda"),
    ("宏达 耐火材料 厂", "hongda"),  # spacing
    ("宏达耐火材料（有限公司）", "hongda"),
    ("豫新发电有限公司", "yuxin"),  # 有限公司 vs 有限责任公司
    ("豫新发电厂", "yuxin"),
    ("ＡＢＣ　ｃｈｅｍｉｃａｌ　ｃｏ", "abc"),  # full-width letters and space
    # never a guess
    ("耐火材料厂", None),  # four refractories: which?
    ("裕丰面粉厂", None),  # two registrations share the core name
    ("宏达", None),  # a fragment is not a name
    ("宏达耐火", None),  # nor an abbreviation
    ("有限公司", None),
    ("厂", None),
    ("", None),
    ("   ", None),
    ("新密市", None),
    ("不存在的化工厂", None),
]


@pytest.mark.parametrize(("name", "expected"), TABLE)
def test_table(name: str, expected: str | None) -> None:
    assert match_source(name, SOURCES, PLACES) == expected


def test_none_matches_nothing() -> None:
    assert match_source(None, SOURCES, PLACES) is None


@pytest.mark.parametrize(
    ("name", "core"),
    [
        ("新密市来集镇宏达耐火材料有限公司", "宏达耐火材料"),
        ("宏达耐火材料厂", "宏达耐火材料"),
        ("龙腾纸业股份有限公司", "龙腾纸业"),
        ("东方热电集团有限公司", "东方热电"),
        ("来集镇", "来集镇"),  # never stripped to nothing
    ],
)
def test_core_name(name: str, core: str) -> None:
    assert core_name(name, PLACES) == core


cores = st.text(alphabet="宏达金鑫耐火材料水泥造纸磨料发电", min_size=2, max_size=8)
forms = st.sampled_from(["", "有限公司", "有限责任公司", "股份有限公司", "公司", "厂"])
heads = st.sampled_from(["", "新密市", "来集镇", "新密市来集镇", "河南省郑州市"])


@given(cores, forms, forms, heads, st.booleans())
def test_variants_of_one_name_match_it(
    core: str, form: str, other_form: str, head: str, spaced: bool
) -> None:
    registered = f"新密市来集镇{core}{form}"
    said = f"{head}{core}{other_form}"
    if spaced:
        said = " ".join(said)
    wide = said.translate({c: c + 0xFEE0 for c in range(0x21, 0x7F)})
    assert match_source(said, [("x", registered)], PLACES) == "x"
    assert match_source(wide, [("x", registered)], PLACES) == "x"
    # and the same name registered twice is ambiguous
    assert match_source(said, [("x", registered), ("y", f"{core}厂")], PLACES) is None


@given(st.text(max_size=40))
def test_fold_is_idempotent(text: str) -> None:
    assert fold(fold(text)) == fold(text)
