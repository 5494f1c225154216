"""The note sent to the city platform: Chinese for the platform's people, naming the case and
its town, deadlines in local time; never the hub's internal routing reason."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from connectors.platform.push import platform_note
from hub.cases.enums import EventKind
from hub.cases.model import Case, Event

SHANGHAI = ZoneInfo("Asia/Shanghai")
DUE = datetime(2026, 12, 9, 16, tzinfo=UTC)  # midnight in Asia/Shanghai


def case() -> Case:
    return Case(number="XM2026000123", title="水泥厂粉尘", due_at=DUE)


def event(action: EventKind, note: str | None = None, **data: str) -> Event:
    return Event(action=action, note=note, data=data, at=DUE)


def test_a_registration_names_the_case_and_town_not_the_route() -> None:
    routed = event(EventKind.REGISTER, "分派依据：位置在超化镇的网格内", route="x")
    note = platform_note(case(), routed, "超化镇", SHANGHAI)
    assert note == "已受理，登记为案件 XM2026000123，由超化镇办理"


def test_a_dispatch_gives_the_deadline_in_local_time() -> None:
    note = platform_note(case(), event(EventKind.DISPATCH, "请尽快处理"), "超化镇", SHANGHAI)
    assert note == "转办至超化镇，办理期限 2026-12-10 00:00：请尽快处理"


def test_other_actions_read_as_their_chinese_label() -> None:
    note = platform_note(case(), event(EventKind.PROGRESS, "已到现场"), "超化镇", SHANGHAI)
    assert note == "办理进展：已到现场"
    for action in EventKind:
        text = platform_note(case(), event(action), "超化镇", SHANGHAI) or ""
        assert not re.search(r"[A-Za-z]{3,}", text.replace("XM", "")), (action, text)
