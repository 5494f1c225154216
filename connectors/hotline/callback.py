"""The result goes back to the call system (回访): when a case with hotline calls is resolved,
one message per call is written to the outbox in the same transaction, and delivered to
``SANWANG_HOTLINE_CALLBACK_URL`` by the outbox worker (httpx, an Idempotency-Key header,
retried with backoff, dead-lettered to ADMIN after the last attempt).

The message names the call (callId), the case and the result; never the caller's name or
number (the call system has them; the hub does not send them anywhere).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from connectors.hotline.settings import HotlineSettings
from hub.cases.enums import CaseStatus, Channel, EventKind, channel_bit
from hub.cases.model import Case, Event, Report
from hub.outbox.service import enqueue
from hub.plugins import plug_in

log = logging.getLogger("connectors.hotline")

TOPIC = "hotline.callback"
_HOTLINE = channel_bit(Channel.HOTLINE)


@dataclass(frozen=True)
class Callback:
    """Callbacks to one call system, from the settings the connector was installed with (the
    demo and the tests install it again to point it at their call system)."""

    url: str | None  # None: no call system to tell (SANWANG_HOTLINE_CALLBACK_URL unset)
    timeout: float = 10.0

    @classmethod
    def of(cls, settings: HotlineSettings) -> Callback:
        return cls(settings.callback_url, settings.callback_timeout_seconds)

    async def on_change(self, session: AsyncSession, case: Case, event: Event) -> None:
        """The case-change hook: the callbacks of a resolved hotline case."""
        if self.url is not None:
            await on_change(session, case, event)

    async def send(self, payload: dict[str, Any], idempotency_key: str) -> None:
        """The outbox sender: POST the result; any answer but 2xx (or none) is a failure."""
        if self.url is None:
            raise RuntimeError("SANWANG_HOTLINE_CALLBACK_URL is not set")
        headers = {"Idempotency-Key": idempotency_key}
        # A client per call: the worker's event loop is not the app's.
        async with httpx.AsyncClient(timeout=httpx.Timeout(self.timeout)) as client:
            response = await client.post(self.url, json=payload, headers=headers)
        if not response.is_success:
            raise RuntimeError(f"the call system answered {response.status_code}")
        log.info(
            "hotline callback delivered: call %s, case %s",
            payload["callId"],
            payload["caseNumber"],
        )


def install(settings: HotlineSettings) -> None:
    callback = Callback.of(settings)
    plug_in(senders={TOPIC: callback.send}, hooks={TOPIC: callback.on_change})


async def on_change(session: AsyncSession, case: Case, event: Event) -> None:
    """A hotline case resolved (approved): one callback per call, in the change's transaction."""
    if event.to_status != CaseStatus.RESOLVED or not case.channel_mask & _HOTLINE:
        return
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
