"""The pure parts of the public side: query codes (derived, well formed, kept as a keyed hash
bound to the report) and the public view (only public steps, the approved reply struck of
phones and names, no reply after a reopen), and Open311's form checks."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.open311 import georeport
from hub.public import codes
from hub.public.view import PublicCase, PublicEvent, reply, steps, strike

SECRET = "s" * 48
T0 = datetime(2026, 11, 28, 1, 30, tzinfo=UTC)


@given(st.uuids())
def test_codes_are_derived_well_formed_and_bound_to_their_report(report_id: uuid.UUID) -> None:
    code = codes.code_for(SECRET, report_id)
    assert codes.well_formed(code) and code == codes.code_for(SECRET, report_id)
    assert code != codes.code_for("t" * 48, report_id)  # another key, another code
    kept = codes.stored_hash(SECRET, report_id, code)
    assert code not in kept and len(kept) == 64
    assert codes.matches(SECRET, report_id, code.lower(), kept)
    assert codes.matches(SECRET, report_id, f"{code[:3]} -{code[3:]}", kept)
    assert not codes.matches(SECRET, uuid.uuid4(), code, kept)  # another report's hash
    assert not codes.matches(SECRET, report_id, code, None)


def test_codes_spread_over_the_alphabet() -> None:
    seen = {c for _ in range(300) for c in codes.code_for(SECRET, uuid.uuid4())}
    assert seen == set(codes.ALPHABET)
    assert not set("01OILUV") & set(codes.ALPHABET)
    assert not codes.well_formed("ABCDE") and not codes.well_formed("ABCDE0")


def event(action: str, minutes: int, note: str | None = None) -> PublicEvent:
    return PublicEvent(action, T0 + timedelta(minutes=minutes), note)


TIMELINE = [
    event("REGISTER", 0, "分派依据：来集镇张三家"),
    event("DISPATCH", 1, "请王五处理"),
    event("DISPATCH", 2, "改派"),
    event("URGE", 3, "督办：赵六 13800000000"),
    event("ACCEPT", 4),
    event("PROGRESS", 5, "内部掌握"),
    event("SUBMIT", 6, "第一稿"),
    event("RETURN", 7, "退回重写"),
    event("SUBMIT", 8, "王五已到场，已责令整改，来电人 13812345678"),
    event("APPROVE", 9),
]


def test_only_public_steps_once_each_in_order() -> None:
    shown = steps(reversed(TIMELINE))
    assert [code for code, _, _ in shown] == ["RECEIVED", "DISPATCHED", "HANDLING", "RESOLVED"]
    assert shown[1][2] == T0 + timedelta(minutes=1)


def test_reply_is_the_approved_result_struck_and_withdrawn_by_reopen() -> None:
    found = reply(TIMELINE, {"王五", "x"})
    assert found is not None and found.at == T0 + timedelta(minutes=9)
    assert found.text == "**已到场，已责令整改，来电人 ***"
    assert reply(TIMELINE[:-1], set()) is None  # not approved yet
    assert reply([*TIMELINE, event("REOPEN", 10, "不满意")], set()) is None
    assert strike("请联系 0371-62345678 或 王五", ["王五"]) == "请联系 *** 或 **"


def test_view_json_has_words_local_times_and_no_notes() -> None:
    view = PublicCase("XM-2026-000001", "HANDLING", "DUST", T0, TIMELINE[:6], frozenset())
    answer = view.as_json(ZoneInfo("Asia/Shanghai"))
    assert answer["statusText"] == "办理中" and answer["categoryText"] == "扬尘"
    assert answer["received"] == {"at": "2026-11-28T09:30:00+08:00", "atLocal": "2026-11-28 09:30"}
    assert answer["updated"]["at"] == "2026-11-28T09:34:00+08:00"  # the accept, not the note
    assert answer["reply"] is None
    text = repr(answer)
    for note in ("张三", "王五", "改派", "督办", "13800000000", "内部掌握", "第一稿"):
        assert note not in text


FORM = {"service_code": "dust", "lat": "34.5", "long": "113.4", "description": "扬尘。很大"}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"service_code": None}, "service_code"),
        ({"service_code": "X"}, "service_code"),
        ({"lat": None, "long": None}, "lat"),
        ({"lat": None}, "lat"),
        ({"long": "nan"}, "long"),
        ({"long": "200"}, "long"),
        ({"description": "  "}, "description"),
        ({"description": "x" * 20000}, "description"),
    ],
)
def test_open311_form_refusals_name_the_field(changes: dict, field: str) -> None:
    form = {k: v for k, v in {**FORM, **changes}.items() if v is not None}
    with pytest.raises(georeport.GeoReportError) as refused:
        georeport.register_input(form, T0, None)
    assert refused.value.status == 400 and refused.value.field == field


def test_open311_form_as_a_report() -> None:
    form = {**FORM, "first_name": "小明", "last_name": "王", "api_key": "secret"}
    inp = georeport.register_input(form, T0, "k1")
    assert inp.category == "DUST" and inp.title == "扬尘" and inp.reporter_name == "王小明"
    assert inp.external_id == "open311:k1" and "api_key" not in inp.payload
    address_only = {"service_code": "AIR", "address_string": "来集镇", "description": "异味"}
    assert georeport.register_input(address_only, T0, None).latitude is None
