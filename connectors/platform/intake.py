"""One case assigned down by the city platform (交办) -> one case: parse, validate, register.

The same exactly-once rule as the hotline: (channel PLATFORM, platformCaseId) is idempotent;
201 new, 200 seen before with the same body, 409 same platformCaseId with another body (nothing
changed), 422 with the fields named. The case keeps the platform's deadline (fixed) and carries
the externalRef {system: "platform", externalId: platformCaseId}.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

# Generic parts of the hotline intake: body decoding, refusals, field types, China's box.
from connectors.hotline.intake import (
    CLOCK_SKEW,
    LAT_RANGE,
    LON_RANGE,
    Answer,
    Coordinate,
    Problem,
    Refused,
    Text,
    _offset_time,
    _problem,
    decode,
)
from hub.auth import Scope
from hub.cases import service
from hub.cases.enums import Category, Channel
from hub.cases.model import Report
from hub.config import Settings
from hub.db import Database
from hub.errors import DomainError, ErrorCode

log = logging.getLogger("connectors.platform")

# Field names of the register use case -> the contract's.
FIELD_NAMES = {
    "externalId": "platformCaseId",
    "tenantCode": "town",
    "receivedAt": "assignedAt",
    "dueAt": "deadline",
}

OffsetTime = Annotated[datetime, BeforeValidator(_offset_time)]


class PlatformCase(BaseModel):
    """The contract's assignment. Unknown fields are ignored (they stay in the payload)."""

    model_config = ConfigDict(extra="ignore", frozen=True, allow_inf_nan=False)

    platform_case_id: Text = Field(alias="platformCaseId", max_length=service.LIMITS["externalId"])
    assigned_at: OffsetTime = Field(alias="assignedAt")
    deadline: OffsetTime | None = None
    title: Text = Field(max_length=service.LIMITS["title"])
    description: Text = Field(max_length=service.LIMITS["description"])
    category: Category = Category.OTHER
    town: Text | None = Field(None, max_length=32)
    address: Text | None = Field(None, max_length=service.LIMITS["address"])
    latitude: Coordinate | None = Field(None, ge=LAT_RANGE[0], le=LAT_RANGE[1])
    longitude: Coordinate | None = Field(None, ge=LON_RANGE[0], le=LON_RANGE[1])


def parse(payload: dict[str, Any], now: datetime) -> PlatformCase:
    """The assignment checked field by field, or Refused with every problem found."""
    try:
        case = PlatformCase.model_validate(payload)
    except ValidationError as exc:
        raise Refused(422, [_problem(e) for e in exc.errors(include_url=False)]) from None
    problems: list[Problem] = []
    if case.assigned_at.astimezone(UTC) > now + CLOCK_SKEW:
        problems.append(Problem("assignedAt", "assignedAt is in the future"))
    if case.deadline is not None and case.deadline <= case.assigned_at:
        problems.append(Problem("deadline", "deadline must be after assignedAt"))
    if (case.latitude is None) != (case.longitude is None):
        missing = "latitude" if case.latitude is None else "longitude"
        problems.append(Problem(missing, "give both latitude and longitude, or neither"))
    if problems:
        raise Refused(422, problems)
    return case


async def ingest(
    db: Database, scope: Scope, settings: Settings, raw: bytes, now: datetime
) -> Answer:
    """Take one assignment: 201 or 200 with the case, or Refused (nothing stored)."""
    payload = decode(raw)
    case = parse(payload, now)
    inp = service.RegisterInput(
        channel=Channel.PLATFORM,
        title=case.title,
        description=case.description,
        category=case.category,
        external_id=case.platform_case_id.strip(),
        tenant_code=case.town.strip() if case.town else None,
        address=case.address,
        latitude=case.latitude,
        longitude=case.longitude,
        received_at=case.assigned_at.astimezone(UTC),
        due_at=case.deadline.astimezone(UTC) if case.deadline else None,
        payload=payload,
    )
    tz = ZoneInfo(settings.timezone)
    for attempt in (1, 2):
        async with db.session(scope.tenant_ids, write=True) as session:
            try:
                done = await _register(session, scope, inp, tz, settings.case_number_prefix)
                answer = Answer(
                    201 if done.created else 200,
                    {
                        "caseId": str(done.case.id),
                        "caseNumber": done.case.number,
                        "duplicateOf": str(done.duplicate_of.id) if done.duplicate_of else None,
                    },
                )
                await session.commit()
                return answer
            except DomainError as exc:
                await session.rollback()
                raise await _refusal(db, scope, exc, inp) from None
            except IntegrityError:
                # A simultaneous delivery of the same id committed first: the retry sees it.
                await session.rollback()
                if attempt == 2:
                    log.warning(
                        "platform case %s: conflict persisted after a retry", inp.external_id
                    )
                    raise Refused(
                        409,
                        [Problem("platformCaseId", "a concurrent change conflicted; try again")],
                        "CONFLICT",
                    ) from None
    raise AssertionError("unreachable")


async def _register(
    session: AsyncSession,
    scope: Scope,
    inp: service.RegisterInput,
    tz: ZoneInfo,
    prefix: str,
) -> service.Registered:
    if inp.tenant_code:
        town = scope.directory.by_code.get(inp.tenant_code)
        if town is None or not scope.sees(town.id):
            raise DomainError(ErrorCode.VALIDATION, f"unknown town {inp.tenant_code!r}", "town")
    return await service.register(session, scope, inp, tz=tz, prefix=prefix)


async def _refusal(
    db: Database, scope: Scope, exc: DomainError, inp: service.RegisterInput
) -> Refused:
    field = FIELD_NAMES.get(exc.field or "", exc.field) or "body"
    if exc.code == ErrorCode.CONFLICT:
        changed = await _changed_fields(db, scope, inp)
        detail = f" (changed: {', '.join(changed)})" if changed else ""
        message = f"platformCaseId {inp.external_id} was received before with another body{detail}"
        return Refused(409, [Problem("platformCaseId", message)], "CONFLICT")
    if exc.code == ErrorCode.FORBIDDEN:
        return Refused(403, [Problem(field, exc.message)], "FORBIDDEN")
    return Refused(422, [Problem(field, exc.message)], "VALIDATION")


async def _changed_fields(db: Database, scope: Scope, inp: service.RegisterInput) -> list[str]:
    async with db.session(scope.tenant_ids) as session:
        before = await session.scalar(
            select(Report.payload)
            .where(Report.channel == Channel.PLATFORM, Report.external_id == inp.external_id)
            .limit(1)
        )
    if not isinstance(before, dict):
        return []
    keys = sorted(set(before) | set(inp.payload))
    return [k for k in keys if before.get(k) != inp.payload.get(k)][:20]
