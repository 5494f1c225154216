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

from hub import web
from hub.auth import Scope
from hub.cases import inputs, intake
from hub.cases.duplicates import Rules
from hub.cases.model import Report
from hub.config import Settings
from hub.db import Database, utcnow
from hub.errors import DomainError, ErrorCode, label
from hub.roles import Permission
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
        raise ValueError("须为 ISO 8601 时间文本，如 2026-11-28T09:30:00+08:00")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError("不是 ISO 8601 时间，如 2026-11-28T09:30:00+08:00") from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise ValueError("须带时区偏移，如 2026-11-28T09:30:00+08:00")
    try:
        parsed.astimezone(UTC)
    except OverflowError:
        raise ValueError("超出有效范围") from None
    return parsed


def _not_blank(value: Any) -> Any:
    if isinstance(value, str) and not value.strip():
        raise ValueError("不能为空")
    return value


Text = Annotated[str, Strict(), BeforeValidator(_not_blank)]
Coordinate = Annotated[float, Strict()]


OffsetTime = Annotated[datetime, BeforeValidator(offset_time)]


def decode(raw: bytes) -> dict[str, Any]:
    """The body as a JSON object, or Refused naming "body" (or the field holding bad text)."""
    if len(raw) > MAX_BODY_BYTES:
        raise invalid("body", f"请求体超过 {MAX_BODY_BYTES} 字节", 413)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise invalid("body", f"请求体不是有效的 UTF-8（第 {exc.start} 字节）") from None
    try:
        payload = json.loads(text, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        raise invalid("body", f"请求体不是 JSON：{_short(exc)}") from None
    if not isinstance(payload, dict):
        raise invalid("body", "请求体须为一个 JSON 对象（一条记录）")
    problems = [Problem(f, m) for f, m in _bad_text(payload, None)]
    if problems:
        raise Refused(422, problems[:20])
    return payload


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} 不是 JSON 数值")


def _short(exc: BaseException) -> str:
    return str(exc)[:200] or type(exc).__name__


def _bad_text(value: Any, field: str | None) -> list[tuple[str, str]]:
    """Text no database keeps: NUL characters and lone surrogates (\\ud800), anywhere."""
    found: list[tuple[str, str]] = []
    if isinstance(value, str):
        if "\x00" in value:
            found.append((field or "body", "含有空字符（NUL）"))
        elif re.search("[\ud800-\udfff]", value):
            found.append((field or "body", "含有不成对的代理字符（不是有效的 Unicode）"))
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
    name, kind, ctx = label(field), error.get("type", ""), error.get("ctx") or {}
    if kind == "missing":
        return Problem(field, f"{name}不能为空")
    if field in ("latitude", "longitude") and kind in ("greater_than_equal", "less_than_equal"):
        return Problem(field, f"{name}不在中国境内")
    if kind == "value_error":  # our validators' own (Chinese) words
        return Problem(field, f"{name}{ctx.get('error', '取值无效')!s}")
    return Problem(field, f"{name}{_PYDANTIC_WORDS.get(kind, '取值无效')}（{field}）")


# What a person reads for pydantic's error types (its own messages are English).
_PYDANTIC_WORDS: dict[str, str] = {
    "string_type": "须为文本",
    "float_type": "须为数字",
    "int_type": "须为整数",
    "bool_type": "须为 true 或 false",
    "dict_type": "须为 JSON 对象",
    "list_type": "须为列表",
    "string_too_long": "过长",
    "string_too_short": "过短",
    "too_long": "条目过多",
    "enum": "取值不在可选范围内",
    "literal_error": "取值不在可选范围内",
    "extra_forbidden": "不是可接受的字段",
    "greater_than_equal": "过小",
    "less_than_equal": "过大",
    "greater_than": "过小",
    "less_than": "过大",
    "finite_number": "须为有限数值",
}


# --- registering ---------------------------------------------------------------------------------

Register = Callable[[AsyncSession, Scope, inputs.RegisterInput], Awaitable[inputs.Registered]]
# More of the answer, written in the registration's transaction (the hotline's query code).
Extra = Callable[[inputs.Registered], dict[str, Any]]


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
    extra: Extra | None = None,
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
        answer = Answer(
            201 if done.created else 200,
            {
                "caseId": str(done.case.id),
                "caseNumber": done.case.number,
                "duplicateOf": str(done.duplicate_of.id) if done.duplicate_of else None,
                **(extra(done) if extra else {}),
            },
        )
        # The rows are final now (the query code is on the report): a new case's in one
        # statement on PostgreSQL.
        await intake.write_new_rows(session)
        return answer

    try:
        # A simultaneous delivery of the same id that committed first: the retry sees it.
        return await unit_of_work(db, scope.tenant_ids, work)
    except DomainError as exc:
        raise await _refusal(db, scope, exc, inp, naming) from None
    except Conflict:
        raise Refused(
            409,
            [Problem(naming.id_field, "与同时进行的修改冲突，请重试")],
            "CONFLICT",
        ) from None


async def _refusal(
    db: Database, scope: Scope, exc: DomainError, inp: inputs.RegisterInput, naming: Naming
) -> Refused:
    field = naming.of(exc.field)
    if exc.code == ErrorCode.CONFLICT:
        changed = await _changed_fields(db, scope, inp)
        detail = f"（不同的字段：{', '.join(changed)}）" if changed else ""
        message = f"{naming.id_field} {inp.external_id} 此前已收到，且内容不同"
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
    """The caller's scope, or the 401/403 answer to give instead (hub/web.py's, for a route
    that takes ``what``: a kind of record, in Chinese)."""
    return await web.authorize(request, db, key, permission, f"提交{what}")


async def read_body(request: Request) -> bytes:
    """The body, refusing one larger than the cap without reading all of it."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise invalid("body", f"请求体超过 {MAX_BODY_BYTES} 字节", 413)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise invalid("body", f"请求体超过 {MAX_BODY_BYTES} 字节", 413)
        chunks.append(chunk)
    return b"".join(chunks)


def answer_refusal(refused: Refused, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(refused.body(), status_code=refused.status, headers=headers)
