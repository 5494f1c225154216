"""The platform protocol's vocabulary (pure): update kinds, what became of an update, the one
table mapping the hub's case statuses to the platform's, and parsing a page of updates.

A page is ``{"items": [...], "next": CURSOR}``; an item is one update:
``{"updateId", "platformCaseId", "type", "at", ...}`` where type ASSIGNED carries
``"assignment"`` (the body of POST /ingest/platform), DEADLINE carries ``"deadline"`` and
URGED an optional ``"note"``. See docs/platform.md.
"""

from __future__ import annotations

import enum
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from connectors.ingest import OffsetTime, Problem, Text, problem_of
from hub.cases.enums import CaseStatus


class UpdateKind(enum.StrEnum):
    ASSIGNED = "ASSIGNED"  # 交办: a new case for the county
    DEADLINE = "DEADLINE"  # the platform set a new deadline (延期批准, 限期调整)
    URGED = "URGED"  # 督办: the platform presses for progress


class Outcome(enum.StrEnum):
    APPLIED = "APPLIED"  # the case was opened or changed
    STALE = "STALE"  # older than the case's last change: on record, the case left alone
    REFUSED = "REFUSED"  # invalid, or conflicting with what came before (the reason says)
    UNKNOWN_CASE = "UNKNOWN_CASE"  # about a platformCaseId the hub never got assigned


_S = CaseStatus
# THE status table: hub status -> the platform's name for it. One-to-one, so the platform's
# view can be read back (reconcile). Another platform's adapter replaces this table.
STATUSES: dict[CaseStatus, str] = {
    _S.REGISTERED: "RECEIVED",  # 已接收
    _S.DISPATCHED: "DISPATCHED",  # 已转办
    _S.HANDLING: "HANDLING",  # 办理中
    _S.UNDER_REVIEW: "REVIEWING",  # 审核中
    _S.RESOLVED: "RESOLVED",  # 已办结
    _S.FEEDBACK_GIVEN: "FEEDBACK_GIVEN",  # 已反馈
    _S.CLOSED: "CLOSED",  # 已结案
    _S.MERGED: "MERGED",  # 已并案
    _S.REJECTED: "REFUSED",  # 不予受理
}


def platform_status(status: str, table: dict[CaseStatus, str] = STATUSES) -> str:
    """The platform's name of a hub status (KeyError for a status the table lacks)."""
    return table[CaseStatus(status)]


def hub_status(name: str, table: dict[CaseStatus, str] = STATUSES) -> CaseStatus | None:
    """The hub status the platform's name stands for, or None if the table has no such name."""
    for status, platform_name in table.items():
        if platform_name == name:
            return status
    return None


class Update(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    update_id: Text = Field(alias="updateId", max_length=128)
    platform_case_id: Text = Field(alias="platformCaseId", max_length=128)
    type: UpdateKind
    at: OffsetTime
    assignment: dict[str, Any] | None = None
    deadline: OffsetTime | None = None
    note: str | None = Field(None, max_length=4000)


@dataclass(frozen=True)
class BadItem:
    """An item that cannot be taken: kept on record under ``update_id`` with the problems."""

    update_id: str
    platform_case_id: str
    problems: list[Problem]
    raw: dict[str, Any]


def parse_update(raw: Any) -> Update | BadItem:
    """One item, or why it cannot be taken (never an exception: one bad item must not stop the
    feed)."""
    if not isinstance(raw, dict):
        return BadItem(_fingerprint(raw), "", [Problem("item", "must be a JSON object")], {})
    try:
        update = Update.model_validate(raw)
    except ValidationError as exc:
        problems = [problem_of(e) for e in exc.errors(include_url=False)]
        return _bad(raw, problems)
    missing = _missing_part(update)
    return _bad(raw, [missing]) if missing else update


def _missing_part(update: Update) -> Problem | None:
    if update.type == UpdateKind.ASSIGNED and update.assignment is None:
        return Problem("assignment", "an ASSIGNED update needs the assignment")
    if update.type == UpdateKind.ASSIGNED:
        inner = update.assignment.get("platformCaseId") if update.assignment else None
        if inner != update.platform_case_id:
            return Problem("assignment", "assignment.platformCaseId must equal platformCaseId")
    if update.type == UpdateKind.DEADLINE and update.deadline is None:
        return Problem("deadline", "a DEADLINE update needs the deadline")
    return None


def _bad(raw: dict[str, Any], problems: list[Problem]) -> BadItem:
    update_id = raw.get("updateId")
    if not isinstance(update_id, str) or not update_id.strip() or len(update_id) > 128:
        update_id = _fingerprint(raw)
    case_id = raw.get("platformCaseId")
    case_id = case_id[:128] if isinstance(case_id, str) else ""
    return BadItem(update_id, case_id, problems, raw)


def _fingerprint(raw: Any) -> str:
    text = json.dumps(raw, sort_keys=True, ensure_ascii=False, default=str)
    return "invalid:" + hashlib.sha256(text.encode()).hexdigest()[:40]


def in_taking_order(updates: list[Update]) -> list[Update]:
    """A page's updates in the order they are taken: assignments first (a page may come
    shuffled, and an update must not arrive before its case), then by the platform's time."""
    return sorted(updates, key=lambda u: (u.type != UpdateKind.ASSIGNED, u.at, u.update_id))


@dataclass(frozen=True)
class Page:
    items: list[Any]
    next: str | None


def parse_page(body: Any) -> Page:
    """``{"items": [...], "next": CURSOR}``; ValueError naming what is wrong."""
    if not isinstance(body, dict):
        raise ValueError("a page must be a JSON object")
    items, cursor = body.get("items"), body.get("next")
    if not isinstance(items, list):
        raise ValueError("a page needs items: a list")
    if cursor is not None and (not isinstance(cursor, str) or len(cursor) > 500):
        raise ValueError("next must be a string (at most 500 characters) or null")
    return Page(items, cursor or None)


def is_stale(update_at: datetime, last_change: datetime) -> bool:
    """An update made before the case last changed must not move it (never backwards)."""
    return update_at <= last_change
