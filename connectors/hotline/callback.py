"""The result goes back to the call system (回访): when a case with hotline calls is resolved,
one message per call is written to the outbox in the same transaction, and delivered to
``SANWANG_HOTLINE_CALLBACK_URL`` by the outbox worker (httpx, an Idempotency-Key header,
retried with backoff, dead-lettered to ADMIN after the last attempt).

The message names the call (callId), the case and the result; never the caller's name or
number (the call system has them; the hub does not send them anywhere).
"""

from __future__ import annotations

import logging
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.cases.enums import CaseStatus, Channel, EventKind, channel_bit
from hub.cases.hooks import on_case_change
from hub.cases.model import Case, Event, Report
from hub.outbox.service import enqueue, register_sender

log = logging.getLogger("connectors.hotline")

TOPIC = "hotline.callback"
_HOTLINE = channel_bit(Channel.HOTLINE)


class CallbackTarget:
    """Where callbacks go. Set at install from the settings; the demo points it at its
    simulated call system (same process, embedded worker)."""

    url: str | None = None
    timeout: float = 10.0


target = CallbackTarget()


def install(settings: Any) -> None:
    target.url = settings.hotline_callback_url
    target.timeout = settings.hotline_callback_timeout_seconds
    register_sender(TOPIC, send)
    on_case_change(TOPIC, on_change)


async def on_change(session: AsyncSession, case: Case, event: Event) -> None:
    """A hotline case resolved (approved): one callback per call, in the change's transaction."""
    if event.to_status != CaseStatus.RESOLVED or not case.channel_mask & _HOTLINE:
        return
    if target.url is None:
        return  # no call system to tell (SANWANG_HOTLINE_CALLBACK_URL unset)
    result = await _result_of(session, case)
    for report_id, call_id in (await session.execute(_calls(case))).all():
        payload = {
            "callId": call_id,
            "caseId": str(case.id),
            "caseNumber": case.number,
            "status": CaseStatus.RESOLVED.value,
            "result": result,
            "resolvedAt": event.at.isoformat(),
        }
        # One key per call and resolution: a redelivery is the same callback, a second
        # resolution (after an unsatisfied caller) is a new one.
        key = f"{TOPIC}:{report_id}:{event.at.isoformat()}"
        await enqueue(session, case.tenant_id, TOPIC, str(case.id), key, payload)


def _calls(case: Case) -> Any:
    return (
        select(Report.id, Report.external_id)
        .where(Report.case_id == case.id, Report.channel == Channel.HOTLINE)
        .order_by(Report.received_at, Report.id)
    )


async def _result_of(session: AsyncSession, case: Case) -> str | None:
    """The office's last submitted result (办结情况)."""
    return await session.scalar(
        select(Event.note)
        .where(Event.case_id == case.id, Event.action == EventKind.SUBMIT)
        .order_by(Event.at.desc(), Event.id.desc())
        .limit(1)
    )


async def send(payload: dict[str, Any], idempotency_key: str) -> None:
    """POST the result; any answer but 2xx (or no answer) is a failed attempt."""
    if target.url is None:
        raise RuntimeError("SANWANG_HOTLINE_CALLBACK_URL is not set")
    headers = {"Idempotency-Key": idempotency_key}
    # A client per call: the worker's event loop is not the app's.
    async with httpx.AsyncClient(timeout=httpx.Timeout(target.timeout)) as client:
        response = await client.post(target.url, json=payload, headers=headers)
    if not response.is_success:
        raise RuntimeError(f"the call system answered {response.status_code}")
    log.info(
        "hotline callback delivered: call %s, case %s", payload["callId"], payload["caseNumber"]
    )
