"""Reconciliation: compare the hub's platform cases with the platform's view and repair what
differs. Two directions:

- an assignment in the platform's feed that the hub has no case for is taken now (through
  the intake, as the pull would have);
- a case whose last status the platform does not show gets that status again, with the same
  idempotency key the outbox used (so a platform that had it after all takes it once).

What it cannot repair it names: statuses still in the outbox (in flight, not a difference), a
dead letter (ADMIN decides), a case the platform does not know.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from sqlalchemy import func, select

from connectors.ingest import Refused as NotTaken
from connectors.platform import intake, push
from connectors.platform.adapter import Platform, StatusUpdate, Unavailable, View
from connectors.platform.protocol import Update, UpdateKind, parse_update
from connectors.platform.pull import puller_scope
from connectors.platform.settings import PlatformSettings
from hub.auth import system_scope
from hub.backoff import Policy, delay
from hub.cases.enums import STATUS_LABELS, CaseStatus
from hub.cases.intake import PLATFORM_SYSTEM
from hub.cases.model import Case, Event, ExternalRef
from hub.config import Settings
from hub.db import Database, utcnow
from hub.outbox.model import OutboxMessage, SendState

log = logging.getLogger("connectors.platform")
T = TypeVar("T")
ATTEMPTS = 6


@dataclass
class Reconciliation:
    checked_cases: int = 0
    checked_assignments: int = 0
    repaired: list[str] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)  # statuses in the outbox: in flight
    attention: list[str] = field(default_factory=list)  # what needs a person

    @property
    def differences(self) -> int:
        return len(self.repaired) + len(self.attention)

    def summary(self) -> str:
        return (
            f"checked {self.checked_cases} platform case(s) and {self.checked_assignments} "
            f"assignment(s): {len(self.repaired)} repaired, {len(self.waiting)} in flight, "
            f"{len(self.attention)} need attention"
        )


RETRY = Policy(base=0.4, cap=5.0)  # a few quick tries: reconcile is run by a person


async def _retrying(call: Callable[[], Awaitable[T]]) -> T:
    """The platform may fail now and then: a few tries, backing off, before giving up."""
    for attempt in range(ATTEMPTS):
        try:
            return await call()
        except Unavailable:
            if attempt == ATTEMPTS - 1:
                raise
            await asyncio.sleep(delay(attempt + 1, RETRY))
    raise AssertionError("unreachable")


async def _platform_assignments(platform: Platform, page_size: int) -> dict[str, Update]:
    """Every ASSIGNED update in the platform's feed, from its beginning, by platformCaseId."""
    found: dict[str, Update] = {}
    cursor: str | None = None
    while True:
        page = await _retrying(functools.partial(platform.assignments, cursor, page_size))
        for raw in page.items:
            update = parse_update(raw)
            if isinstance(update, Update) and update.type == UpdateKind.ASSIGNED:
                found.setdefault(update.platform_case_id, update)
        if not page.items or page.next is None or page.next == cursor:
            return found
        cursor = page.next


async def _hub_refs(db: Database) -> dict[str, uuid.UUID]:
    scope = await system_scope(db)
    async with db.session(scope.tenant_ids) as session:
        rows = await session.execute(
            select(ExternalRef.external_id, ExternalRef.case_id).where(
                ExternalRef.system == PLATFORM_SYSTEM
            )
        )
        return {external_id: case_id for external_id, case_id in rows}


async def _missing_cases(
    db: Database,
    settings: Settings,
    assignments: dict[str, Update],
    refs: dict[str, uuid.UUID],
    repair: bool,
    out: Reconciliation,
) -> None:
    scope = await puller_scope(db)
    for platform_case_id, update in sorted(assignments.items()):
        if platform_case_id in refs:
            continue
        if not repair:
            out.repaired.append(f"{platform_case_id}: assigned, no case in the hub (would take)")
            continue
        try:
            answer = await intake.take(db, scope, settings, dict(update.assignment or {}), utcnow())
        except NotTaken as refused:
            reason = "; ".join(f"{p.field}: {p.message}" for p in refused.problems)
            out.attention.append(f"{platform_case_id}: assigned, refused by the hub: {reason}")
            continue
        out.repaired.append(
            f"{platform_case_id}: assigned, had no case: registered {answer.body['caseNumber']}"
        )


@dataclass(frozen=True)
class HubSide:
    case: Case
    last: Event | None  # the latest event with a status
    outbox: dict[str, int]  # undelivered messages of the case by state


async def _hub_side(db: Database, case_id: uuid.UUID) -> HubSide:
    scope = await system_scope(db)
    async with db.session(scope.tenant_ids) as session:
        case = await session.get(Case, case_id)
        assert case is not None
        last = await session.scalar(
            select(Event)
            .where(Event.case_id == case_id, Event.to_status.is_not(None))
            .order_by(Event.at.desc(), Event.id.desc())
            .limit(1)
        )
        rows = await session.execute(
            select(OutboxMessage.state, func.count())
            .where(
                OutboxMessage.ordering_key == push.ordering_key(case_id),
                OutboxMessage.state != SendState.DELIVERED,
            )
            .group_by(OutboxMessage.state)
        )
        return HubSide(case, last, {state: n for state, n in rows})


def _agrees(view: View, case: Case) -> bool:
    return view.status == CaseStatus(case.status) and view.case_number == case.number


async def _check_case(
    platform: Platform,
    db: Database,
    platform_case_id: str,
    case_id: uuid.UUID,
    repair: bool,
    out: Reconciliation,
) -> None:
    view = await _retrying(lambda: platform.view(platform_case_id))
    side = await _hub_side(db, case_id)
    case = side.case
    if view is None:
        out.attention.append(f"{platform_case_id} ({case.number}): the platform does not know it")
        return
    if _agrees(view, case):
        return
    said = view.status_name or "nothing"
    if side.outbox.get(SendState.DEAD):
        out.attention.append(
            f"{platform_case_id} ({case.number}): platform shows {said}, hub is {case.status}; "
            f"a dead letter holds its statuses (ADMIN: deadLetters, retryOutboxMessage)"
        )
        return
    if side.outbox:
        n = sum(side.outbox.values())
        out.waiting.append(f"{platform_case_id}: {n} status(es) on their way")
        return
    if side.last is None:
        out.attention.append(f"{platform_case_id} ({case.number}): no status to send")
        return
    if repair:
        status = _status_of(platform_case_id, case, side.last)
        await _retrying(lambda: platform.send_status(status))
    verb = "sent" if repair else "would send"
    out.repaired.append(
        f"{platform_case_id} ({case.number}): platform shows {said}, hub is {case.status}: "
        f"{verb} {case.status}"
    )


def _status_of(platform_case_id: str, case: Case, event: Event) -> StatusUpdate:
    # A repair re-sends where the case stands now, not the last event's words.
    note = f"对账补发：案件 {case.number} 当前状态为{STATUS_LABELS[case.status]}"
    payload = push.status_payload(platform_case_id, case, case.status, event, note)
    return StatusUpdate(
        platform_case_id,
        case.number,
        CaseStatus(case.status),
        payload["note"],
        payload["at"],
        push.idempotency_key(event.id, platform_case_id),
    )


async def reconcile(
    db: Database,
    settings: Settings,
    psettings: PlatformSettings,
    platform: Platform,
    *,
    repair: bool = True,
) -> Reconciliation:
    out = Reconciliation()
    assignments = await _platform_assignments(platform, psettings.page_size)
    out.checked_assignments = len(assignments)
    refs = await _hub_refs(db)
    await _missing_cases(db, settings, assignments, refs, repair, out)
    refs = await _hub_refs(db) if repair else refs
    out.checked_cases = len(refs)
    for platform_case_id, case_id in sorted(refs.items()):
        await _check_case(platform, db, platform_case_id, case_id, repair, out)
    return out
