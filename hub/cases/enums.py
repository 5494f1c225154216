"""The case graph's vocabulary (pure)."""

from __future__ import annotations

import enum


class CaseStatus(enum.StrEnum):
    REGISTERED = "REGISTERED"  # 登记
    DISPATCHED = "DISPATCHED"  # 转办
    HANDLING = "HANDLING"  # 办理
    UNDER_REVIEW = "UNDER_REVIEW"  # 督查/审核
    RESOLVED = "RESOLVED"  # 办结
    FEEDBACK_GIVEN = "FEEDBACK_GIVEN"  # 反馈
    CLOSED = "CLOSED"  # 结案
    MERGED = "MERGED"
    REJECTED = "REJECTED"


# Statuses in which a case is still someone's work.
OPEN_STATUSES = frozenset(
    {CaseStatus.REGISTERED, CaseStatus.DISPATCHED, CaseStatus.HANDLING, CaseStatus.UNDER_REVIEW}
)
FINAL_STATUSES = frozenset({CaseStatus.CLOSED, CaseStatus.MERGED, CaseStatus.REJECTED})


class Channel(enum.StrEnum):
    HOTLINE = "HOTLINE"
    MONITORING = "MONITORING"
    PLATFORM = "PLATFORM"
    GRID = "GRID"
    OTHER = "OTHER"


def channel_bit(channel: Channel) -> int:
    """Channels as bits, so "cases that came by any of these channels" is one indexed test."""
    return 1 << list(Channel).index(channel)


def channels_of(mask: int) -> list[Channel]:
    return [c for c in Channel if mask & channel_bit(c)]


class Category(enum.StrEnum):
    AIR = "AIR"
    WATER = "WATER"
    NOISE = "NOISE"
    DUST = "DUST"
    SOLID_WASTE = "SOLID_WASTE"
    VEHICLE = "VEHICLE"
    SOIL = "SOIL"
    OTHER = "OTHER"


class Priority(enum.StrEnum):
    NORMAL = "NORMAL"
    URGENT = "URGENT"


class Card(enum.StrEnum):
    NONE = "NONE"
    YELLOW = "YELLOW"
    RED = "RED"


class LinkKind(enum.StrEnum):
    DUPLICATE = "DUPLICATE"
    RELATED = "RELATED"
    JOINT = "JOINT"  # 联合执法


class ReportOutcome(enum.StrEnum):
    """Why a report did (or did not) become a case: always answerable."""

    OPENED = "OPENED"  # opened a new case
    ATTACHED = "ATTACHED"  # attached to an open case about the same problem
    REJECTED = "REJECTED"  # its case was rejected


class Satisfaction(enum.StrEnum):
    SATISFIED = "SATISFIED"
    BASICALLY_SATISFIED = "BASICALLY_SATISFIED"
    UNSATISFIED = "UNSATISFIED"
    UNREACHABLE = "UNREACHABLE"


class EventKind(enum.StrEnum):
    """Timeline actions: the workflow's plus what happens beside it."""

    REGISTER = "REGISTER"
    REPORT_ATTACHED = "REPORT_ATTACHED"
    DISPATCH = "DISPATCH"
    ACCEPT = "ACCEPT"
    PROGRESS = "PROGRESS"
    SUBMIT = "SUBMIT"
    APPROVE = "APPROVE"
    RETURN = "RETURN"
    FEEDBACK = "FEEDBACK"
    CLOSE = "CLOSE"
    MERGE = "MERGE"
    MERGE_RECEIVED = "MERGE_RECEIVED"  # another case was merged into this one
    REJECT = "REJECT"
    REOPEN = "REOPEN"
    URGE = "URGE"  # 督办
    CARD = "CARD"  # 红黄牌
    RECALL = "RECALL"  # not accepted in time: back to the dispatcher's queue
    SUSPEND = "SUSPEND"  # 挂起
    RESUME = "RESUME"  # 解挂
    EXTENSION_REQUESTED = "EXTENSION_REQUESTED"  # 延期申请
    EXTENSION_APPROVED = "EXTENSION_APPROVED"
    EXTENSION_REFUSED = "EXTENSION_REFUSED"
    ALARM_ENDED = "ALARM_ENDED"  # the monitoring alarm behind the case is over
    ALARM_REPEATED = "ALARM_REPEATED"  # a new alarm episode about what the open case is about
    ALARM_LATE = "ALARM_LATE"  # late data (a backfill) shows an episode that is already over
    PRIORITY_RAISED = "PRIORITY_RAISED"  # several different callers about one case
    REPORT_SPLIT = "REPORT_SPLIT"  # a report was split off into a case of its own
    SPLIT_FROM = "SPLIT_FROM"  # this case began as a report split off another
