"""The camera event rules (hub/cameras/rules.py, pure): every kind under the defaults, the
confidence threshold, and overrides from SANWANG_VIDEO_RULES (good and refused)."""

from __future__ import annotations

import pytest

from hub.cameras.rules import DEFAULT_RULES, EventKind, Outcome, judge, rules_from


@pytest.mark.parametrize(
    ("kind", "confidence", "alarm", "outcome"),
    [
        ("DISCHARGE", 0.9, True, None),
        ("DISCHARGE", 0.6, True, None),
        ("DISCHARGE", 0.59, False, Outcome.RECORDED),
        ("DISCHARGE", None, True, None),
        ("BLACK_SMOKE", 0.95, True, None),
        ("BLACK_SMOKE", 0.1, False, Outcome.RECORDED),
        ("OCCLUSION", 0.01, True, None),
        ("MOTION_AT_NIGHT", 0.99, False, Outcome.RECORDED),
        ("OTHER", 0.99, False, Outcome.RECORDED),
        ("HEARTBEAT", None, False, Outcome.HEARTBEAT),
        ("OFFLINE", None, False, Outcome.OFFLINE),
    ],
)
def test_the_defaults(kind: str, confidence: float | None, alarm: bool, outcome: Outcome) -> None:
    verdict = judge(DEFAULT_RULES, kind, confidence)
    assert verdict.alarm is alarm and verdict.outcome == outcome
    assert verdict.alarm or verdict.reason or outcome is Outcome.HEARTBEAT


def test_every_kind_has_a_rule() -> None:
    assert set(DEFAULT_RULES) == set(EventKind)


def test_overrides_replace_only_what_they_name() -> None:
    rules = rules_from(
        '{"MOTION_AT_NIGHT": {"alarming": true}, "DISCHARGE": {"minConfidence": 0.8}}'
    )
    assert judge(rules, "MOTION_AT_NIGHT", 0.7).alarm
    assert not judge(rules, "MOTION_AT_NIGHT", 0.5).alarm  # the default threshold stays
    assert not judge(rules, "DISCHARGE", 0.7).alarm and judge(rules, "DISCHARGE", 0.8).alarm
    assert rules["DISCHARGE"].category == "WATER"
    assert rules_from(None) == DEFAULT_RULES


@pytest.mark.parametrize(
    "text",
    [
        "[]",
        "not json",
        '{"FIRE": {"alarming": true}}',
        '{"HEARTBEAT": {"alarming": true}}',
        '{"OTHER": {"alarming": "yes"}}',
        '{"OTHER": {"minConfidence": 2}}',
        '{"OTHER": {"minConfidence": true}}',
        '{"OTHER": {"category": "FIRE"}}',
        '{"OTHER": {"colour": "red"}}',
    ],
)
def test_bad_overrides_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        rules_from(text)
