"""The pure day builder of work diaries (hub/diaries/day.py), table by table."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from hub.diaries.day import (
    SUMMARY_TEXT_MAX,
    Entry,
    EntryKind,
    FindingFact,
    PatrolFact,
    StepFact,
    build_day,
    day_window,
)

TZ = ZoneInfo("Asia/Shanghai")
DAY = date(2026, 12, 3)
START, END = day_window(DAY, TZ)


def at(hour: float, minute: int = 0) -> datetime:
    """A local time of DAY, as the database gives it back (UTC)."""
    return (START + timedelta(hours=hour, minutes=minute)).astimezone(UTC)


def test_the_day_is_the_local_day() -> None:
    start, end = day_window(DAY, TZ)
    assert start == datetime(2026, 12, 2, 16, 0, tzinfo=UTC)
    assert end - start == timedelta(days=1)


def patrol(
    start: datetime, end: datetime | None, meters: float = 1234.0, summary: str | None = "正常"
) -> PatrolFact:
    return PatrolFact("ROUTINE", start, end, meters, summary)


PATROL_CASES = [
    # (what, the patrol, the entries' (kind, summary))
    (
        "a whole patrol in the day",
        patrol(at(8), at(10)),
        [
            (EntryKind.PATROL_STARTED, "出发日常巡查"),
            (EntryKind.PATROL_ENDED, "结束日常巡查，轨迹 1.2 公里：正常"),
        ],
    ),
    ("still open", patrol(at(8), None), [(EntryKind.PATROL_STARTED, "出发日常巡查")]),
    (
        "started the evening before",
        patrol(at(-2), at(1), meters=350, summary=None),
        [(EntryKind.PATROL_ENDED, "结束日常巡查，轨迹 350 米")],
    ),
    ("ended the next day", patrol(at(23), at(25)), [(EntryKind.PATROL_STARTED, "出发日常巡查")]),
    ("all the day before", patrol(at(-5), at(-1)), []),
    ("midnight belongs to the next day", patrol(at(24), at(25)), []),
    (
        "the first instant belongs to the day",
        patrol(at(0), None),
        [(EntryKind.PATROL_STARTED, "出发日常巡查")],
    ),
    (
        "a night patrol, its summary on one line",
        PatrolFact("NIGHT", at(21), at(23), 0.0, "路边\n有  烟"),
        [
            (EntryKind.PATROL_STARTED, "出发夜查"),
            (EntryKind.PATROL_ENDED, "结束夜查，轨迹 0 米：路边 有 烟"),
        ],
    ),
]


@pytest.mark.parametrize(
    ("what", "fact", "expected"), PATROL_CASES, ids=[c[0] for c in PATROL_CASES]
)
def test_patrols(what: str, fact: PatrolFact, expected: list[tuple[EntryKind, str]]) -> None:
    entries = build_day(START, END, [fact], [], [])
    assert [(e.kind, e.summary) for e in entries] == expected
    assert all(e.case_number is None for e in entries)


STEP_CASES = [
    (
        StepFact(at(9), "ACCEPT", "XM-2026-000001", "夜间扬尘", None),
        Entry(
            at(9), EntryKind.CASE_ACCEPTED, "签收案件 XM-2026-000001：夜间扬尘", "XM-2026-000001"
        ),
    ),
    (
        StepFact(at(9), "PROGRESS", "XM-2026-000002", "t", "已到现场"),
        Entry(
            at(9), EntryKind.PROGRESS, "案件 XM-2026-000002 办理进展：已到现场", "XM-2026-000002"
        ),
    ),
    (
        StepFact(at(9), "PROGRESS", "XM-2026-000002", "t", None),
        Entry(at(9), EntryKind.PROGRESS, "案件 XM-2026-000002 办理进展", "XM-2026-000002"),
    ),
    (
        StepFact(at(9), "SUBMIT", "XM-2026-000003", "t", "已整改"),
        Entry(
            at(9),
            EntryKind.RESULT_SUBMITTED,
            "提交案件 XM-2026-000003 办理结果：已整改",
            "XM-2026-000003",
        ),
    ),
    # Steps a member's diary does not show, and steps outside the day.
    (StepFact(at(9), "REGISTER", "XM-2026-000004", "t", None), None),
    (StepFact(at(9), "URGE", "XM-2026-000004", "t", "快办"), None),
    (StepFact(at(-1), "ACCEPT", "XM-2026-000005", "t", None), None),
    (StepFact(at(24), "ACCEPT", "XM-2026-000005", "t", None), None),
]


@pytest.mark.parametrize(("fact", "expected"), STEP_CASES)
def test_case_steps(fact: StepFact, expected: Entry | None) -> None:
    assert build_day(START, END, [], [], [fact]) == ([expected] if expected else [])


FINDING_CASES = [
    (
        FindingFact(at(9), "路边焚烧垃圾", "XM-2026-000007", False),
        Entry(
            at(9),
            EntryKind.FINDING,
            "巡查发现问题：路边焚烧垃圾，已上报（案件 XM-2026-000007）",
            "XM-2026-000007",
        ),
    ),
    (
        FindingFact(at(9), "路边焚烧垃圾", "XM-2026-000008", True),
        Entry(
            at(9),
            EntryKind.RESOLVED_ON_SITE,
            "巡查发现并现场解决：路边焚烧垃圾（案件 XM-2026-000008）",
            "XM-2026-000008",
        ),
    ),
    (FindingFact(at(-0.5), "昨晚的", "XM-2026-000009", False), None),
]


@pytest.mark.parametrize(("fact", "expected"), FINDING_CASES)
def test_findings(fact: FindingFact, expected: Entry | None) -> None:
    assert build_day(START, END, [], [fact], []) == ([expected] if expected else [])


def test_entries_in_time_order_ties_by_kind_then_case() -> None:
    entries = build_day(
        START,
        END,
        [patrol(at(8), at(9))],
        [FindingFact(at(8, 30), "扬尘", "XM-2026-000020", False)],
        [
            StepFact(at(9), "SUBMIT", "XM-2026-000011", "t", "好了"),
            StepFact(at(9), "ACCEPT", "XM-2026-000012", "t", None),
            StepFact(at(9), "ACCEPT", "XM-2026-000010", "t", None),
            StepFact(at(7), "PROGRESS", "XM-2026-000010", "t", "路上"),
        ],
    )
    assert [(e.at, e.kind, e.case_number) for e in entries] == [
        (at(7), EntryKind.PROGRESS, "XM-2026-000010"),
        (at(8), EntryKind.PATROL_STARTED, None),
        (at(8, 30), EntryKind.FINDING, "XM-2026-000020"),
        (at(9), EntryKind.CASE_ACCEPTED, "XM-2026-000010"),
        (at(9), EntryKind.CASE_ACCEPTED, "XM-2026-000012"),
        (at(9), EntryKind.RESULT_SUBMITTED, "XM-2026-000011"),
        (at(9), EntryKind.PATROL_ENDED, None),
    ]


def test_long_texts_are_cut() -> None:
    [entry] = build_day(START, END, [], [], [StepFact(at(9), "PROGRESS", "N", "t", "长" * 500)])
    quoted = entry.summary.split("：", 1)[1]
    assert len(quoted) == SUMMARY_TEXT_MAX and quoted.endswith("…")


def test_kinds_are_stable_codes() -> None:
    assert [k.value for k in EntryKind] == [
        "PATROL_STARTED",
        "FINDING",
        "RESOLVED_ON_SITE",
        "CASE_ACCEPTED",
        "PROGRESS",
        "RESULT_SUBMITTED",
        "PATROL_ENDED",
    ]


def test_an_empty_day() -> None:
    assert build_day(START, END, [], [], []) == []
