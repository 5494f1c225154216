"""The public view of one case, pure: what a caller (or anyone with a case number and its
query code, or an Open311 client) may read.

Status in words, the dates of the public steps and the reply to the caller; never a person's
name or phone, an internal note or anything of another case. Only the steps below are shown,
by their fixed words: no event's note is ever shown except the approved result (the reply),
with phone numbers and the names of the people on the case struck out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from hub.cases.enums import CATEGORY_LABELS, CaseStatus, EventKind
from hub.cases.phones import strike_phones
from hub.localtime import local_text

# The status as the caller reads it.
STATUS_WORDS: dict[str, str] = {
    CaseStatus.REGISTERED: "已受理",
    CaseStatus.DISPATCHED: "已转办",
    CaseStatus.HANDLING: "办理中",
    CaseStatus.UNDER_REVIEW: "办理中",
    CaseStatus.RESOLVED: "已办结",
    CaseStatus.FEEDBACK_GIVEN: "已办结",
    CaseStatus.CLOSED: "已办结",
    CaseStatus.MERGED: "已合并办理",
    CaseStatus.REJECTED: "不予受理",
}
# Open311's two statuses.
OPEN311_OPEN = frozenset(
    {CaseStatus.REGISTERED, CaseStatus.DISPATCHED, CaseStatus.HANDLING, CaseStatus.UNDER_REVIEW}
)

# The timeline actions the public sees, as (step code, words); every other action (notes,
# progress, urges, cards, returns, extensions, hand-backs ...) is internal.
PUBLIC_STEPS: dict[str, tuple[str, str]] = {
    EventKind.REGISTER: ("RECEIVED", "已受理"),
    EventKind.DISPATCH: ("DISPATCHED", "已转交承办单位"),
    EventKind.ACCEPT: ("HANDLING", "承办单位开始办理"),
    EventKind.APPROVE: ("RESOLVED", "已办结"),
    EventKind.RESOLVED_ON_SITE: ("RESOLVED", "已现场处理办结"),
    EventKind.FEEDBACK: ("FEEDBACK", "已回访"),
    EventKind.CLOSE: ("CLOSED", "已结案"),
    EventKind.REOPEN: ("REOPENED", "重新办理"),
    EventKind.REJECT: ("REJECTED", "不予受理"),
    EventKind.MERGE: ("MERGED", "已与反映同一问题的来件合并办理"),
}
# The reply is the result the office submitted, once a reviewer approved it (what the hotline
# callback sends the call system); a reopened case has no reply until it is approved again.
_RESULT, _APPROVED, _WITHDRAWN = EventKind.SUBMIT, EventKind.APPROVE, EventKind.REOPEN
NAME_MARK = "**"


@dataclass(frozen=True)
class PublicEvent:
    action: str
    at: datetime
    note: str | None


@dataclass(frozen=True)
class Reply:
    text: str
    at: datetime


def steps(events: Iterable[PublicEvent]) -> list[tuple[str, str, datetime]]:
    """The public steps in time order; a step repeated back to back (re-dispatch) once."""
    shown: list[tuple[str, str, datetime]] = []
    for event in sorted(events, key=lambda e: e.at):
        step = PUBLIC_STEPS.get(event.action)
        if step is None or (shown and shown[-1][0] == step[0]):
            continue
        shown.append((step[0], step[1], event.at))
    return shown


def reply(events: Iterable[PublicEvent], names: Iterable[str]) -> Reply | None:
    """The approved result, struck of phones and names, or None."""
    result: str | None = None
    found: Reply | None = None
    for event in sorted(events, key=lambda e: e.at):
        if event.action == _RESULT:
            result = event.note
        elif event.action == _APPROVED and result:
            found = Reply(strike(result, names), event.at)
        elif event.action == _WITHDRAWN:
            found = None
    return found


def strike(text: str, names: Iterable[str]) -> str:
    """Phone numbers and the given names (of two characters or more) struck out."""
    text = strike_phones(text)
    known = sorted({n.strip() for n in names if n and len(n.strip()) >= 2}, key=len, reverse=True)
    if known:
        text = re.sub("|".join(re.escape(n) for n in known), NAME_MARK, text)
    return text


def when(at: datetime, tz: tzinfo) -> dict[str, str]:
    """A time for machines (ISO 8601 with the local offset) and for people (local, minutes)."""
    return {"at": at.astimezone(tz).isoformat(timespec="seconds"), "atLocal": local_text(at, tz)}


@dataclass(frozen=True)
class PublicCase:
    """One case as the public reads it."""

    number: str  # the number that was asked for
    status: str
    category: str
    received_at: datetime
    events: Sequence[PublicEvent]
    names: frozenset[str]  # people on the case, struck from the reply
    merged: bool = False  # the number asked for was merged into the case shown

    def strike(self, text: str) -> str:
        return strike(text, self.names)

    def as_json(self, tz: tzinfo) -> dict[str, Any]:
        answer, shown = reply(self.events, self.names), steps(self.events)
        # The last public change: internal activity (notes, urges) does not show through.
        updated = max([self.received_at, *(at for _, _, at in shown)])
        return {
            "caseNumber": self.number,
            "status": self.status,
            "statusText": STATUS_WORDS.get(self.status, "办理中"),
            "category": self.category,
            "categoryText": CATEGORY_LABELS.get(self.category, "其他"),
            "merged": self.merged,
            "received": when(self.received_at, tz),
            "updated": when(updated, tz),
            "steps": [{"step": code, "text": text, **when(at, tz)} for code, text, at in shown],
            "reply": {"text": answer.text, **when(answer.at, tz)} if answer else None,
        }
