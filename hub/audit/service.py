"""Appending to and checking the audit trail."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from hub.audit import chain
from hub.audit.model import AuditEntry, AuditHead
from hub.auth import Principal, Scope
from hub.db import utcnow
from hub.errors import unknown_town
from hub.roles import Permission

_ENTRIES, _HEADS = AuditEntry.__table__, AuditHead.__table__


def content_of(entry: AuditEntry) -> dict[str, Any]:
    """What an entry's hash covers: everything but the hashes themselves."""
    return {
        "tenant_id": str(entry.tenant_id),
        "seq": entry.seq,
        "at": entry.at,
        "action": entry.action,
        "subject_type": entry.subject_type,
        "subject_id": entry.subject_id,
        "actor_id": entry.actor_id,
        "actor_name": entry.actor_name,
        "data": entry.data,
    }


async def take_head(session: AsyncSession, tenant_id: uuid.UUID) -> None:
    """Lock the town's chain head now (an entry appended later in this transaction finds it
    held): a use case that writes several rows takes it before adding them, so that they all
    leave in one flush at commit instead of being flushed by the head's statement."""
    await _lock_head(session, tenant_id)


async def _lock_head(session: AsyncSession, tenant_id: uuid.UUID) -> AuditHead:
    # A head locked earlier in this same transaction is still ours (FOR UPDATE holds until the
    # transaction ends) and its in-memory seq/hash are the newest: no need to ask again.
    sync = session.sync_session
    tx = sync.get_nested_transaction() or sync.get_transaction()
    held: tuple[object, dict[uuid.UUID, AuditHead]] | None = session.info.get("audit_heads")
    if held is None or held[0] is not tx:
        held = session.info["audit_heads"] = (tx, {})
    if tenant_id in held[1]:
        return held[1][tenant_id]
    if sync.new or sync.dirty or sync.deleted:
        # What an ORM statement's autoflush did: rows added before the head leave (and take
        # their locks) before it, keeping the order every writer takes its locks in.
        await session.flush()
    connection = await session.connection()
    # One statement creates the head if the town has none and locks it: ON CONFLICT DO UPDATE
    # locks the row as FOR UPDATE would (it serialises writers of one town on PostgreSQL, and
    # a waiter then sees the newest committed seq/hash); SQLite writers hold the database lock
    # already (BEGIN IMMEDIATE). Core, built once, on the transaction's connection: the head
    # object is then made from the row without an ORM query.
    statement = _TAKE_HEAD[connection.dialect.name == "postgresql"]
    row = (await connection.execute(statement, {"tenant": tenant_id})).one()
    head = _held_head(session, tenant_id, row.seq, row.hash)
    held[1][tenant_id] = head
    return head


def _take_head_statement(insert: Any) -> Any:
    # The no-op SET is what makes RETURNING answer an existing row.
    return (
        insert(_HEADS)
        .values(
            tenant_id=bindparam("tenant", type_=_HEADS.c.tenant_id.type), seq=0, hash=chain.GENESIS
        )
        .on_conflict_do_update(index_elements=["tenant_id"], set_={"seq": _HEADS.c.seq})
        .returning(_HEADS.c.seq, _HEADS.c.hash)
    )


def _held_head(session: AsyncSession, tenant_id: uuid.UUID, seq: int, hash: str) -> AuditHead:
    """The session's persistent head with these values as loaded ones (as a query with
    populate_existing would leave it): later changes to it are flushed as an UPDATE."""
    sync = session.sync_session
    head = sync.identity_map.get(sync.identity_key(AuditHead, tenant_id))
    if isinstance(head, AuditHead):
        set_committed_value(head, "seq", seq)
        set_committed_value(head, "hash", hash)
        return head
    head = AuditHead(tenant_id=tenant_id, seq=seq, hash=hash)
    make_transient_to_detached(head)
    session.add(head)
    return head


# {is PostgreSQL: statement}
_TAKE_HEAD = {True: _take_head_statement(pg_insert), False: _take_head_statement(sqlite_insert)}


async def append(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    actor: Principal,
    action: str,
    subject_type: str,
    subject_id: str | uuid.UUID,
    data: Mapping[str, Any] | None = None,
    at: datetime | None = None,
) -> AuditEntry:
    """Add an entry at the end of the tenant's chain, in the caller's transaction."""
    head = await _lock_head(session, tenant_id)
    entry = AuditEntry(
        tenant_id=tenant_id,
        seq=head.seq + 1,
        at=at or utcnow(),
        action=action,
        subject_type=subject_type,
        subject_id=str(subject_id),
        actor_id=actor.id,
        actor_name=actor.name,
        data=dict(data or {}),
        prev_hash=head.hash,
    )
    entry.hash = chain.entry_hash(head.hash, content_of(entry))
    if session.get_bind().dialect.name == "postgresql":
        # The entry and the head's move in one statement on the transaction's connection
        # (one round trip, no ORM flush of either); the head object learns its new values
        # as committed ones (so it is not written again).
        entry.id = uuid.uuid4()
        connection = await session.connection()
        await connection.execute(
            _APPEND,
            {
                **{f"entry_{c.key}": getattr(entry, c.key) for c in _ENTRIES.columns},
                "head_tenant": tenant_id,
                "head_seq": entry.seq,
                "head_hash": entry.hash,
            },
        )
        set_committed_value(head, "seq", entry.seq)
        set_committed_value(head, "hash", entry.hash)
        return entry
    head.seq, head.hash = entry.seq, entry.hash
    session.add(entry)
    return entry


# WITH moved_head AS (UPDATE audit_heads ...) INSERT INTO audit_entries ...: PostgreSQL runs
# the data-modifying CTE exactly once, in the same statement. Built once: its compiled form
# is cached. No parameter is named like a column (a DML statement would SET those too).
_APPEND = (
    insert(_ENTRIES)
    .values({c.key: bindparam(f"entry_{c.key}", type_=c.type) for c in _ENTRIES.columns})
    .add_cte(
        update(_HEADS)
        .where(_HEADS.c.tenant_id == bindparam("head_tenant", type_=_HEADS.c.tenant_id.type))
        .values(
            seq=bindparam("head_seq", type_=_HEADS.c.seq.type),
            hash=bindparam("head_hash", type_=_HEADS.c.hash.type),
        )
        .cte("moved_head")
    )
)


async def append_many(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    actor: Principal,
    items: Sequence[tuple[str, str, str | uuid.UUID, Mapping[str, Any]]],
) -> list[AuditEntry]:
    """Several entries (action, subject type, subject id, data) on one chain, taking its head
    once: the inserts go out as one batch."""
    head = await _lock_head(session, tenant_id)
    entries, at = [], utcnow()
    for action, subject_type, subject_id, data in items:
        entry = AuditEntry(
            tenant_id=tenant_id,
            seq=head.seq + 1,
            at=at,
            action=action,
            subject_type=subject_type,
            subject_id=str(subject_id),
            actor_id=actor.id,
            actor_name=actor.name,
            data=dict(data),
            prev_hash=head.hash,
        )
        entry.hash = chain.entry_hash(head.hash, content_of(entry))
        head.seq, head.hash = entry.seq, entry.hash
        entries.append(entry)
    session.add_all(entries)
    return entries


async def trail(session: AsyncSession, scope: Scope, subject_id: str) -> list[AuditEntry]:
    scope.require(Permission.AUDIT_READ)
    if "\x00" in subject_id:  # no subject has one, and PostgreSQL refuses it in text
        return []
    rows = await session.scalars(
        select(AuditEntry)
        .where(AuditEntry.subject_id == subject_id)
        .order_by(AuditEntry.at, AuditEntry.tenant_id, AuditEntry.seq)
    )
    return list(rows)


@dataclass(frozen=True)
class Verification:
    tenant_id: uuid.UUID
    tenant_code: str
    ok: bool
    checked: int
    broken_at_seq: int | None
    reason: str | None


async def verify_chains(
    session: AsyncSession, scope: Scope, tenant_code: str | None
) -> list[Verification]:
    """The chain of one town the caller sees, or of every town it sees (``verifyAuditTrail``)."""
    scope.require(Permission.AUDIT_READ)
    if tenant_code is None:
        return await verify(session, scope, list(scope.tenant_ids))
    tenant = scope.directory.by_code.get(tenant_code)
    if tenant is None or not scope.sees(tenant.id):
        raise unknown_town("tenantCode", tenant_code)
    return await verify(session, scope, [tenant.id])


async def verify(
    session: AsyncSession, scope: Scope, tenant_ids: list[uuid.UUID]
) -> list[Verification]:
    """Walk each chain from its start; report the first entry that does not match."""
    results = []
    for tenant_id in tenant_ids:
        head = await session.get(AuditHead, tenant_id)
        stream = await session.stream_scalars(
            select(AuditEntry)
            .where(AuditEntry.tenant_id == tenant_id)
            .order_by(AuditEntry.seq)
            .execution_options(yield_per=2000)
        )
        walker, found = chain.Walker(), None
        async for entry in stream:
            found = walker.step(entry, content_of(entry))
            if found:
                break
        found = found or walker.finish(head.seq if head else None)
        checked = walker.checked
        code = scope.directory.by_id[tenant_id].code
        results.append(
            Verification(
                tenant_id,
                code,
                found is None,
                checked,
                found.seq if found else None,
                found.reason if found else None,
            )
        )
    return results
