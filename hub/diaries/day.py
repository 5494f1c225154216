"""A member's working day as the record shows it (pure: rows in, entries out, no I/O).

The service reads the day's rows (patrols, findings, the case steps the member took) and this
module turns them into the diary's entries: each with its time, a stable kind for machines and a
Chinese summary for people, in time order (ties in the order of ``EntryKind``, then by case).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

SUMMARY_TEXT_MAX = 200  # a note or patrol summary quoted in an entry is cut here (…)


class EntryKind(enum.StrEnum):
    """What an entry records; the order here breaks ties between entries at the same time."""

    PATROL_STARTED = "PATROL_STARTED"  # 出发巡查
    FINDING = "FINDING"  # 巡查发现问题 (a GRID report, a case)
    RESOLVED_ON_SITE = "RESOLVED_ON_SITE"  # 现场解决
    CASE_ACCEPTED = "CASE_ACCEPTED"  # 签收案件
    PROGRESS = "PROGRESS"  # 办理进展
    RESULT_SUBMITTED = "RESULT_SUBMITTED"  # 提交办理结果
    PATROL_ENDED = "PATROL_ENDED"  # 结束巡查


_ORDER = {kind: i for i, kind in enumerate(EntryKind)}

PATROL_KIND_LABELS = {
    "ROUTINE": "日常巡查",
    "ENTERPRISE": "企业检查",
    "NIGHT": "夜查",
    "JOINT": "联合巡查",
}

# The case steps a member's diary shows, by the timeline's action (hub.cases.enums.EventKind).
STEP_KINDS = {
    "ACCEPT": EntryKind.CASE_ACCEPTED,
    "PROGRESS": EntryKind.PROGRESS,
    "SUBMIT": EntryKind.RESULT_SUBMITTED,
}


@dataclass(frozen=True)
class PatrolFact:
    kind: str  # PatrolKind
    started_at: datetime
    ended_at: datetime | None
    track_meters: float
    summary: str | None


@dataclass(frozen=True)
class FindingFact:
    at: datetime
    title: str
    case_number: str
    resolved_on_site: bool


@dataclass(frozen=True)
class StepFact:
    """A step the member took on a case's timeline (ACCEPT, PROGRESS, SUBMIT; others ignored)."""

    at: datetime
    action: str
    case_number: str
    case_title: str
    note: str | None


@dataclass(frozen=True)
class Entry:
    at: datetime
    kind: EntryKind
    summary: str
    case_number: str | None = None


def day_window(day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The local day as [start, end) instants (a day is not always 24 hours somewhere)."""
    start = datetime.combine(day, time(), tz)
    end = datetime.combine(day + timedelta(days=1), time(), tz)
    return start, end


def _quote(text: str | None) -> str:
    """A person's text quoted in one line, cut to a readable length."""
    flat = " ".join((text or "").split())
    return flat if len(flat) <= SUMMARY_TEXT_MAX else flat[: SUMMARY_TEXT_MAX - 1] + "…"


def _distance(meters: float) -> str:
    return f"{meters / 1000:.1f} 公里" if meters >= 1000 else f"{meters:.0f} 米"


def _patrol_entries(patrol: PatrolFact, start: datetime, end: datetime) -> list[Entry]:
    label = PATROL_KIND_LABELS.get(patrol.kind, "巡查")
    found = []
    if start <= patrol.started_at < end:
        found.append(Entry(patrol.started_at, EntryKind.PATROL_STARTED, f"出发{label}"))
    if patrol.ended_at is not None and start <= patrol.ended_at < end:
        summary = f"结束{label}，轨迹 {_distance(patrol.track_meters)}"
        said = _quote(patrol.summary)
        found.append(
            Entry(
                patrol.ended_at, EntryKind.PATROL_ENDED, f"{summary}：{said}" if said else summary
            )
        )
    return found


def _finding_entry(finding: FindingFact) -> Entry:
    title = _quote(finding.title)
    if finding.resolved_on_site:
        kind, summary = EntryKind.RESOLVED_ON_SITE, f"巡查发现并现场解决：{title}"
    else:
        kind, summary = EntryKind.FINDING, f"巡查发现问题：{title}，已上报"
    return Entry(finding.at, kind, f"{summary}（案件 {finding.case_number}）", finding.case_number)


def _step_entry(step: StepFact) -> Entry | None:
    kind = STEP_KINDS.get(step.action)
    if kind is None:
        return None
    number, note = step.case_number, _quote(step.note)
    if kind is EntryKind.CASE_ACCEPTED:
        summary = f"签收案件 {number}：{_quote(step.case_title)}"
    elif kind is EntryKind.PROGRESS:
        summary = f"案件 {number} 办理进展：{note}" if note else f"案件 {number} 办理进展"
    else:
        summary = f"提交案件 {number} 办理结果：{note}" if note else f"提交案件 {number} 办理结果"
    return Entry(step.at, kind, summary, number)


def build_day(
    start: datetime,
    end: datetime,
    patrols: list[PatrolFact],
    findings: list[FindingFact],
    steps: list[StepFact],
) -> list[Entry]:
    """The entries of the day [start, end): what happened outside it is left out, each patrol
    gives its start and end where they fall in the day; sorted by time, kind, case number."""
    entries: list[Entry] = []
    for patrol in patrols:
        entries += _patrol_entries(patrol, start, end)
    entries += [_finding_entry(f) for f in findings if start <= f.at < end]
    for step in steps:
        entry = _step_entry(step) if start <= step.at < end else None
        if entry is not None:
            entries.append(entry)
    return sorted(entries, key=lambda e: (e.at, _ORDER[e.kind], e.case_number or ""))
