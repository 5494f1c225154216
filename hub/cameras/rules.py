"""What a camera event becomes: the rules as data (pure, no I/O).

Each kind a recorder reports has one :class:`Rule`. The defaults (:data:`DEFAULT_RULES`) are
what a monitoring desk expects; a deployment replaces any of them with
``SANWANG_VIDEO_RULES`` (JSON, e.g. ``{"MOTION_AT_NIGHT": {"alarming": true}}``), documented
in docs/video.md.

- ``alarming``: the kind opens a MONITORING case on the camera's source (or joins the case
  still open about the same camera and kind);
- ``min_confidence``: an analytic's event below it is recorded on the camera, not a case;
- ``category``: the case's category.

Events that are not alarming (night-time motion, OTHER) and low-confidence ones are recorded on
the camera; HEARTBEAT only says the camera is alive; OFFLINE (the recorder says it lost the
camera) marks the camera offline at once, and the offline check opens its case.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any


class EventKind(enum.StrEnum):
    DISCHARGE = "DISCHARGE"  # 异常排放
    BLACK_SMOKE = "BLACK_SMOKE"  # 冒黑烟
    OCCLUSION = "OCCLUSION"  # 镜头遮挡
    MOTION_AT_NIGHT = "MOTION_AT_NIGHT"  # 夜间活动
    HEARTBEAT = "HEARTBEAT"  # 心跳
    OFFLINE = "OFFLINE"  # 录像机报告摄像头离线
    OTHER = "OTHER"


KIND_NAMES: dict[str, str] = {
    "DISCHARGE": "异常排放",
    "BLACK_SMOKE": "冒黑烟",
    "OCCLUSION": "镜头遮挡",
    "MOTION_AT_NIGHT": "夜间活动",
    "HEARTBEAT": "心跳",
    "OFFLINE": "视频离线",
    "OTHER": "其他事件",
}


class Outcome(enum.StrEnum):
    OPENED = "OPENED"  # opened a case (a new episode with a case of its own)
    JOINED = "JOINED"  # a new episode on the case already open about camera and kind
    REPEATED = "REPEATED"  # within the repeat window of the open episode: added to its case
    RECORDED = "RECORDED"  # kept on the camera, no case (the reason says why)
    HEARTBEAT = "HEARTBEAT"  # the camera is alive
    OFFLINE = "OFFLINE"  # the recorder says the camera is offline


@dataclass(frozen=True)
class Rule:
    alarming: bool = False
    min_confidence: float | None = None
    category: str = "OTHER"


DEFAULT_RULES: dict[str, Rule] = {
    EventKind.DISCHARGE: Rule(alarming=True, min_confidence=0.6, category="WATER"),
    EventKind.BLACK_SMOKE: Rule(alarming=True, min_confidence=0.6, category="AIR"),
    # A covered lens hides what the camera is there for: a case, whatever the confidence.
    EventKind.OCCLUSION: Rule(alarming=True, category="OTHER"),
    # Night-time motion at a works is usually a shift or a guard: recorded, not a case.
    EventKind.MOTION_AT_NIGHT: Rule(alarming=False, min_confidence=0.6, category="OTHER"),
    EventKind.HEARTBEAT: Rule(),
    EventKind.OFFLINE: Rule(),
    EventKind.OTHER: Rule(),
}

_FIELDS = {"alarming", "minConfidence", "category"}
CATEGORIES = {"AIR", "WATER", "NOISE", "DUST", "SOLID_WASTE", "VEHICLE", "SOIL", "OTHER"}


def rules_from(text: str | None) -> dict[str, Rule]:
    """The defaults with the overrides of ``text`` (a JSON object by kind); ValueError naming
    what is wrong."""
    rules = dict(DEFAULT_RULES)
    if not text:
        return rules
    given = json.loads(text)
    if not isinstance(given, dict):
        raise ValueError("must be a JSON object keyed by event kind")
    for kind, spec in given.items():
        if kind not in DEFAULT_RULES or kind in (EventKind.HEARTBEAT, EventKind.OFFLINE):
            raise ValueError(f"{kind!r} is not a kind whose rule can be set")
        if not isinstance(spec, dict) or set(spec) - _FIELDS:
            raise ValueError(f"{kind}: an object of {sorted(_FIELDS)}")
        rules[kind] = _rule(rules[kind], kind, spec)
    return rules


def _rule(base: Rule, kind: str, spec: Mapping[str, Any]) -> Rule:
    rule = base
    if "alarming" in spec:
        if not isinstance(spec["alarming"], bool):
            raise ValueError(f"{kind}.alarming: true or false")
        rule = replace(rule, alarming=spec["alarming"])
    if "minConfidence" in spec:
        value = spec["minConfidence"]
        ok = value is None or (isinstance(value, int | float) and 0 <= value <= 1)
        if not ok or isinstance(value, bool):
            raise ValueError(f"{kind}.minConfidence: a number from 0 to 1, or null")
        rule = replace(rule, min_confidence=None if value is None else float(value))
    if "category" in spec:
        if spec["category"] not in CATEGORIES:
            raise ValueError(f"{kind}.category: one of {sorted(CATEGORIES)}")
        rule = replace(rule, category=spec["category"])
    return rule


@dataclass(frozen=True)
class Verdict:
    alarm: bool  # open a case or join/add to the open one
    outcome: Outcome | None  # set when there is no alarm
    reason: str | None = None  # in Chinese, why no case


def judge(rules: Mapping[str, Rule], kind: str, confidence: float | None) -> Verdict:
    """What one event becomes under ``rules`` (the repeat window is the episode's business)."""
    if kind == EventKind.HEARTBEAT:
        return Verdict(False, Outcome.HEARTBEAT)
    if kind == EventKind.OFFLINE:
        return Verdict(False, Outcome.OFFLINE, "录像机报告摄像头离线，由离线检查按时限立案")
    rule = rules.get(kind, Rule())
    if not rule.alarming:
        return Verdict(False, Outcome.RECORDED, f"按规则，{KIND_NAMES.get(kind, kind)}只记录不立案")
    threshold = rule.min_confidence
    if threshold is not None and confidence is not None and confidence < threshold:
        return Verdict(
            False,
            Outcome.RECORDED,
            f"置信度{confidence:g}低于立案阈值{threshold:g}，只记录不立案",
        )
    return Verdict(True, None)
