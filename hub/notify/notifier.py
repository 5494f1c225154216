"""Notifications: a message in Chinese for people, structured JSON for machines.

``notify`` writes a "notify" outbox row in the caller's transaction; the job system delivers it
through the notifier that SANWANG_NOTIFY_URL chooses (a webhook, or the log when unset).
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from hub.cases.phones import redact_phones
from hub.outbox.model import OutboxMessage
from hub.outbox.service import enqueue, enqueue_many
from hub.plugins import plug_in

log = logging.getLogger("hub.notify")

TOPIC = "notify"


@dataclass(frozen=True)
class Notification:
    kind: str  # what happened, for machines: "card.issued", "outbox.dead", ...
    text: str  # for people, in Chinese
    data: dict[str, Any] = field(default_factory=dict)
    key: str = ""  # idempotency key: the receiver applies one key once

    def body(self) -> dict[str, Any]:
        return {"kind": self.kind, "text": self.text, "data": self.data, "idempotencyKey": self.key}


class Notifier(Protocol):
    async def send(self, note: Notification) -> None:
        """Deliver or raise."""


class LogNotifier:
    """Writes notifications to the log: the default, and the channel of outbox alerts."""

    async def send(self, note: Notification) -> None:
        # Logs are kept and read widely: no reporter's number in them, whatever queued it.
        log.info("notification %s", redact_phones(json.dumps(note.body(), ensure_ascii=False)))


class WebhookNotifier:
    """POSTs the notification as JSON with an Idempotency-Key header; anything but 2xx raises."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url
        self.timeout = httpx.Timeout(timeout)

    async def send(self, note: Notification) -> None:
        # A client per call: the worker's event loop is not the app's, and httpx pools are
        # bound to the loop that opened them.
        async with httpx.AsyncClient(timeout=self.timeout) as client:
            response = await client.post(
                self.url, json=note.body(), headers={"Idempotency-Key": note.key}
            )
        response.raise_for_status()


def notifier_for(settings: Any) -> Notifier:
    if settings.notify_url:
        return WebhookNotifier(settings.notify_url, settings.notify_timeout_seconds)
    return LogNotifier()


def install(settings: Any) -> None:
    """Register the "notify" sender (called by the job system when it starts)."""
    notifier = notifier_for(settings)

    async def send(payload: dict[str, Any], idempotency_key: str) -> None:
        await notifier.send(
            Notification(
                payload["kind"], payload["text"], payload.get("data") or {}, idempotency_key
            )
        )

    plug_in(senders={TOPIC: send})


async def notify(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    kind: str,
    text_zh: str,
    data: dict[str, Any],
    key: str,
    ordering_key: str,
) -> OutboxMessage:
    """Queue a notification in the caller's transaction; ``key`` makes a repeat a no-op. A
    number in the text (a title a caller's words went into) is masked: notifications go to
    people and logs that may not see reporters' numbers."""
    payload = {"kind": kind, "text": redact_phones(text_zh), "data": data}
    return await enqueue(session, tenant_id, TOPIC, ordering_key, key, payload)


# (tenant_id, kind, text, data, key, ordering_key), as notify's arguments
Note = tuple[uuid.UUID, str, str, dict[str, Any], str, str]


async def notify_many(session: AsyncSession, notes: list[Note]) -> None:
    """``notify`` for many notifications at once (one look-up of the keys seen before)."""
    await enqueue_many(
        session,
        [
            (
                tenant_id,
                TOPIC,
                ordering_key,
                key,
                {"kind": kind, "text": redact_phones(text_zh), "data": data},
            )
            for tenant_id, kind, text_zh, data, key, ordering_key in notes
        ],
    )
