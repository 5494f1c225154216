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
    DEADLINE_CHANGED = "DEADLINE_CHANGED"  # 期限调整: a deadline set from outside (the platform)
    HAND_BACK = "HAND_BACK"  # 退回指挥中心: a town returns a misrouted case to the dispatcher
    ALARM_ENDED = "ALARM_ENDED"  # the monitoring alarm behind the case is over
    ALARM_REPEATED = "ALARM_REPEATED"  # a new alarm episode about what the open case is about
    ALARM_LATE = "ALARM_LATE"  # late data (a backfill) shows an episode that is already over
    PRIORITY_RAISED = "PRIORITY_RAISED"  # several different callers about one case
    REPORT_SPLIT = "REPORT_SPLIT"  # a report was split off into a case of its own
    SPLIT_FROM = "SPLIT_FROM"  # this case began as a report split off another
    RESOLVED_ON_SITE = "RESOLVED_ON_SITE"  # 现场解决: a patrol's finding solved there and then
    JOINT_ACTION = "JOINT_ACTION"  # 联合执法: departments acted together on this case (and others)


# What a person reads for each code: every Chinese sentence names a status, channel, category,
# priority, card or timeline action through these tables (the API keeps the codes for machines).
STATUS_LABELS: dict[str, str] = {
    CaseStatus.REGISTERED: "登记",
    CaseStatus.DISPATCHED: "转办",
    CaseStatus.HANDLING: "办理",
    CaseStatus.UNDER_REVIEW: "督查",
    CaseStatus.RESOLVED: "办结",
    CaseStatus.FEEDBACK_GIVEN: "反馈",
    CaseStatus.CLOSED: "结案",
    CaseStatus.MERGED: "合并",
    CaseStatus.REJECTED: "不予受理",
}
CHANNEL_LABELS: dict[str, str] = {
    Channel.HOTLINE: "12369热线",
    Channel.MONITORING: "在线监控",
    Channel.PLATFORM: "社管平台",
    Channel.GRID: "网格巡查",
    Channel.OTHER: "其他",
}
CATEGORY_LABELS: dict[str, str] = {
    Category.AIR: "大气",
    Category.WATER: "水",
    Category.NOISE: "噪声",
    Category.DUST: "扬尘",
    Category.SOLID_WASTE: "固废",
    Category.VEHICLE: "机动车",
    Category.SOIL: "土壤",
    Category.OTHER: "其他",
}
PRIORITY_LABELS: dict[str, str] = {Priority.NORMAL: "一般", Priority.URGENT: "紧急"}
CARD_LABELS: dict[str, str] = {Card.NONE: "无", Card.YELLOW: "黄牌", Card.RED: "红牌"}
ACTION_LABELS: dict[str, str] = {
    EventKind.REGISTER: "登记",
    EventKind.REPORT_ATTACHED: "并入举报",
    EventKind.DISPATCH: "转办",
    EventKind.ACCEPT: "签收",
    EventKind.PROGRESS: "办理进展",
    EventKind.SUBMIT: "提交审核",
    EventKind.APPROVE: "审核通过",
    EventKind.RETURN: "审核退回",
    EventKind.FEEDBACK: "反馈",
    EventKind.CLOSE: "结案",
    EventKind.MERGE: "合并",
    EventKind.MERGE_RECEIVED: "并入案件",
    EventKind.REJECT: "不予受理",
    EventKind.REOPEN: "重新办理",
    EventKind.URGE: "督办",
    EventKind.CARD: "亮牌",
    EventKind.RECALL: "收回",
    EventKind.SUSPEND: "挂起",
    EventKind.RESUME: "解挂",
    EventKind.EXTENSION_REQUESTED: "延期申请",
    EventKind.EXTENSION_APPROVED: "延期批准",
    EventKind.EXTENSION_REFUSED: "延期驳回",
    EventKind.DEADLINE_CHANGED: "期限调整",
    EventKind.HAND_BACK: "退回指挥中心",
    EventKind.ALARM_ENDED: "报警结束",
    EventKind.ALARM_REPEATED: "再次报警",
    EventKind.ALARM_LATE: "补传数据报警",
    EventKind.PRIORITY_RAISED: "提高优先级",
    EventKind.REPORT_SPLIT: "拆分举报",
    EventKind.SPLIT_FROM: "拆分自",
    EventKind.RESOLVED_ON_SITE: "现场解决",
    EventKind.JOINT_ACTION: "联合执法",
}
