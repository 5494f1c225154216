"""Pulling the platform's updates: page by page from the stored cursor, each update taken once
(by its id) through the same intake as POST /ingest/platform, the cursor moved only after the
page's updates committed, and a failing platform backed off (then paused).

A crash between an update's commit and the cursor's leaves the cursor behind: the page comes
again and its updates are recognised by id. Nothing is taken twice, nothing is skipped.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from connectors.ingest import Refused as NotTaken
from connectors.platform import intake
from connectors.platform.adapter import Platform, PlatformError
from connectors.platform.model import PlatformCursor, PlatformUpdate
from connectors.platform.protocol import (
    BadItem,
    Outcome,
    Update,
    UpdateKind,
    in_taking_order,
    is_stale,
    parse_update,
)
from connectors.platform.settings import PlatformSettings
from hub.auth import Principal, Scope, scope_for, system_scope
from hub.backoff import Policy, delay, is_pause
from hub.cases import inputs, loaders, timeline
from hub.cases import intake as case_intake
from hub.cases.duplicates import Rules
from hub.cases.enums import FINAL_STATUSES, STATUS_LABELS, Channel, EventKind
from hub.cases.model import Case, Event, ExternalRef, Report
from hub.config import Settings
from hub.db import Database, utcnow
from hub.errors import DomainError
from hub.roles import Role
from hub.supervision import clocks

log = logging.getLogger("connectors.platform")

PULLER = Principal("platform-pull", "市平台（拉取）", frozenset({Role.PLATFORM}), ())
CURSOR = "platform"  # the name of the pull's cursor row


def policy_of(settings: PlatformSettings) -> Policy:
    return Policy(
        settings.backoff_seconds,
        settings.backoff_max_seconds,
        settings.pause_after_failures,
        settings.pause_seconds,
    )


@dataclass
class PullResult:
    pages: int = 0
    items: int = 0  # items looked at (repeats included)
    outcomes: dict[str, int] = field(default_factory=dict)
    skipped_until: datetime | None = None  # backing off: nothing was asked
    error: str | None = None

    def count(self, outcome: str) -> None:
        key = str(outcome)
        self.outcomes[key] = self.outcomes.get(key, 0) + 1


async def puller_scope(db: Database) -> Scope:
    return scope_for(PULLER, (await system_scope(db)).directory)


# --- the cursor ---------------------------------------------------------------------------------


async def load_cursor(db: Database) -> PlatformCursor:
    async with db.session((), write=True) as session, session.begin():
        row = await session.get(PlatformCursor, CURSOR)
        if row is None:
            row = PlatformCursor(name=CURSOR, cursor=None, failures=0, taken=0, updated_at=utcnow())
            session.add(row)
    return row


async def _save_cursor(db: Database, **values: Any) -> None:
    async with db.session((), write=True) as session, session.begin():
        row = await session.get(PlatformCursor, CURSOR, with_for_update=True)
        assert row is not None  # load_cursor made it
        for name, value in values.items():
            setattr(row, name, value)
        row.updated_at = utcnow()


async def _advance(db: Database, cursor: str, taken: int) -> None:
    async with db.session((), write=True) as session, session.begin():
        row = await session.get(PlatformCursor, CURSOR, with_for_update=True)
        assert row is not None
        row.cursor, row.taken, row.updated_at = cursor, row.taken + taken, utcnow()


# --- one run ------------------------------------------------------------------------------------


async def pull_once(
    db: Database, settings: Settings, psettings: PlatformSettings, platform: Platform
) -> PullResult:
    """Take pages until the feed is drained (or max_pages_per_run); back off on failure."""
    result = PullResult()
    state = await load_cursor(db)
    now = utcnow()
    if state.next_attempt_at is not None and now < state.next_attempt_at:
        result.skipped_until = state.next_attempt_at
        return result
    scope = await puller_scope(db)
    cursor = state.cursor
    try:
        for _ in range(psettings.max_pages_per_run):
            page = await platform.assignments(cursor, psettings.page_size)
            result.pages += 1
            result.items += len(page.items)
            await take_page(db, scope, settings, page.items, result, psettings.batch_size)
            if page.next is not None and page.next != cursor:
                await _advance(db, page.next, len(page.items))
                cursor = page.next
            if not page.items or page.next is None or len(page.items) < psettings.page_size:
                break
    except PlatformError as exc:
        result.error = str(exc)
        await _failed(db, state.failures + 1, result.error, psettings)
        return result
    if state.failures or state.next_attempt_at:
        log.info("platform pull works again after %d failure(s)", state.failures)
        await _save_cursor(db, failures=0, next_attempt_at=None, last_error=None)
    return result


async def _failed(db: Database, failures: int, error: str, psettings: PlatformSettings) -> None:
    policy = policy_of(psettings)
    wait = delay(failures, policy)
    if is_pause(failures, policy):
        log.error(
            "platform pull failed %d times in a row, pausing %.0f s: %s", failures, wait, error
        )
    else:
        log.warning("platform pull failed (%d), next in %.1f s: %s", failures, wait, error)
    await _save_cursor(
        db,
        failures=failures,
        next_attempt_at=utcnow() + timedelta(seconds=wait),
        last_error=error[:2000],
    )


async def take_page(
    db: Database,
    scope: Scope,
    settings: Settings,
    items: list[Any],
    result: PullResult,
    batch_size: int = 200,
) -> None:
    """Take a page's updates in order; consecutive assignments ``batch_size`` to a transaction."""
    updates: list[Update] = []
    for raw in items:
        parsed = parse_update(raw)
        if isinstance(parsed, BadItem):
            result.count(await _refuse_bad(db, parsed))
        else:
            updates.append(parsed)
    seen = await _seen_among(db, [u.update_id for u in updates])
    todo: list[Update] = []
    for update in in_taking_order(updates):
        if update.update_id in seen:
            result.count(SEEN)  # taken before, or twice in this page
        else:
            seen.add(update.update_id)
            todo.append(update)
    batch: list[Update] = []
    for update in todo:
        if update.type == UpdateKind.ASSIGNED and len(batch) < batch_size:
            batch.append(update)
            continue
        await _take_batch(db, scope, settings, batch, result)
        batch = [update] if update.type == UpdateKind.ASSIGNED else []
        if update.type != UpdateKind.ASSIGNED:
            result.count(await take_update(db, scope, settings, update))
    await _take_batch(db, scope, settings, batch, result)


async def _seen_among(db: Database, update_ids: list[str]) -> set[str]:
    found: set[str] = set()
    async with db.session(()) as session:
        for start in range(0, len(update_ids), 500):
            chunk = update_ids[start : start + 500]
            found.update(
                await session.scalars(
                    select(PlatformUpdate.update_id).where(PlatformUpdate.update_id.in_(chunk))
                )
            )
    return found


async def _take_batch(
    db: Database, scope: Scope, settings: Settings, batch: list[Update], result: PullResult
) -> None:
    """Assignments in one transaction; if any of them is refused (or a concurrent delivery
    got there first) nothing of the batch is kept and each is taken on its own instead."""
    if not batch:
        return
    if await _register_all(db, scope, settings, batch):
        for _ in batch:
            result.count(Outcome.APPLIED)
        return
    for update in batch:
        result.count(await take_update(db, scope, settings, update))


async def _register_all(
    db: Database, scope: Scope, settings: Settings, batch: list[Update]
) -> bool:
    now = utcnow()
    try:
        inputs = [
            intake.register_input(
                intake.parse(dict(u.assignment or {}), now),
                dict(u.assignment or {}),
                scope.directory,
            )
            for u in batch
        ]
    except NotTaken:
        return False
    tz = intake_tz(settings)
    try:
        async with db.session(scope.tenant_ids, write=True) as session, session.begin():
            # One flush for the batch (bulk INSERTs) instead of one per case. A repeat of an
            # assignment pending in this very batch is then not seen: the unique keys refuse
            # it at the flush, and the batch is taken one by one instead.
            with session.sync_session.no_autoflush:
                for update, inp in zip(batch, inputs, strict=True):
                    done = await case_intake.register(
                        session,
                        scope,
                        inp,
                        tz=tz,
                        prefix=settings.case_number_prefix,
                        rules=Rules.of(settings),
                    )
                    reason = "" if done.created else f"此前已交办（案件 {done.case.number}）"
                    session.add(_record(update, Outcome.APPLIED, reason, done.case.id))
    except (DomainError, IntegrityError):
        return False
    return True


# --- one update ---------------------------------------------------------------------------------

SEEN = "SEEN"  # an update id taken before: ignored


async def _seen(db: Database, update_id: str) -> bool:
    async with db.session(()) as session:
        return await session.get(PlatformUpdate, update_id) is not None


def _record(update: Update, outcome: Outcome, reason: str, case_id: Any = None) -> PlatformUpdate:
    return PlatformUpdate(
        update_id=update.update_id,
        platform_case_id=update.platform_case_id,
        kind=update.type,
        at=update.at,
        received_at=utcnow(),
        case_id=case_id,
        outcome=outcome,
        reason=reason[:2000],
        payload=update.model_dump(mode="json", by_alias=True, exclude_none=True),
    )


async def _keep(db: Database, row: PlatformUpdate) -> str:
    """Write a record on its own (an update that changed nothing); SEEN if one was there."""
    try:
        async with db.session((), write=True) as session, session.begin():
            if await session.get(PlatformUpdate, row.update_id) is not None:
                return SEEN
            session.add(row)
    except IntegrityError:
        return SEEN
    return row.outcome


async def _refuse_bad(db: Database, bad: BadItem) -> str:
    reason = "; ".join(f"{p.field}: {p.message}" for p in bad.problems)
    log.warning("platform update %s refused: %s", bad.update_id, reason)
    row = PlatformUpdate(
        update_id=bad.update_id,
        platform_case_id=bad.platform_case_id,
        kind="INVALID",
        at=utcnow(),
        received_at=utcnow(),
        case_id=None,
        outcome=Outcome.REFUSED,
        reason=reason[:2000],
        payload=bad.raw,
    )
    return await _keep(db, row)


async def take_update(db: Database, scope: Scope, settings: Settings, update: Update) -> str:
    """Take one update exactly once; its outcome (or SEEN)."""
    if await _seen(db, update.update_id):
        return SEEN
    if update.type == UpdateKind.ASSIGNED:
        return await _take_assignment(db, scope, settings, update)
    try:
        async with db.session(scope.tenant_ids, write=True) as session, session.begin():
            if await session.get(PlatformUpdate, update.update_id) is not None:
                return SEEN
            outcome, reason, case_id = await _apply(session, scope, update, intake_tz(settings))
            session.add(_record(update, outcome, reason, case_id))
    except IntegrityError:
        return SEEN  # taken at the same moment elsewhere (a POST, another puller)
    if outcome != Outcome.APPLIED:
        log.info("platform update %s: %s (%s)", update.update_id, outcome, reason)
    return outcome


async def _take_assignment(db: Database, scope: Scope, settings: Settings, update: Update) -> str:
    """Through the intake (POST /ingest/platform's path), the update's record in the same
    transaction as the case."""

    async def register(session: AsyncSession, scope: Scope, inp: inputs.RegisterInput):
        done = await case_intake.register(
            session,
            scope,
            inp,
            tz=intake_tz(settings),
            prefix=settings.case_number_prefix,
            rules=Rules.of(settings),
        )
        if await session.get(PlatformUpdate, update.update_id) is None:
            reason = "" if done.created else f"此前已交办（案件 {done.case.number}）"
            session.add(_record(update, Outcome.APPLIED, reason, done.case.id))
        return done

    try:
        await intake.take(db, scope, settings, dict(update.assignment or {}), utcnow(), register)
    except NotTaken as refused:
        reason = "; ".join(f"{p.field}: {p.message}" for p in refused.problems)
        log.warning("platform assignment %s refused: %s", update.platform_case_id, reason)
        return await _keep(db, _record(update, Outcome.REFUSED, f"{refused.status} {reason}"))
    return Outcome.APPLIED


def intake_tz(settings: Settings) -> ZoneInfo:
    return ZoneInfo(settings.timezone)


async def case_of(session: AsyncSession, platform_case_id: str) -> Case | None:
    case_id = await session.scalar(
        select(ExternalRef.case_id)
        .where(ExternalRef.system == case_intake.PLATFORM_SYSTEM)
        .where(ExternalRef.external_id == platform_case_id)
        .limit(1)
    )
    return None if case_id is None else await loaders.case_for_change(session, case_id)


async def _apply(
    session: AsyncSession, scope: Scope, update: Update, tz: ZoneInfo
) -> tuple[Outcome, str, Any]:
    case = await case_of(session, update.platform_case_id)
    if case is None:
        return Outcome.UNKNOWN_CASE, "没有案件对应这个平台案件编号", None
    if update.type == UpdateKind.DEADLINE:
        last = await last_deadline_change(session, case, update.platform_case_id)
        if is_stale(update.at, last):
            return Outcome.STALE, f"早于 {last.isoformat()} 已设定的办理期限", case.id
        assert update.deadline is not None
        previous = case.due_at
        await clocks.fix_deadline(session, case, update.deadline, tz)
        data = {
            "by": "platform",
            "dueAt": update.deadline.isoformat(),
            "previousDueAt": previous.isoformat() if previous else None,
            **_origin(update),
        }
        note = update.note or "市平台调整办理期限"
        await timeline.record(
            session, scope, case, EventKind.DEADLINE_CHANGED, None, None, note, data
        )
        return Outcome.APPLIED, "", case.id
    # URGED: on the timeline, unless the case was finished after the platform urged.
    if case.status in FINAL_STATUSES and case.closed_at and is_stale(update.at, case.closed_at):
        return Outcome.STALE, f"督办发出后案件已{STATUS_LABELS[case.status]}", case.id
    data = {"by": "platform", **_origin(update)}
    await timeline.record(session, scope, case, EventKind.URGE, None, None, update.note, data)
    return Outcome.APPLIED, "", case.id


def _origin(update: Update) -> dict[str, str]:
    return {"update": update.update_id, "platformAt": update.at.isoformat()}


async def last_deadline_change(
    session: AsyncSession, case: Case, platform_case_id: str
) -> datetime:
    """When the case's deadline last changed, in the platform's time where it came from there:
    the assignment, the latest platform deadline taken, or an extension approved in the hub."""
    assigned = await session.scalar(
        select(func.max(Report.received_at)).where(
            Report.channel == Channel.PLATFORM, Report.external_id == platform_case_id
        )
    )
    platform = await session.scalar(
        select(func.max(PlatformUpdate.at)).where(
            PlatformUpdate.platform_case_id == platform_case_id,
            PlatformUpdate.kind == UpdateKind.DEADLINE,
            PlatformUpdate.outcome == Outcome.APPLIED,
        )
    )
    hub = await session.scalar(
        select(func.max(Event.at)).where(
            Event.case_id == case.id,
            Event.action == EventKind.EXTENSION_APPROVED,
            Event.actor_id != PULLER.id,
        )
    )
    found = [t for t in (assigned, platform, hub) if t is not None]
    return max(found) if found else case.created_at
