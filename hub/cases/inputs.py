"""What registering and dispatching take and give back, and the checks a report passes before
anything is written."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from hub.cases.enums import Category, Channel, Priority
from hub.cases.model import Case, Report
from hub.cases.phones import check_phone
from hub.validation import check_point, check_text, check_time


@dataclass
class RegisterInput:
    channel: Channel
    title: str
    description: str
    category: Category
    external_id: str | None = None
    priority: Priority | None = None
    tenant_code: str | None = None
    address: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    source_id: uuid.UUID | None = None
    reporter_name: str | None = None
    reporter_phone: str | None = None
    anonymous: bool = False
    occurred_at: datetime | None = None
    received_at: datetime | None = None
    due_at: datetime | None = None  # a deadline set by the sender (the city platform)
    payload: dict[str, Any] = field(default_factory=dict)  # the arrival, verbatim


@dataclass(frozen=True)
class Registered:
    case: Case
    report: Report
    created: bool  # False when (channel, external_id) was seen before
    duplicate_of: Case | None


@dataclass
class DispatchInput:
    tenant_code: str
    grid_cell_id: uuid.UUID | None = None
    assignee_id: uuid.UUID | None = None
    due_at: datetime | None = None
    note: str | None = None


def validate_register(inp: RegisterInput) -> None:
    inp.channel, inp.category = Channel(inp.channel), Category(inp.category)
    inp.priority = Priority(inp.priority) if inp.priority else None
    inp.title = check_text("title", inp.title, required=True) or ""
    inp.description = check_text("description", inp.description, required=True) or ""
    inp.external_id = check_text("externalId", inp.external_id)
    inp.address = check_text("address", inp.address)
    inp.reporter_name = check_text("reporterName", inp.reporter_name)
    # One form before any comparison; a number nobody could call back is refused.
    inp.reporter_phone = check_phone(
        "reporterPhone", check_text("reporterPhone", inp.reporter_phone)
    )
    check_point(inp.latitude, inp.longitude)
    for name in ("occurred_at", "received_at", "due_at"):
        check_time(_camel(name), getattr(inp, name))


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.title() for p in rest)
