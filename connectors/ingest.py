"""What every JSON ingest route shares: bearer auth and the role check, the body read with a
cap, field-by-field refusals as 4xx, and registering a report exactly once (201 new, 200 seen
before, 409 same id with another body; a unique-key race is retried once).

A connector supplies its own parsing (a pydantic model of its contract) and how its fields are
named; everything around it is here, so the routes answer alike.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from pydantic import BeforeValidator, Strict
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from hub.auth import AuthError, Scope, authenticate
from hub.cases import inputs, intake
from hub.cases.duplicates import Rules
from hub.cases.model import Report
from hub.config import Settings
from hub.db import Database, utcnow
from hub.errors import DomainError, ErrorCode
from hub.roles import PERMISSIONS, Permission, allows
from hub.uow import Conflict, unit_of_work

MAX_BODY_BYTES = 1_000_000  # a record is a few kB; 10,000 characters of text is 30 kB
CLOCK_SKEW = timedelta(minutes=5)
LAT_RANGE = (3.0, 54.0)  # China's bounding box, roughly
LON_RANGE = (73.0, 136.0)


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


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]


# --- parsing -------------------------------------------------------------------------------------


def offset_time(value: Any) -> datetime:
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


OffsetTime = Annotated[datetime, BeforeValidator(offset_time)]


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


def problem_of(error: Any) -> Problem:
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


# --- registering ---------------------------------------------------------------------------------

Register = Callable[[AsyncSession, Scope, inputs.RegisterInput], Awaitable[inputs.Registered]]


@dataclass(frozen=True)
class Naming:
    """How a connector's contract names the register use case's fields."""

    id_field: str  # e.g. callId
    fields: dict[str, str]  # the use case's field -> the contract's

    def of(self, field: str | None) -> str:
        return self.fields.get(field or "", field) or "body"


async def register_once(
    db: Database,
    scope: Scope,
    settings: Settings,
    inp: inputs.RegisterInput,
    naming: Naming,
    register: Register | None = None,
) -> Answer:
    """Register in one transaction: 201 or 200 with the case, or Refused (nothing stored)."""
    tz, prefix = ZoneInfo(settings.timezone), settings.case_number_prefix

    async def default(session: AsyncSession, scope: Scope, inp: inputs.RegisterInput):
        return await intake.register(
            session, scope, inp, tz=tz, prefix=prefix, rules=Rules.of(settings)
        )

    run = register or default

    async def work(session: AsyncSession) -> Answer:
        done = await run(session, scope, inp)
        return Answer(
            201 if done.created else 200,
            {
                "caseId": str(done.case.id),
                "caseNumber": done.case.number,
                "duplicateOf": str(done.duplicate_of.id) if done.duplicate_of else None,
            },
        )

    try:
        # A simultaneous delivery of the same id that committed first: the retry sees it.
        return await unit_of_work(db, scope.tenant_ids, work)
    except DomainError as exc:
        raise await _refusal(db, scope, exc, inp, naming) from None
    except Conflict:
        raise Refused(
            409,
            [Problem(naming.id_field, "a concurrent change conflicted; try again")],
            "CONFLICT",
        ) from None


async def _refusal(
    db: Database, scope: Scope, exc: DomainError, inp: inputs.RegisterInput, naming: Naming
) -> Refused:
    field = naming.of(exc.field)
    if exc.code == ErrorCode.CONFLICT:
        changed = await _changed_fields(db, scope, inp)
        detail = f" (changed: {', '.join(changed)})" if changed else ""
        message = f"{naming.id_field} {inp.external_id} was received before with another body"
        return Refused(409, [Problem(naming.id_field, message + detail)], "CONFLICT")
    if exc.code == ErrorCode.FORBIDDEN:
        return Refused(403, [Problem(field, exc.message)], "FORBIDDEN")
    return Refused(422, [Problem(field, exc.message)], "VALIDATION")


async def _changed_fields(db: Database, scope: Scope, inp: inputs.RegisterInput) -> list[str]:
    async with db.session(scope.tenant_ids) as session:
        before = await session.scalar(
            select(Report.payload)
            .where(Report.channel == inp.channel, Report.external_id == inp.external_id)
            .limit(1)
        )
    if not isinstance(before, dict):
        return []
    keys = sorted(set(before) | set(inp.payload))
    return [k for k in keys if before.get(k) != inp.payload.get(k)][:20]


# --- the HTTP route ------------------------------------------------------------------------------

Ingest = Callable[[Database, Scope, Settings, bytes, datetime], Awaitable[Answer]]


def json_route(
    path: str,
    permission: Permission,
    what: str,
    state: dict[str, Any],
    ingest: Ingest,
) -> BaseRoute:
    """POST ``path``: a bearer token whose roles allow ``permission``, one JSON record."""
    db, settings, key = state["db"], state["settings"], state["key"]
    log = logging.getLogger(f"connectors.{path.rsplit('/', 1)[-1]}")

    async def endpoint(request: Request) -> JSONResponse:
        scope = await authorize(request, db, key, permission, what)
        if not isinstance(scope, Scope):
            return scope
        try:
            answer = await ingest(db, scope, settings, await read_body(request), utcnow())
        except Refused as refused:
            # Field names only: messages may quote what was sent (never log a phone number).
            log.info(
                "%s refused: %s %s",
                what,
                refused.status,
                ",".join(p.field for p in refused.problems),
            )
            return answer_refusal(refused)
        return JSONResponse(answer.body, status_code=answer.status)

    return Route(path, endpoint, methods=["POST"])


async def authorize(
    request: Request, db: Database, key: str, permission: Permission, what: str
) -> Scope | JSONResponse:
    """The caller's scope, or the 401/403 answer to give instead."""
    try:
        scope = await authenticate(db, request.headers.get("authorization"), key)
    except AuthError as exc:
        refused = Refused(401, [Problem("authorization", str(exc))], "UNAUTHENTICATED")
        return answer_refusal(refused, {"WWW-Authenticate": "Bearer"})
    if not allows(scope, permission):
        needs = " or ".join(sorted(PERMISSIONS[permission]))
        message = f"the token's roles may not post {what} (needs {needs})"
        return answer_refusal(Refused(403, [Problem("authorization", message)], "FORBIDDEN"))
    return scope


async def read_body(request: Request) -> bytes:
    """The body, refusing one larger than the cap without reading all of it."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise invalid("body", f"the body is larger than {MAX_BODY_BYTES} bytes", 413)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise invalid("body", f"the body is larger than {MAX_BODY_BYTES} bytes", 413)
        chunks.append(chunk)
    return b"".join(chunks)


def answer_refusal(refused: Refused, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(refused.body(), status_code=refused.status, headers=headers)
