"""The gazetteer: which town or village an address names (pure), as a table over the demo
world's own names, plus made-up worlds for the ambiguous cases."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.cases.gazetteer import Gazetteer, Place, fold, names_of
from hub.demo import world

IDS = {t.code: uuid.uuid5(uuid.NAMESPACE_DNS, t.code) for t in world.TOWNS}
CELLS = {(c.tenant, c.code): uuid.uuid5(uuid.NAMESPACE_URL, c.code) for c in world.CELLS}


def demo_places() -> list[Place]:
    towns = [Place(IDS[t.code], None, 2, t.name) for t in world.TOWNS]
    cells = [
        Place(IDS[c.tenant], CELLS[(c.tenant, c.code)], c.level, c.name)
        for c in world.CELLS
        if c.level >= 2
    ]
    return towns + cells


GAZ = Gazetteer(demo_places())


def cell(town: str, code: str) -> uuid.UUID:
    return CELLS[(town, code)]


@pytest.mark.parametrize(
    ("address", "town", "cell_code"),
    [
        # a village names its own cell
        ("来集镇李堂村工业路", "laiji", "laiji-02"),
        ("新密市来集镇李堂村", "laiji", "laiji-02"),
        ("李堂村", "laiji", "laiji-02"),
        ("河南省郑州市新密市超化镇黄固寺村3号", "chaohua", "chaohua-02"),
        ("大隗镇 五虎庙村 东头", "dawei", "dawei-03"),
        ("ＰＩＮＧＭＯ平陌镇三岔口村", "pingmo", "pingmo-02"),  # full-width letters
        # a town alone names the town's cell
        ("来集镇政府对面", "laiji", "laiji"),
        ("来集", "laiji", "laiji"),  # the stem: the town before its village 来集村
        ("曲梁乡", "quliang", "quliang"),
        # a town and its own village that shares its stem: the village named in full wins
        ("来集镇来集村", "laiji", "laiji-01"),
        ("牛店村", "niudian", "niudian-01"),
    ],
)
def test_an_address_names_its_place(address: str, town: str, cell_code: str) -> None:
    found = GAZ.find(address)
    assert found is not None, address
    assert found.place.tenant_id == IDS[town]
    assert found.place.cell_id == cell(town, cell_code)


@pytest.mark.parametrize(
    "address",
    [
        None,
        "",
        "郑州市金水区农业路",  # no place of the county
        "新密市",  # the city is the fallback, not a place here
        "来集镇超化村",  # two towns named: a person decides
        "李堂村和苏寨村之间",  # two villages of one town: which cell?
        "来集镇黄固寺村",  # a village of another town than the one named
        "村",  # a suffix alone
    ],
)
def test_nothing_or_ambiguity_names_nothing(address: str | None) -> None:
    assert GAZ.find(address) is None


def test_a_name_two_towns_share_names_neither() -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    gaz = Gazetteer(
        [
            Place(a, uuid.uuid4(), 3, "王庄村网格"),
            Place(b, uuid.uuid4(), 3, "王庄村网格"),
            Place(b, uuid.uuid4(), 3, "李庄村网格"),
        ]
    )
    assert gaz.find("王庄村") is None
    found = gaz.find("王庄村李庄村")  # the shared name says nothing, the other one does
    assert found is not None and found.place.tenant_id == b


@pytest.mark.parametrize(
    ("name", "names"),
    [
        ("李堂村网格", {"李堂村", "李堂"}),
        ("来集镇网格", {"来集镇", "来集"}),
        ("来集镇", {"来集镇", "来集"}),
        ("青屏街道", {"青屏街道", "青屏"}),
        ("新华路社区网格", {"新华路社区", "新华路"}),
        ("王村", {"王村"}),  # a one-character stem names nothing
        ("网格", {"网格"}),
    ],
)
def test_names_of_a_place(name: str, names: set[str]) -> None:
    assert names_of(name) == names


def test_fold_ignores_width_space_and_punctuation() -> None:
    assert fold("来集镇 李堂村，（工业路）") == "来集镇李堂村工业路"
    assert fold("ＡＢＣ１２３") == "abc123"


@given(st.text(max_size=80))
def test_find_never_raises_and_answers_a_known_place(text: str) -> None:
    found = GAZ.find(text)
    assert found is None or found.place in set(demo_places()) or found.place.cell_id is None
