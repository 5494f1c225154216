"""Every status of a platform case goes back up: a case-change hook writes one outbox message
per status (in the change's transaction), ordered per case, keyed by the event; the sender
delivers it through the adapter. A status the platform refuses for good is dead-lettered at
once (hub.outbox.service.PermanentFailure) and shows in ADMIN's deadLetters.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
import weakref
from datetime import tzinfo
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.util import identity_key

from connectors.platform.adapter import Platform, Refused, StatusUpdate, make_platform
from connectors.platform.settings import PlatformSettings, platform_settings
from hub import jobs
from hub.cases.enums import ACTION_LABELS, CaseStatus, Channel, EventKind, channel_bit
from hub.cases.intake import PLATFORM_SYSTEM
from hub.cases.model import Case, Event, ExternalRef, Report
from hub.localtime import local_text
from hub.outbox import service as outbox
from hub.tenancy.model import Tenant

TOPIC = "platform.status"


def ordering_key(case_id: uuid.UUID) -> str:
    return f"platform:{case_id}"


def idempotency_key(event_id: uuid.UUID, platform_case_id: str) -> str:
    """One status of one platform case: the event, and which of the case's platform ids (a
    case may hold several assignments). Stable, so a resend is recognised by the platform."""
    digest = hashlib.sha256(platform_case_id.encode()).hexdigest()[:16]
    return f"platform:{event_id}:{digest}"


def status_payload(
    platform_case_id: str, case: Case, status: str, event: Event, note: str | None
) -> dict[str, Any]:
    return {
        "platformCaseId": platform_case_id,
        "caseNumber": case.number,
        "status": status,
        "note": note,
        "at": event.at.isoformat(),  # ISO 8601 with its offset: for machines
    }


# Actions after which the platform's people want to know the deadline.
_WITH_DEADLINE = frozenset(
    {EventKind.DISPATCH, EventKind.DEADLINE_CHANGED, EventKind.EXTENSION_APPROVED}
)


def platform_note(case: Case, event: Event, town: str, tz: tzinfo) -> str | None:
    """What the platform's people read: which case and town now, in Chinese, times local.
    The hub's internal routing reason (the registration's note) is never sent."""
    action = EventKind(event.action)
    if action == EventKind.REGISTER:
        return f"已受理，登记为案件 {case.number}，由{town}办理"
    if action == EventKind.REPORT_ATTACHED:
        return f"已并入同一问题的案件 {case.number}，由{town}办理"
    into = (event.data or {}).get("into") if action == EventKind.MERGE else None
    if into:
        return f"并入 {into}" + (f"：{event.note}" if event.note else "")
    words = f"转办至{town}" if action == EventKind.DISPATCH else ACTION_LABELS.get(action, "")
    if action in _WITH_DEADLINE and case.due_at is not None:
        words += f"，办理期限 {local_text(case.due_at, tz)}"
    return f"{words}：{event.note}" if event.note else words or None


async def _town_name(session: AsyncSession, tenant_id: uuid.UUID) -> str:
    """From the tenant directory the request's authentication cached (no statement, so the
    registration's rows are not flushed early), else from the session."""
    cached = session.info["db"].cache.get("directory")
    known = cached.by_id.get(tenant_id) if cached is not None else None
    if known is not None:
        return str(known.name)
    town = await session.get(Tenant, tenant_id)  # the identity map: once per town
    return town.name if town else ""


async def _refs(session: AsyncSession, case: Case, event: Event) -> list[str]:
    """The platform ids a change is told to: all of the case's; for a registration or an
    attached report only that report's own (the case's other ids heard nothing new). The
    report is in the session already (no query: registering is the pull's hot path)."""
    if event.action in (EventKind.REGISTER, EventKind.REPORT_ATTACHED):
        report = _in_session(session, event.data.get("report"))
        if report is None:
            report = await session.get(Report, uuid.UUID(str(event.data.get("report"))))
        if report is None or report.channel != Channel.PLATFORM or not report.external_id:
            return []
        return [report.external_id]
    stmt = select(ExternalRef.external_id).where(
        ExternalRef.case_id == case.id, ExternalRef.system == PLATFORM_SYSTEM
    )
    return sorted(await session.scalars(stmt))


def _in_session(session: AsyncSession, report_id: Any) -> Report | None:
    """The report from the session (just registered: pending, or flushed into the identity
    map), without a query."""
    try:
        key = identity_key(Report, uuid.UUID(str(report_id)))
    except ValueError:
        return None
    found = session.identity_map.get(key)
    if isinstance(found, Report):
        return found
    wanted = key[1][0]
    return next((o for o in session.new if isinstance(o, Report) and o.id == wanted), None)


def _concerns_platform(case: Case, event: Event) -> bool:
    if not case.channel_mask & channel_bit(Channel.PLATFORM):
        return False  # no platform report ever came to this case: no reference to look up
    if event.to_status is not None:
        return True
    return event.action == EventKind.REPORT_ATTACHED and event.data.get("channel") == "PLATFORM"


async def on_case_change(session: AsyncSession, case: Case, event: Event, *, tz: tzinfo) -> None:
    """The hook: a status (or a progress note, or a platform assignment attached to an open
    case) becomes one outbox message per platform id of the case. ``tz``: the local time
    zone of the note's times (install binds the settings' timezone)."""
    if not _concerns_platform(case, event):
        return
    status = event.to_status or case.status
    note = platform_note(case, event, await _town_name(session, case.tenant_id), tz)
    for platform_case_id in await _refs(session, case, event):
        await outbox.enqueue(
            session,
            case.tenant_id,
            TOPIC,
            ordering_key(case.id),
            idempotency_key(event.id, platform_case_id),
            status_payload(platform_case_id, case, status, event, note),
            fresh_key=True,  # the key embeds this new event's id
        )


# --- the sender ---------------------------------------------------------------------------------

# One adapter (one HTTP client) per event loop and settings: clients belong to their loop.
_platforms: weakref.WeakKeyDictionary[Any, tuple[PlatformSettings, Platform]] = (
    weakref.WeakKeyDictionary()
)


def platform_for_loop(settings: PlatformSettings) -> Platform:
    loop = asyncio.get_running_loop()
    found = _platforms.get(loop)
    if found is None or found[0] is not settings:
        found = _platforms[loop] = (settings, make_platform(settings))
    return found[1]


async def send_status(payload: dict[str, Any], key: str) -> None:
    """Deliver one status: any failure is retried by the outbox, a refusal is final."""
    settings = platform_settings(jobs.current_runtime())
    if not settings.url:
        raise RuntimeError("SANWANG_PLATFORM_URL is not set: the status waits")
    update = StatusUpdate(
        platform_case_id=payload["platformCaseId"],
        case_number=payload["caseNumber"],
        status=CaseStatus(payload["status"]),
        note=payload.get("note"),
        at=payload["at"],
        idempotency_key=key,
    )
    try:
        await platform_for_loop(settings).send_status(update)
    except Refused as exc:
        raise outbox.PermanentFailure(str(exc)) from exc
