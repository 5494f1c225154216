"""One case assigned down by the city platform (交办) -> one case: parse, validate, register.

The same exactly-once rule as the hotline: (channel PLATFORM, platformCaseId) is idempotent;
201 new, 200 seen before with the same body, 409 same platformCaseId with another body (nothing
changed), 422 with the fields named. The case keeps the platform's deadline (fixed) and carries
the externalRef {system: "platform", externalId: platformCaseId}.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from connectors.ingest import (
    CLOCK_SKEW,
    LAT_RANGE,
    LON_RANGE,
    Answer,
    Coordinate,
    Naming,
    OffsetTime,
    Problem,
    Refused,
    Register,
    Text,
    decode,
    problem_of,
    register_once,
)
from hub.auth import Scope
from hub.cases import inputs
from hub.cases.enums import Category, Channel
from hub.config import Settings
from hub.db import Database
from hub.tenancy.service import Directory
from hub.validation import LIMITS

log = logging.getLogger("connectors.platform")

# Field names of the register use case -> the contract's.
NAMING = Naming(
    "platformCaseId",
    {
        "externalId": "platformCaseId",
        "tenantCode": "town",
        "receivedAt": "assignedAt",
        "dueAt": "deadline",
    },
)


class PlatformCase(BaseModel):
    """The contract's assignment. Unknown fields are ignored (they stay in the payload)."""

    model_config = ConfigDict(extra="ignore", frozen=True, allow_inf_nan=False)

    platform_case_id: Text = Field(alias="platformCaseId", max_length=LIMITS["externalId"])
    assigned_at: OffsetTime = Field(alias="assignedAt")
    deadline: OffsetTime | None = None
    title: Text = Field(max_length=LIMITS["title"])
    description: Text = Field(max_length=LIMITS["description"])
    category: Category = Category.OTHER
    town: Text | None = Field(None, max_length=32)
    address: Text | None = Field(None, max_length=LIMITS["address"])
    latitude: Coordinate | None = Field(None, ge=LAT_RANGE[0], le=LAT_RANGE[1])
    longitude: Coordinate | None = Field(None, ge=LON_RANGE[0], le=LON_RANGE[1])


def parse(payload: dict[str, Any], now: datetime) -> PlatformCase:
    """The assignment checked field by field, or Refused with every problem found."""
    try:
        case = PlatformCase.model_validate(payload)
    except ValidationError as exc:
        raise Refused(422, [problem_of(e) for e in exc.errors(include_url=False)]) from None
    problems: list[Problem] = []
    if case.assigned_at.astimezone(UTC) > now + CLOCK_SKEW:
        problems.append(Problem("assignedAt", "交办时间不能晚于当前时间"))
    if case.deadline is not None and case.deadline <= case.assigned_at:
        problems.append(Problem("deadline", "办理期限须晚于交办时间"))
    if (case.latitude is None) != (case.longitude is None):
        missing = "latitude" if case.latitude is None else "longitude"
        problems.append(Problem(missing, "经度和纬度须同时填写或同时不填"))
    if problems:
        raise Refused(422, problems)
    return case


async def ingest(
    db: Database, scope: Scope, settings: Settings, raw: bytes, now: datetime
) -> Answer:
    """Take one assignment: 201 or 200 with the case, or Refused (nothing stored)."""
    return await take(db, scope, settings, decode(raw), now)


def town_code(town: str | None, directory: Directory) -> str | None:
    """The hub's code of the town the platform names: by the hub's code (chaohua), its Chinese
    name (超化镇, or 超化 when only one town has that stem) or its division code (410183104).
    A name the hub does not know stays as sent: registering refuses it, naming it."""
    if not town or not town.strip():
        return None
    found = directory.find(town)
    return found.code if found is not None else town.strip()


def register_input(
    case: PlatformCase, payload: dict[str, Any], directory: Directory
) -> inputs.RegisterInput:
    return inputs.RegisterInput(
        channel=Channel.PLATFORM,
        title=case.title,
        description=case.description,
        category=case.category,
        external_id=case.platform_case_id.strip(),
        tenant_code=town_code(case.town, directory),
        address=case.address,
        latitude=case.latitude,
        longitude=case.longitude,
        received_at=case.assigned_at.astimezone(UTC),
        due_at=case.deadline.astimezone(UTC) if case.deadline else None,
        payload=payload,
    )


async def take(
    db: Database,
    scope: Scope,
    settings: Settings,
    payload: dict[str, Any],
    now: datetime,
    register: Register | None = None,
) -> Answer:
    """The one path of an assignment into the hub, pushed (POST) or pulled (the assignments
    feed): parse, then register exactly once. ``register`` lets the pull write its own
    record of the update in the same transaction."""
    case = parse(payload, now)
    return await register_once(
        db, scope, settings, register_input(case, payload, scope.directory), NAMING, register
    )
