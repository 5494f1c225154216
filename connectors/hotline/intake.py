"""One 12369 call record -> one report on a case: parse, validate, understand, register.

Parsing and checking are pure; ``ingest`` runs the registration in one transaction and answers
(status, body) as the contract says (201 new, 200 seen before, 409 same callId other body,
422 with the fields named).
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, Strict, ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from connectors.hotline.classify import Classification, classify
from connectors.hotline.names import match_source
from connectors.hotline.phones import normalize_phone
from hub.auth import Scope
from hub.cases import service
from hub.cases.enums import Category, Channel
from hub.cases.model import Report
from hub.config import Settings
from hub.db import Database
from hub.errors import DomainError, ErrorCode
from hub.sources.model import Source

log = logging.getLogger("connectors.hotline")

MAX_BODY_BYTES = 1_000_000  # a call record is a few kB; 10,000 characters of text is 30 kB
CLOCK_SKEW = timedelta(minutes=5)
TITLE_CHARS = 60
LAT_RANGE = (3.0, 54.0)  # China's bounding box, roughly
LON_RANGE = (73.0, 136.0)

# Field names of the register use case -> the contract's.
FIELD_NAMES = {
    "externalId": "callId",
    "reporterName": "callerName",
    "reporterPhone": "callerPhone",
    "tenantCode": "town",
    "title": "description",
    "sourceId": "sourceName",
}


@dataclass(frozen=True)
class Problem:
    field: str
    message: str


class Refused(Exception):
    """The call is not taken: an HTTP status and the problems, field by field."""

    def __init__(self, status: int, problems: list[Problem], code: str = "VALIDATION") -> None:
        super().__init__("; ".join(f"{p.field}: {p.message}" for p in problems))
        self.status, self.problems, self.code = status, problems, code

    def body(self) -> dict[str, Any]:
        return {
            "errors": [
                {"field": p.field, "message": p.message, "code": self.code} for p in self.problems
            ]
        }


def invalid(field: str, message: str, status: int = 422) -> Refused:
    return Refused(status, [Problem(field, message)])


# --- parsing -------------------------------------------------------------------------------------


def _offset_time(value: Any) -> datetime:
    if not isinstance(value, str):
        raise ValueError("must be an ISO 8601 string such as 2026-11-28T09:30:00+08:00")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError("is not an ISO 8601 time such as 2026-11-28T09:30:00+08:00") from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise ValueError("needs a UTC offset, e.g. 2026-11-28T09:30:00+08:00")
    try:
        parsed.astimezone(UTC)
    except OverflowError:
        raise ValueError("is out of range") from None
    return parsed


def _not_blank(value: Any) -> Any:
    if isinstance(value, str) and not value.strip():
        raise ValueError("must not be empty")
    return value


Text = Annotated[str, Strict(), BeforeValidator(_not_blank)]
Coordinate = Annotated[float, Strict()]


class HotlineCall(BaseModel):
    """The contract's call record. Unknown fields are ignored (they stay in the payload)."""

    model_config = ConfigDict(extra="ignore", frozen=True, allow_inf_nan=False)

    call_id: Text = Field(alias="callId", max_length=128)
    received_at: Annotated[datetime, BeforeValidator(_offset_time)] = Field(alias="receivedAt")
    description: Text = Field(max_length=service.LIMITS["description"])
    caller_name: Text | None = Field(None, alias="callerName", max_length=100)
    caller_phone: Text | None = Field(None, alias="callerPhone", max_length=40)
    address: Text | None = Field(None, max_length=500)
    latitude: Coordinate | None = Field(None, ge=LAT_RANGE[0], le=LAT_RANGE[1])
    longitude: Coordinate | None = Field(None, ge=LON_RANGE[0], le=LON_RANGE[1])
    category: Category | None = None
    town: Text | None = Field(None, max_length=32)
    source_name: Text | None = Field(None, alias="sourceName", max_length=200)
    anonymous: Annotated[bool, Strict()] | None = None


def decode(raw: bytes) -> dict[str, Any]:
    """The body as a JSON object, or Refused naming "body" (or the field holding bad text)."""
    if len(raw) > MAX_BODY_BYTES:
        raise invalid("body", f"the body is larger than {MAX_BODY_BYTES} bytes", 413)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise invalid("body", f"the body is not valid UTF-8 (byte {exc.start})") from None
    try:
        payload = json.loads(text, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        raise invalid("body", f"the body is not JSON: {_short(exc)}") from None
    if not isinstance(payload, dict):
        raise invalid("body", "the body must be a JSON object (one call record)")
    problems = [Problem(f, m) for f, m in _bad_text(payload, None)]
    if problems:
        raise Refused(422, problems[:20])
    return payload


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _short(exc: BaseException) -> str:
    return str(exc)[:200] or type(exc).__name__


def _bad_text(value: Any, field: str | None) -> list[tuple[str, str]]:
    """Text no database keeps: NUL characters and lone surrogates (\\ud800), anywhere."""
    found: list[tuple[str, str]] = []
    if isinstance(value, str):
        if "\x00" in value:
            found.append((field or "body", "contains a NUL character"))
        elif re.search("[\ud800-\udfff]", value):
            found.append((field or "body", "contains an unpaired surrogate (not valid Unicode)"))
    elif isinstance(value, dict):
        for key, item in value.items():
            name = field or key
            found += _bad_text(key, name) + _bad_text(item, name)
    elif isinstance(value, list):
        for item in value:
            found += _bad_text(item, field)
    return found


def parse(payload: dict[str, Any], now: datetime) -> HotlineCall:
    """The call record checked field by field, or Refused with every problem found."""
    try:
        call = HotlineCall.model_validate(payload)
    except ValidationError as exc:
        raise Refused(422, [_problem(e) for e in exc.errors(include_url=False)]) from None
    problems: list[Problem] = []
    if call.received_at.astimezone(UTC) > now + CLOCK_SKEW:
        problems.append(Problem("receivedAt", "receivedAt is in the future"))
    if (call.latitude is None) != (call.longitude is None):
        missing = "latitude" if call.latitude is None else "longitude"
        problems.append(Problem(missing, "give both latitude and longitude, or neither"))
    if call.caller_phone is not None and normalize_phone(call.caller_phone) is None:
        problems.append(
            Problem("callerPhone", "callerPhone is not a mainland mobile or landline number")
        )
    if problems:
        raise Refused(422, problems)
    return call


def _problem(error: Any) -> Problem:
    loc = error.get("loc") or ()
    field = str(loc[0]) if loc else "body"
    if error.get("type") == "missing":
        return Problem(field, f"{field} is required")
    message = error.get("msg", "is invalid")
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    if field in ("latitude", "longitude") and error.get("type") in (
        "greater_than_equal",
        "less_than_equal",
    ):
        return Problem(field, f"{field} is outside China ({message})")
    return Problem(field, f"{field}: {message}")


def title_of(description: str) -> str:
    """The first sentence, at most 60 characters."""
    for sentence in re.split(r"[。！？!?；;\n\r]+", description):
        sentence = sentence.strip(" \t，,：:、")
        if sentence:
            break
    else:
        sentence = description.strip()
    if len(sentence) > TITLE_CHARS:
        sentence = sentence[: TITLE_CHARS - 1] + "…"
    return sentence


def category_of(call: HotlineCall) -> tuple[Category, Classification | None]:
    """The call system's category, else the caller's words (OTHER when unsure)."""
    if call.category is not None:
        return call.category, None
    found = classify(call.description)
    return found.category, found


# --- registering ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]


async def ingest(
    db: Database, scope: Scope, settings: Settings, raw: bytes, now: datetime
) -> Answer:
    """Take one call: 201 or 200 with the case, or Refused (nothing stored)."""
    payload = decode(raw)
    call = parse(payload, now)
    category, _ = category_of(call)
    inp = service.RegisterInput(
        channel=Channel.HOTLINE,
        title=title_of(call.description),
        description=call.description,
        category=category,
        external_id=call.call_id.strip(),
        tenant_code=call.town.strip() if call.town else None,
        address=call.address,
        latitude=call.latitude,
        longitude=call.longitude,
        reporter_name=call.caller_name,
        reporter_phone=normalize_phone(call.caller_phone),
        anonymous=bool(call.anonymous),
        received_at=call.received_at.astimezone(UTC),
        payload=payload,
    )
    tz = ZoneInfo(settings.timezone)
    for attempt in (1, 2):
        async with db.session(scope.tenant_ids, write=True) as session:
            try:
                done = await _register(session, scope, call, inp, tz, settings.case_number_prefix)
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
                await session.rollback()
                if attempt == 2:
                    log.warning(
                        "hotline call %s: conflict persisted after a retry", inp.external_id
                    )
                    raise Refused(
                        409,
                        [Problem("callId", "a concurrent change conflicted; try again")],
                        "CONFLICT",
                    ) from None
    raise AssertionError("unreachable")


async def _register(
    session: AsyncSession,
    scope: Scope,
    call: HotlineCall,
    inp: service.RegisterInput,
    tz: ZoneInfo,
    prefix: str,
) -> service.Registered:
    town = None
    if inp.tenant_code:
        town = scope.directory.by_code.get(inp.tenant_code)
        if town is None or not scope.sees(town.id):
            raise DomainError(ErrorCode.VALIDATION, f"unknown town {inp.tenant_code!r}", "town")
    if call.source_name:
        inp.source_id = await _source_id(session, scope, call.source_name, town and town.id)
    return await service.register(session, scope, inp, tz=tz, prefix=prefix)


async def _source_id(session: AsyncSession, scope: Scope, name: str, town_id: Any) -> Any:
    """The one registered source the caller names (in the named town, if any), else None."""
    query = select(Source.id, Source.name)
    if town_id is not None:
        query = query.where(Source.tenant_id == town_id)
    rows = (await session.execute(query)).all()
    places = [t.name for t in scope.directory.tenants]
    return match_source(name, ((row.id, row.name) for row in rows), places)


async def _refusal(
    db: Database, scope: Scope, exc: DomainError, inp: service.RegisterInput
) -> Refused:
    field = FIELD_NAMES.get(exc.field or "", exc.field) or "body"
    if exc.code == ErrorCode.CONFLICT:
        changed = await _changed_fields(db, scope, inp)
        detail = f" (changed: {', '.join(changed)})" if changed else ""
        message = f"callId {inp.external_id} was received before with another body{detail}"
        return Refused(409, [Problem("callId", message)], "CONFLICT")
    if exc.code == ErrorCode.FORBIDDEN:
        return Refused(403, [Problem(field, exc.message)], "FORBIDDEN")
    return Refused(422, [Problem(field, exc.message)], "VALIDATION")


async def _changed_fields(db: Database, scope: Scope, inp: service.RegisterInput) -> list[str]:
    async with db.session(scope.tenant_ids) as session:
        before = await session.scalar(
            select(Report.payload)
            .where(Report.channel == Channel.HOTLINE, Report.external_id == inp.external_id)
            .limit(1)
        )
    if not isinstance(before, dict):
        return []
    keys = sorted(set(before) | set(inp.payload))
    return [k for k in keys if before.get(k) != inp.payload.get(k)][:20]
