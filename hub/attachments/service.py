"""Attachments as use cases: store an upload (type by content, size limit, once per sha256),
link it to what it belongs to (its sha256 on that owner's audit trail), and decide who may
read it. No HTTP here: the route (hub/attachments/routes.py), GraphQL inputs and connectors
(a camera's snapshot) all call these."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.attachments.model import Attachment, AttachmentLink, OwnerKind
from hub.attachments.sniff import ALLOWED, DEFAULT_MAX_BYTES, content_type
from hub.attachments.storage import BlobStore
from hub.audit import service as audit
from hub.auth import Principal, Scope
from hub.errors import DomainError, ErrorCode, not_found
from hub.roles import Permission, Role, allows
from hub.validation import parse_id


class AttachmentRefused(DomainError):
    """An upload that is not stored: too large, or not a type we accept."""


class TooLarge(AttachmentRefused):
    def __init__(self, limit: int) -> None:
        super().__init__(ErrorCode.VALIDATION, f"附件过大：最大 {_size_text(limit)}", "file")
        self.limit = limit


class UnsupportedType(AttachmentRefused):
    def __init__(self) -> None:
        super().__init__(
            ErrorCode.VALIDATION,
            "附件类型不支持：只接受 JPEG、PNG 照片或 PDF 文档（按文件内容判断，不看文件名）",
            "file",
        )


class EmptyFile(AttachmentRefused):
    def __init__(self) -> None:
        super().__init__(ErrorCode.VALIDATION, "附件是空文件", "file")


def _size_text(limit: int) -> str:
    if limit >= 1024 * 1024 and limit % (1024 * 1024) == 0:
        return f"{limit // (1024 * 1024)} MiB"
    if limit >= 1024 and limit % 1024 == 0:
        return f"{limit // 1024} KiB"
    return f"{limit} 字节"


def check_upload(data: bytes, max_bytes: int = DEFAULT_MAX_BYTES) -> str:
    """The content type of an acceptable upload, or the refusal (size first, then type)."""
    if len(data) > max_bytes:
        raise TooLarge(max_bytes)
    if not data:
        raise EmptyFile()
    found = content_type(data)
    if found is None:
        raise UnsupportedType()
    return found


async def store_attachment(
    session: AsyncSession,
    storage: BlobStore,
    *,
    data: bytes,
    uploaded_by: str,
    tenant_id: uuid.UUID,
    max_bytes: int = DEFAULT_MAX_BYTES,
    blob_stored: bool = False,
) -> Attachment:
    """Check and keep one upload in the caller's transaction. The blob is written under its
    sha256 (once, however many rows name it) before the row; a rolled-back row leaves a blob
    that the next upload of the same file reuses. The same file from the same uploader in the
    same town is the same attachment (a phone that retries gets the same id). ``blob_stored``:
    the caller put the blob already, before its transaction (a blob is named by its content, so
    writing it early is harmless and keeps a slow write out of the transaction)."""
    mime = check_upload(data, max_bytes)
    digest = hashlib.sha256(data).hexdigest()
    found = await session.scalar(
        select(Attachment).where(
            Attachment.tenant_id == tenant_id,
            Attachment.uploaded_by == uploaded_by,
            Attachment.sha256 == digest,
        )
    )
    if not blob_stored:
        await storage.put(digest, data, mime)
    if found is not None:
        return found
    row = Attachment(
        tenant_id=tenant_id,
        sha256=digest,
        size=len(data),
        content_type=mime,
        uploaded_by=uploaded_by,
    )
    session.add(row)
    await session.flush()
    return row


def upload_tenant(scope: Scope, tenant_code: str | None) -> uuid.UUID:
    """The town an upload belongs to: the one named, else the caller's only (or home) town."""
    scope.require(Permission.ATTACHMENT_UPLOAD)
    if tenant_code:
        tenant = scope.directory.by_code.get(tenant_code)
        if tenant is None or not scope.sees(tenant.id):
            raise not_found("乡镇", "tenantCode")
        return tenant.id
    codes = scope.principal.tenant_codes
    if codes:
        tenant = scope.directory.by_code.get(codes[0])
        if tenant is not None and scope.sees(tenant.id):
            return tenant.id
    if len(scope.tenant_ids) == 1:
        return scope.tenant_ids[0]
    city = scope.directory.city
    if city is not None and scope.sees(city.id):
        return city.id
    raise DomainError(ErrorCode.VALIDATION, "请用 tenantCode 指明附件所属的乡镇", "tenantCode")


def _subject(kind: OwnerKind) -> str:
    return kind.value.lower()


async def link_attachment(
    session: AsyncSession,
    attachment: Attachment,
    *,
    kind: OwnerKind,
    owner_id: uuid.UUID,
    tenant_id: uuid.UUID,
    actor: Principal,
    fresh: bool = False,
) -> Attachment:
    """Attach to one owner (a case, patrol, ledger item, finding or camera event of town
    ``tenant_id``) and put the sha256 on the owner's audit trail. Linking again changes
    nothing. An attachment uploaded under another town (a city-wide user's upload) is named
    again in the owner's town, pointing at the same blob, so the owner's readers see it: the
    row that is linked is returned. ``fresh``: the owner was made in this transaction, so no
    link to it can exist yet (not asked for)."""
    if attachment.tenant_id != tenant_id:
        attachment = await _in_tenant(session, attachment, tenant_id)
    existing = (
        None
        if fresh
        else await session.scalar(
            select(AttachmentLink.id).where(
                AttachmentLink.attachment_id == attachment.id,
                AttachmentLink.owner_kind == kind.value,
                AttachmentLink.owner_id == owner_id,
            )
        )
    )
    if existing is not None:
        return attachment
    session.add(
        AttachmentLink(
            tenant_id=tenant_id,
            attachment_id=attachment.id,
            owner_kind=kind.value,
            owner_id=owner_id,
            linked_by=actor.id,
        )
    )
    await audit.append(
        session,
        tenant_id,
        actor,
        "attachment.link",
        _subject(kind),
        owner_id,
        {
            "attachmentId": str(attachment.id),
            "sha256": attachment.sha256,
            "size": attachment.size,
            "contentType": attachment.content_type,
        },
    )
    return attachment


async def _in_tenant(
    session: AsyncSession, attachment: Attachment, tenant_id: uuid.UUID
) -> Attachment:
    found = await session.scalar(
        select(Attachment).where(
            Attachment.tenant_id == tenant_id,
            Attachment.uploaded_by == attachment.uploaded_by,
            Attachment.sha256 == attachment.sha256,
        )
    )
    if found is not None:
        return found
    row = Attachment(
        tenant_id=tenant_id,
        sha256=attachment.sha256,
        size=attachment.size,
        content_type=attachment.content_type,
        uploaded_by=attachment.uploaded_by,
        uploaded_at=attachment.uploaded_at,
    )
    session.add(row)
    await session.flush()
    return row


async def usable(
    session: AsyncSession, scope: Scope, ids: Sequence[str], field: str = "attachmentIds"
) -> list[Attachment]:
    """The attachments a caller names in an input, each one they uploaded or may read; an
    unknown id is refused naming the field (nothing is written). Repeats count once."""
    found: list[Attachment] = []
    seen: set[uuid.UUID] = set()
    for raw in ids:
        parsed = parse_id(raw)
        attachment = (
            await session.scalar(select(Attachment).where(Attachment.id == parsed))
            if parsed is not None
            else None
        )
        if attachment is None or not await readable(session, scope, attachment):
            raise DomainError(ErrorCode.NOT_FOUND, f"附件 {raw} 不存在或您无权使用", field)
        if attachment.id not in seen:
            seen.add(attachment.id)
            found.append(attachment)
    return found


async def attach_all(
    session: AsyncSession,
    scope: Scope,
    attachments: Sequence[Attachment],
    *,
    kind: OwnerKind,
    owner_id: uuid.UUID,
    tenant_id: uuid.UUID,
) -> list[Attachment]:
    return [
        await link_attachment(
            session, a, kind=kind, owner_id=owner_id, tenant_id=tenant_id, actor=scope.principal
        )
        for a in attachments
    ]


async def readable(session: AsyncSession, scope: Scope, attachment: Attachment) -> bool:
    """Whether the caller may read it: its uploader while it is attached to nothing, then
    whoever may see one of its owners (the town is already the session's: another town's
    attachment is not found at all)."""
    if not scope.sees(attachment.tenant_id):
        return False
    if attachment.uploaded_by == scope.principal.id:
        return True
    links = (
        await session.execute(
            select(AttachmentLink.owner_kind, AttachmentLink.owner_id).where(
                AttachmentLink.attachment_id == attachment.id
            )
        )
    ).all()
    for kind, owner_id in links:
        if await _owner_visible(session, scope, OwnerKind(kind), owner_id):
            return True
    return False


async def _owner_visible(
    session: AsyncSession, scope: Scope, kind: OwnerKind, owner_id: uuid.UUID
) -> bool:
    # Imported here: cases and patrols import this module to attach (no import cycle).
    from hub.cases.model import Case
    from hub.ledgers.model import LedgerItem
    from hub.patrols.model import Finding, Patrol

    if kind in (OwnerKind.CASE, OwnerKind.FINDING, OwnerKind.CAMERA_EVENT, OwnerKind.LEDGER):
        # Cases (and what hangs on them) are read by every role within its towns, as the
        # GraphQL `case` query does; ledger items and camera events likewise (their own read
        # permissions, when they get them, belong here).
        if not allows(scope, Permission.CASE_READ):
            return False
        if kind is OwnerKind.CASE:
            return await session.scalar(select(Case.id).where(Case.id == owner_id)) is not None
        if kind is OwnerKind.FINDING:
            return (
                await session.scalar(select(Finding.id).where(Finding.id == owner_id)) is not None
            )
        if kind is OwnerKind.LEDGER:
            return (
                await session.scalar(select(LedgerItem.id).where(LedgerItem.id == owner_id))
                is not None
            )
        return True  # a camera event: the link row itself is of a town the caller sees
    if not allows(scope, Permission.PATROL_READ):
        return False
    patrol = await session.scalar(select(Patrol).where(Patrol.id == owner_id))
    if patrol is None:
        return False
    # As `patrols` lists them: a MEMBER sees only their own.
    if scope.roles == frozenset({Role.MEMBER}):
        return patrol.member_id == scope.principal.member_id
    return True


async def attachments_of(
    session: AsyncSession, kind: OwnerKind, owner_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[Attachment]]:
    """The attachments of several owners, in the order attached: one statement for a list."""
    result: dict[uuid.UUID, list[Attachment]] = {i: [] for i in owner_ids}
    if not owner_ids:
        return result
    rows = await session.execute(
        select(AttachmentLink.owner_id, Attachment)
        .join(Attachment, Attachment.id == AttachmentLink.attachment_id)
        .where(AttachmentLink.owner_kind == kind.value, AttachmentLink.owner_id.in_(owner_ids))
        .order_by(AttachmentLink.linked_at, AttachmentLink.id)
    )
    for owner_id, attachment in rows:
        result[owner_id].append(attachment)
    return result


async def read_attachment(
    session: AsyncSession, storage: BlobStore, scope: Scope, attachment_id: str
) -> tuple[Attachment, bytes]:
    """The attachment and its bytes, if the caller may read it; NOT_FOUND otherwise (another
    town's or an invisible attachment is not told apart from an unknown id)."""
    parsed = parse_id(attachment_id)
    attachment = (
        await session.scalar(select(Attachment).where(Attachment.id == parsed))
        if parsed is not None
        else None
    )
    if attachment is None or not await readable(session, scope, attachment):
        raise not_found("附件", "id")
    return attachment, await storage.get(attachment.sha256)


__all__ = [
    "ALLOWED",
    "AttachmentRefused",
    "EmptyFile",
    "OwnerKind",
    "TooLarge",
    "UnsupportedType",
    "attach_all",
    "attachments_of",
    "check_upload",
    "link_attachment",
    "read_attachment",
    "readable",
    "store_attachment",
    "upload_tenant",
    "usable",
]
