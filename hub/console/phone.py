"""The grid member's phone view, /console/m/: my cases (accept, progress, submit with a photo),
a patrol (start, findings with photos from the phone's camera, end) and today's diary.

Every form calls the service its GraphQL mutation calls (hub/patrols, hub/cases/steps,
hub/diaries), as the member the account (or bearer token) is bound to. A phone on a bad
connection resends a form with the same body (static/phone.js): each form carries a clientId
made once when the page was rendered and the time it was first sent, so a resend gets the same
patrol, the same finding, the same ended patrol, the same diary text, never a second one.

Photos: ``POST /console/m/photos`` stores one through hub/attachments (the same checks and the
same storage as ``POST /attachments``: JPEG, PNG or PDF by content, the size limit) and answers
its id; the forms then name it in ``attachment_ids``. A form sent without JavaScript carries the
file itself (``photo``), stored in the same transaction as the finding or the result.
"""

from __future__ import annotations

import secrets
from datetime import date, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from hub.attachments import service as attachments
from hub.attachments.model import OwnerKind
from hub.auth import Scope
from hub.cases import loaders, steps
from hub.cases.enums import CATEGORY_LABELS, Category
from hub.cases.model import Case as CaseRow
from hub.cases.nodes import case_node
from hub.db import utcnow
from hub.diaries import service as diaries
from hub.diaries.day import PATROL_KIND_LABELS
from hub.errors import DomainError, ErrorCode, invalid
from hub.patrols import service as patrols
from hub.patrols.model import PatrolKind
from hub.patrols.work import bound_member, my_work
from hub.roles import Permission, allows

from .cases import offered, view_of
from .files import attachment_response
from .web import PageNotFound, console_of, error_page, page, read, render, write

MAX_PHOTOS = patrols.MAX_FINDING_ATTACHMENTS
STATUS_OF = {
    ErrorCode.VALIDATION: 422,
    ErrorCode.NOT_FOUND: 422,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.INVALID_TRANSITION: 409,
    ErrorCode.CONFLICT: 409,
    ErrorCode.RATE_LIMITED: 429,
}
HOME = "/console/m/"


def client_id() -> str:
    """A fresh clientId for one form (the phone resends it unchanged)."""
    return secrets.token_urlsafe(16)


def _s(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _sent_at(form: FormData, name: str = "sent_at") -> datetime:
    """When the phone first sent the form (its resends carry the same time), else now."""
    text = _s(form, name)
    if not text:
        return utcnow()
    try:
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise invalid(name, "发送时间格式不正确") from None
    if at.tzinfo is None:
        raise invalid(name, "发送时间须带时区")
    return at


def _photo_ids(form: FormData) -> tuple[str, ...]:
    ids = tuple(i for i in _s(form, "attachment_ids").replace(",", " ").split() if i)
    if len(ids) > MAX_PHOTOS:
        raise invalid("attachmentIds", f"最多 {MAX_PHOTOS} 张照片")
    return ids


def _photo_file(form: FormData) -> UploadFile | None:
    part = form.get("photo")
    return part if isinstance(part, UploadFile) and (part.size or part.filename) else None


async def _photos(
    session: AsyncSession, scope: Scope, request: Request, form: FormData
) -> list[attachments.Attachment]:
    """The photos a form names (uploaded before) plus the one it carries (stored now)."""
    found = await attachments.usable(session, scope, _photo_ids(form))
    part = _photo_file(form)
    if part is not None:
        runtime = console_of(request).runtime
        limit = runtime.settings.attachments_max_bytes
        data = await part.read(limit + 1)
        if data:  # an empty file input sends an empty part: no photo
            member = await bound_member(session, scope)
            stored = await attachments.store_attachment(
                session,
                runtime.blobs,
                data=data,
                uploaded_by=scope.principal.id,
                tenant_id=member.tenant_id,
                max_bytes=limit,
            )
            if stored.id not in {a.id for a in found}:
                found.append(stored)
    return found


def status_of(outcome: DomainError) -> int:
    """The answer's status: a photo too large 413, of a wrong type 415, else by the code."""
    if isinstance(outcome, attachments.TooLarge):
        return 413
    if isinstance(outcome, (attachments.UnsupportedType, attachments.EmptyFile)):
        return 415
    return STATUS_OF.get(outcome.code, 422)


def _done(request: Request, text: str, target: str = HOME) -> Response:
    request.session["flash"] = text
    return RedirectResponse(target, status_code=303)


async def _form(request: Request) -> FormData:
    return await request.form()


# --- home: my cases, the patrol, the diary -------------------------------------------------------


async def home_context(request: Request, scope: Scope, **extra: Any) -> dict[str, Any]:
    work = await read(request, my_work, {"gridCell"})
    context: dict[str, Any] = {
        "work": work,
        "member": work.member,
        "patrol": work.open_patrol,
        "kinds": PATROL_KIND_LABELS,
        "categories": CATEGORY_LABELS,
        "client_id": client_id(),
        "finding_client_id": client_id(),
        "end_client_id": client_id(),
        "flash": request.session.pop("flash", None),
        "error": None,
        "values": {},
        "can_resolve": allows(scope, Permission.CASE_RESOLVE_ON_SITE),
    }
    context.update(extra)
    return context


async def _home_or_error(request: Request, scope: Scope, **extra: Any) -> dict[str, Any] | Response:
    try:
        return await home_context(request, scope, **extra)
    except DomainError as exc:  # an account bound to no member, or to one who left
        status = 403 if exc.code == ErrorCode.FORBIDDEN else 404
        return error_page(request, status, exc.message)


@page()
async def home(request: Request, scope: Scope) -> Response:
    context = await _home_or_error(request, scope)
    if isinstance(context, Response):
        return context
    return render(request, "m/home.html", context)


async def _home_refused(
    request: Request, scope: Scope, outcome: DomainError, form: FormData, which: str
) -> Response:
    context = await _home_or_error(request, scope)
    if isinstance(context, Response):
        return context
    values = {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf_token"}
    context.update(error=outcome.message, error_form=which, values=values)
    # keep the clientId the phone sent: its next try is still the same patrol or finding
    if which == "start":
        context["client_id"] = values.get("client_id") or context["client_id"]
    if which == "finding":
        context["finding_client_id"] = values.get("client_id") or context["finding_client_id"]
    return render(request, "m/home.html", context, status=status_of(outcome))


@page(Permission.PATROL_RECORD)
async def start(request: Request, scope: Scope) -> Response:
    form = await _form(request)
    try:
        kind = PatrolKind(_s(form, "kind") or PatrolKind.ROUTINE)
    except ValueError:
        kind = None
    try:
        if kind is None:
            raise invalid("kind", "请选择巡查类型")
        spec = patrols.StartSpec(
            kind=kind, started_at=_sent_at(form), client_id=_s(form, "client_id")
        )
        outcome = await write(
            request, patrols.start_patrol, spec, tz=console_of(request).runtime.tz
        )
    except DomainError as exc:
        outcome = exc
    if isinstance(outcome, DomainError):
        return await _home_refused(request, scope, outcome, form, "start")
    return _done(request, "已出发巡查")


@page(Permission.PATROL_RECORD, uploads=True)
async def finding(request: Request, scope: Scope) -> Response:
    form = await _form(request)
    patrol_id = request.path_params["patrol_id"]
    runtime = console_of(request).runtime
    resolved = _s(form, "resolved_on_site") in ("1", "on", "true")

    async def record(session: AsyncSession, scope: Scope) -> CaseRow:
        try:
            category = Category(_s(form, "category"))
        except ValueError:
            raise invalid("category", "请选择问题类别") from None
        photos = await _photos(session, scope, request, form)
        spec = patrols.FindingSpec(
            title=_s(form, "title"),
            description=_s(form, "description"),
            category=category,
            client_id=_s(form, "client_id"),
            resolved_on_site=resolved,
            result=_s(form, "result") or None,
            attachment_ids=tuple(str(a.id) for a in photos),
        )
        return await patrols.record_finding(
            session,
            scope,
            patrol_id,
            spec,
            tz=runtime.tz,
            prefix=runtime.case_prefix,
            rules=runtime.rules,
        )

    outcome = await write(request, record)
    if isinstance(outcome, DomainError):
        if outcome.field == "patrolId" and outcome.code == ErrorCode.NOT_FOUND:
            raise PageNotFound
        return await _home_refused(request, scope, outcome, form, "finding")
    what = "已现场解决" if resolved else "已上报"
    return _done(request, f"发现的问题{what}，案件编号 {outcome.number}")


@page(Permission.PATROL_RECORD)
async def end(request: Request, scope: Scope) -> Response:
    form = await _form(request)
    try:
        when = _sent_at(form)
        outcome = await write(
            request, patrols.end_patrol, request.path_params["patrol_id"], _s(form, "summary"), when
        )
    except DomainError as exc:
        outcome = exc
    if isinstance(outcome, DomainError):
        if outcome.field == "patrolId" and outcome.code == ErrorCode.NOT_FOUND:
            raise PageNotFound
        return await _home_refused(request, scope, outcome, form, "end")
    return _done(request, "巡查已结束")


# --- photos --------------------------------------------------------------------------------------


def _photo_refusal(status: int, message: str, code: str) -> JSONResponse:
    return JSONResponse(
        {"errors": [{"field": "file", "message": message, "code": code}]}, status_code=status
    )


@page(Permission.ATTACHMENT_UPLOAD, uploads=True)
async def upload_photo(request: Request, scope: Scope) -> Response:
    """One photo from the phone's camera, stored through hub/attachments; answers its id (the
    same answer as POST /attachments). The same photo again is the same id."""
    form = await _form(request)
    part = form.get("file") or form.get("photo")
    if not isinstance(part, UploadFile):
        return _photo_refusal(422, "缺少照片：请拍照或选择照片后再上传", ErrorCode.VALIDATION)
    runtime = console_of(request).runtime
    limit = runtime.settings.attachments_max_bytes
    data = await part.read(limit + 1)
    if len(data) > limit:
        return _photo_refusal(413, attachments.TooLarge(limit).message, "PAYLOAD_TOO_LARGE")

    async def store(session: AsyncSession, scope: Scope) -> attachments.Attachment:
        tenant_id = attachments.upload_tenant(scope, None)
        if scope.principal.member_id is not None:
            tenant_id = (await bound_member(session, scope)).tenant_id
        return await attachments.store_attachment(
            session,
            runtime.blobs,
            data=data,
            uploaded_by=scope.principal.id,
            tenant_id=tenant_id,
            max_bytes=limit,
        )

    row = await write(request, store)
    if isinstance(row, DomainError):
        status = status_of(row)
        code = {413: "PAYLOAD_TOO_LARGE", 415: "UNSUPPORTED_MEDIA_TYPE"}.get(status, row.code)
        return _photo_refusal(status, row.message, code)
    body = {"id": str(row.id), "sha256": row.sha256, "size": row.size}
    return JSONResponse({**body, "contentType": row.content_type}, status_code=201)


@page()
async def photo(request: Request, scope: Scope) -> Response:
    """A photo the caller may read (their own upload, or one of a case they see)."""
    return await attachment_response(request, request.path_params["id"])


# --- one of my cases -----------------------------------------------------------------------------


async def _my_case(request: Request, scope: Scope) -> CaseRow:
    row = await read(
        request, loaders.get_case_by_number, request.path_params["number"], {"timeline"}
    )
    if row is None:
        raise PageNotFound
    return row


async def case_context(
    request: Request, scope: Scope, row: CaseRow, **extra: Any
) -> dict[str, Any]:
    context = {
        "case": case_node(row, view_of(scope)),
        "actions": offered(scope, row, False) & {"accept", "progress", "submit"},
        "flash": request.session.pop("flash", None),
        "error": None,
        "error_form": None,
        "values": {},
        "client_id": client_id(),
    }
    context.update(extra)
    return context


@page()
async def my_case(request: Request, scope: Scope) -> Response:
    row = await _my_case(request, scope)
    return render(request, "m/case.html", await case_context(request, scope, row))


@page(uploads=True)
async def case_action(request: Request, scope: Scope) -> Response:
    name = request.path_params["action"]
    if name not in ("accept", "progress", "submit"):
        raise PageNotFound
    row = await _my_case(request, scope)
    form = await _form(request)
    tz = console_of(request).runtime.tz
    case_id = str(row.id)

    async def submit(session: AsyncSession, scope: Scope) -> CaseRow:
        photos = await _photos(session, scope, request, form)
        case = await steps.submit_result(
            session, scope, case_id, _s(form, "result"), _on_site(form, tz), tz=tz
        )
        await attachments.attach_all(
            session, scope, photos, kind=OwnerKind.CASE, owner_id=case.id, tenant_id=case.tenant_id
        )
        return case

    try:
        if name == "accept":
            outcome = await write(request, steps.accept, case_id, _s(form, "note") or None, tz=tz)
        elif name == "progress":
            outcome = await write(request, steps.record_progress, case_id, _s(form, "note"))
        else:
            outcome = await write(request, submit)
    except DomainError as exc:
        outcome = exc
    if isinstance(outcome, DomainError):
        if outcome.code == ErrorCode.NOT_FOUND and outcome.field == "caseId":
            raise PageNotFound
        fresh = await _my_case(request, scope)
        values = {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf_token"}
        context = await case_context(
            request, scope, fresh, error=outcome.message, error_form=name, values=values
        )
        return render(request, "m/case.html", context, status=status_of(outcome))
    done = {"accept": "已签收", "progress": "已记录办理进展", "submit": "已提交审核"}[name]
    return _done(request, done, f"/console/m/cases/{row.number}")


def _on_site(form: FormData, tz: Any) -> datetime | None:
    text = _s(form, "on_site_at")
    if not text:
        return None
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise invalid("onSiteAt", "到场时间格式不正确，应为 2026-12-10 08:00") from None
    return at if at.tzinfo else at.replace(tzinfo=tz)


# --- today's diary -------------------------------------------------------------------------------


async def diary_context(request: Request, scope: Scope, **extra: Any) -> dict[str, Any]:
    tz = console_of(request).runtime.tz
    today = diaries.local_today(tz)
    member = await read(request, bound_member)
    day = await read(request, diaries.work_diary, str(member.id), today, tz=tz)
    context = {
        "day": day,
        "today": today,
        "flash": request.session.pop("flash", None),
        "error": None,
        "text": day.diary.text if day.diary else "",
    }
    context.update(extra)
    return context


@page(Permission.DIARY_WRITE)
async def diary(request: Request, scope: Scope) -> Response:
    try:
        context = await diary_context(request, scope)
    except DomainError as exc:
        return error_page(request, 403 if exc.code == ErrorCode.FORBIDDEN else 404, exc.message)
    return render(request, "m/diary.html", context)


@page(Permission.DIARY_WRITE)
async def write_diary(request: Request, scope: Scope) -> Response:
    form = await _form(request)
    tz = console_of(request).runtime.tz
    text = form.get("text")
    try:
        day = date.fromisoformat(_s(form, "day")) if _s(form, "day") else diaries.local_today(tz)
    except ValueError:
        day = None
    if day is None:
        outcome: Any = invalid("date", "日期格式不正确")
    else:
        outcome = await write(
            request, diaries.write_diary, day, text if isinstance(text, str) else "", tz=tz
        )
    if isinstance(outcome, DomainError):
        context = await diary_context(
            request, scope, error=outcome.message, text=text if isinstance(text, str) else ""
        )
        return render(request, "m/diary.html", context, status=status_of(outcome))
    return _done(request, "今日日记已保存", "/console/m/diary")


ROUTES = [
    Route("/m/", home, methods=["GET"]),
    Route("/m/patrols", start, methods=["POST"]),
    Route("/m/patrols/{patrol_id}/findings", finding, methods=["POST"]),
    Route("/m/patrols/{patrol_id}/end", end, methods=["POST"]),
    Route("/m/photos", upload_photo, methods=["POST"]),
    Route("/m/photos/{id}", photo, methods=["GET"]),
    Route("/m/cases/{number}", my_case, methods=["GET"]),
    Route("/m/cases/{number}/{action}", case_action, methods=["POST"]),
    Route("/m/diary", diary, methods=["GET"]),
    Route("/m/diary", write_diary, methods=["POST"]),
]
