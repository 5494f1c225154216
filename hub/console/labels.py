"""What people read in the console: statuses in words (已登记 ...), local times, clocks (pure)."""

from __future__ import annotations

from datetime import datetime, tzinfo

from hub.cases.enums import CaseStatus
from hub.localtime import local_text

# The status as the console says it ("the case 已转办"); the API's statusLabel keeps the short
# noun (转办) for machines and sentences.
STATUS_WORDS: dict[str, str] = {
    CaseStatus.REGISTERED: "已登记",
    CaseStatus.DISPATCHED: "已转办",
    CaseStatus.HANDLING: "办理中",
    CaseStatus.UNDER_REVIEW: "待审核",
    CaseStatus.RESOLVED: "已办结",
    CaseStatus.FEEDBACK_GIVEN: "已反馈",
    CaseStatus.CLOSED: "已结案",
    CaseStatus.MERGED: "已合并",
    CaseStatus.REJECTED: "不予受理",
}

PHASE_WORDS = {"ACCEPT": "签收", "HANDLE": "办理", "REVIEW": "审核", "DISPATCH": "转办"}
LEVEL_WORDS = {"CITY": "市级", "TOWN": "乡镇", "MEMBER": "网格员", "GRID": "网格"}
SATISFACTION_WORDS = {
    "SATISFIED": "满意",
    "BASICALLY_SATISFIED": "基本满意",
    "UNSATISFIED": "不满意",
    "UNREACHABLE": "无法联系",
}
END_REASON_WORDS = {
    "HANDED_BACK": "退回指挥中心",
    "RECALLED": "收回",
    "REDISPATCHED": "重新转办",
    "RESOLVED": "办结",
}


def status_word(status: str) -> str:
    return STATUS_WORDS.get(status, status)


def local(at: datetime | None, tz: tzinfo) -> str:
    """A time in local time for people ("2026-12-10 00:00"), or a dash."""
    return local_text(at, tz) if at is not None else "—"


def clock_state(yellow_at: datetime | None, red_at: datetime | None, now: datetime) -> str:
    """ "red", "yellow" or "" for a clock: which threshold it has passed."""
    if red_at is not None and now >= red_at:
        return "red"
    if yellow_at is not None and now >= yellow_at:
        return "yellow"
    return ""
