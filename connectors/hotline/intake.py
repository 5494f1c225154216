"""One 12369 call record -> one report on a case: parse, validate, understand, register.

Parsing and checking are pure; ``ingest`` runs the registration in one transaction and answers
(status, body) as the contract says (201 new, 200 seen before, 409 same callId other body,
422 with the fields named).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, Strict, ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from connectors.hotline.classify import Classification, classify
from connectors.hotline.names import match_source
from connectors.hotline.phones import normalize_phone, not_a_phone
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
    Text,
    decode,
    problem_of,
    register_once,
)
from hub.auth import Scope, system_scope
from hub.cases import inputs, intake
from hub.cases.duplicates import Rules
from hub.cases.enums import Category, Channel
from hub.cases.routing import KnownSource
from hub.config import Settings
from hub.db import Database
from hub.errors import unknown_town
from hub.public.service import issue_code
from hub.sources.model import NAMES_CACHE_KEY, Source
from hub.validation import LIMITS

log = logging.getLogger("connectors.hotline")

TITLE_CHARS = 60
# Field names of the register use case -> the contract's.
FIELD_NAMES = {
    "externalId": "callId",
    "reporterName": "callerName",
    "reporterPhone": "callerPhone",
    "tenantCode": "town",
    "title": "description",
    "sourceId": "sourceName",
}


# --- parsing -------------------------------------------------------------------------------------


class HotlineCall(BaseModel):
    """The contract's call record. Unknown fields are ignored (they stay in the payload)."""

    model_config = ConfigDict(extra="ignore", frozen=True, allow_inf_nan=False)

    call_id: Text = Field(alias="callId", max_length=128)
    received_at: OffsetTime = Field(alias="receivedAt")
    description: Text = Field(max_length=LIMITS["description"])
    caller_name: Text | None = Field(None, alias="callerName", max_length=100)
    caller_phone: Text | None = Field(None, alias="callerPhone", max_length=40)
    address: Text | None = Field(None, max_length=500)
    latitude: Coordinate | None = Field(None, ge=LAT_RANGE[0], le=LAT_RANGE[1])
    longitude: Coordinate | None = Field(None, ge=LON_RANGE[0], le=LON_RANGE[1])
    category: Category | None = None
    town: Text | None = Field(None, max_length=32)
    source_name: Text | None = Field(None, alias="sourceName", max_length=200)
    anonymous: Annotated[bool, Strict()] | None = None


def parse(payload: dict[str, Any], now: datetime) -> HotlineCall:
    """The call record checked field by field, or Refused with every problem found."""
    try:
        call = HotlineCall.model_validate(payload)
    except ValidationError as exc:
        raise Refused(422, [problem_of(e) for e in exc.errors(include_url=False)]) from None
    problems: list[Problem] = []
    if call.received_at.astimezone(UTC) > now + CLOCK_SKEW:
        problems.append(Problem("receivedAt", "来电时间不能晚于当前时间"))
    if (call.latitude is None) != (call.longitude is None):
        missing = "latitude" if call.latitude is None else "longitude"
        problems.append(Problem(missing, "经度和纬度须同时填写或同时不填"))
    if call.caller_phone is not None and normalize_phone(call.caller_phone) is None:
        problems.append(Problem("callerPhone", not_a_phone("callerPhone")))
    if problems:
        raise Refused(422, problems)
    return call


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
    """The call system's category, else the caller's words (OTHER when unsure). The call
    system's OTHER means the operator did not pick one: the words may still say (粉尘 is DUST)."""
    if call.category is not None and call.category != Category.OTHER:
        return call.category, None
    found = classify(call.description)
    return found.category, found


# --- registering ---------------------------------------------------------------------------------

NAMING = Naming("callId", FIELD_NAMES)


async def ingest(
    db: Database, scope: Scope, settings: Settings, raw: bytes, now: datetime
) -> Answer:
    """Take one call: 201 or 200 with the case, or Refused (nothing stored)."""
    payload = decode(raw)
    call = parse(payload, now)
    category, _ = category_of(call)
    inp = inputs.RegisterInput(
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
    tz, rules = ZoneInfo(settings.timezone), Rules.of(settings)

    async def register(
        session: AsyncSession, scope: Scope, inp: inputs.RegisterInput
    ) -> inputs.Registered:
        known = None
        if call.source_name:
            known = await _named_source(session, scope, call.source_name, inp.tenant_code)
            inp.source_id = known.id if known else None
        return await intake.register(
            session, scope, inp, tz=tz, prefix=settings.case_number_prefix, rules=rules, known=known
        )

    return await register_once(
        db, scope, settings, inp, NAMING, register, extra=query_code(settings)
    )


def query_code(settings: Settings) -> Callable[[inputs.Registered], dict[str, Any]]:
    """The answer's queryCode: the call's own (a repeated delivery answers the same one)."""
    secret = settings.signing_key()

    def extra(done: inputs.Registered) -> dict[str, Any]:
        return {"queryCode": issue_code(done.report, secret)}

    return extra


SOURCES_CACHE_SECONDS = 30.0


async def _named_source(
    session: AsyncSession, scope: Scope, name: str, town_code: str | None
) -> KnownSource | None:
    """The one registered source the caller names (in the named town, if any, and in the towns
    the caller sees), else None."""
    town_id = None
    if town_code:
        town = scope.directory.by_code.get(town_code)
        if town is None or not scope.sees(town.id):
            raise unknown_town("town", town_code)
        town_id = town.id
    sources = [s for s in await _sources(session.info["db"]) if scope.sees(s.tenant_id)]
    candidates = [(s.id, s.name) for s in sources if town_id in (None, s.tenant_id)]
    places = [t.name for t in scope.directory.tenants]
    found = match_source(name, candidates, places)
    return next((s.known for s in sources if s.id == found), None) if found else None


@dataclass(frozen=True)
class _Named:
    id: Any
    tenant_id: Any
    name: str
    grid_cell_id: Any

    @property
    def known(self) -> KnownSource:
        return KnownSource(self.id, self.tenant_id, self.grid_cell_id)


async def _sources(db: Database) -> list[_Named]:
    """Every registered source (id, town, name, grid cell), cached briefly: a call names one
    of a few hundred enterprises, and reading them all for every call costs more than
    matching; routing takes the matched one from here too."""
    cached: list[_Named] | None = db.cache.get(NAMES_CACHE_KEY)
    if cached is not None:
        return cached
    everyone = await system_scope(db)
    async with db.session(everyone.tenant_ids) as session:
        result = await session.execute(
            select(Source.id, Source.tenant_id, Source.name, Source.grid_cell_id)
        )
        rows = [_Named(*row) for row in result]
    db.cache.put(NAMES_CACHE_KEY, rows, SOURCES_CACHE_SECONDS)
    return rows
