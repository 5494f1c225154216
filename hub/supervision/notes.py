"""The Chinese text of supervision's notifications: which case, in which town, whose work, due
when (local time). Pure: the caller looks up the town's and the assignee's names."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import tzinfo
from typing import Any

from hub.cases.enums import CARD_LABELS, Card
from hub.cases.model import Case
from hub.localtime import local_text


@dataclass(frozen=True)
class Who:
    """What a notification names besides the case: its town and the person handling it."""

    town_code: str
    town_name: str
    assignee: str | None


def case_line(case: Case, who: Who, tz: tzinfo) -> str:
    """e.g. "超化镇 案件XM2026000123（水泥厂粉尘），承办人：张伟，办理期限 2026-12-10 00:00"."""
    due = f"，办理期限 {local_text(case.due_at, tz)}" if case.due_at else ""
    return (
        f"{who.town_name} 案件{case.number}（{case.title}），"
        f"承办人：{who.assignee or '未指派'}{due}"
    )


def urged_text(case: Case, who: Who, tz: tzinfo, note: str, by: str) -> str:
    return f"督办：{case_line(case, who, tz)}。督办意见：{note}（{by}）"


def carded_text(
    case: Case, who: Who, tz: tzinfo, level: Card, phase_name: str, *, automatic: bool
) -> str:
    how = "超时自动亮" if automatic else "督查亮"
    return f"{how}{CARD_LABELS[level]}：{case_line(case, who, tz)}。{phase_name}环节超时"


def who_data(case: Case, who: Who) -> dict[str, Any]:
    """The same facts for machines (codes and ISO times)."""
    return {
        "town": who.town_code,
        "townName": who.town_name,
        "assignee": who.assignee,
        "dueAt": case.due_at.isoformat() if case.due_at else None,
    }
