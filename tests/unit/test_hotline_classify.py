"""The complaint classifier (pure): a table of callers' words, and its promises as properties."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.hotline.classify import KEYWORDS, SURE, classify
from hub.cases.enums import Category

TABLE = [
    ("隔壁磨料厂机器噪音很大，晚上睡不着", Category.NOISE, ("噪音",)),
    ("工地夜间施工噪声扰民", Category.NOISE, ("噪声", "扰民")),
    ("楼下太吵了", Category.NOISE, ("吵",)),
    ("耐火材料厂夜间扬尘严重", Category.DUST, ("扬尘",)),
    ("粉尘满天飞，窗台全是灰尘", Category.DUST, ("粉尘", "灰尘")),
    ("造纸厂往河里排污水", Category.WATER, ("排污",)),
    ("有黑水流进河里，河水发黑", Category.WATER, ("黑水", "河水发黑")),
    ("半夜偷偷排放废水", Category.WATER, ("偷排", "废水")),
    ("空气中有刺鼻异味", Category.AIR, ("刺鼻", "异味")),
    ("工厂烟囱冒烟", Category.AIR, ("烟囱", "冒烟")),
    ("一股臭味", Category.AIR, ("臭",)),
    ("废气直排", Category.AIR, ("废气",)),
    ("路上黑烟车很多", Category.VEHICLE, ("黑烟车",)),  # not smoke
    ("渣土车撒漏", Category.VEHICLE, ("渣土车",)),  # not waste
    ("货车尾气很呛", Category.VEHICLE, ("尾气",)),
    ("村口倾倒建筑垃圾", Category.SOLID_WASTE, ("倾倒", "垃圾")),
    ("有人偷倒废渣", Category.SOLID_WASTE, ("废渣",)),
    ("固废随意堆放", Category.SOLID_WASTE, ("固废", "堆放")),
    ("土壤被污染了", Category.SOIL, ("土壤",)),
    ("ｎｏｉｓｅ 噪音", Category.NOISE, ("噪音",)),
]


@pytest.mark.parametrize(("text", "category", "words"), TABLE)
def test_table(text: str, category: Category, words: tuple[str, ...]) -> None:
    found = classify(text)
    assert found.category == category
    assert found.keywords == words
    assert SURE <= found.confidence <= 1


@pytest.mark.parametrize(
    "text",
    [
        "",
        "想咨询一下办事流程",
        "噪音和扬尘",  # two problems, equally named: the dispatcher decides
        "吵，有灰尘，还有污水",  # a hint against two problems: unsure
        None,
    ],
)
def test_unsure_is_other(text: str | None) -> None:
    found = classify(text)
    assert found.category == Category.OTHER
    assert found.confidence < SURE


def test_more_evidence_is_surer() -> None:
    one, two = classify("噪音"), classify("噪音，太吵了，轰鸣")
    assert one.category == two.category == Category.NOISE
    assert two.confidence > one.confidence


def test_mixed_evidence_is_less_sure() -> None:
    assert classify("扬尘，有点吵").confidence < classify("扬尘").confidence


WORDS = [w for words in KEYWORDS.values() for w in words]


@given(st.text(max_size=200))
def test_any_text_gives_an_answer_in_range(text: str) -> None:
    found = classify(text)
    assert 0 <= found.confidence <= 1
    assert (found.category == Category.OTHER) == (found.confidence < SURE or not found.keywords)


@given(st.sampled_from([c for c in KEYWORDS]), st.text(alphabet="的了在是我有这个", max_size=20))
def test_a_strong_keyword_alone_decides(category: Category, filler: str) -> None:
    strong = next(w for w, weight in KEYWORDS[category].items() if weight == 2)
    found = classify(f"{filler}{strong}{filler}")
    assert found.category == category and found.confidence >= SURE
