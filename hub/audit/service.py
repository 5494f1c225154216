"""Appending to and checking the audit trail."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, event, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from hub.audit import chain
from hub.audit.model import AuditEntry, AuditHead
from hub.auth import Principal, Scope
from hub.db import utcnow, within
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
    leave in one flush at commit instead of being flushed by the head's statement. On
    PostgreSQL the head is taken at commit, after that flush (``_chain_at_commit``): nothing to
    do here, and holding it from here to the commit would queue the town's writers."""
    if session.get_bind().dialect.name != "postgresql":
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
    """Add an entry at the end of the tenant's chain, in the caller's transaction (on
    PostgreSQL it joins the chain at commit: ``_chain_at_commit``)."""
    entry = _entry(tenant_id, actor, action, subject_type, subject_id, data, at or utcnow())
    await _add(session, tenant_id, [entry])
    return entry


async def append_many(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    actor: Principal,
    items: Sequence[tuple[str, str, str | uuid.UUID, Mapping[str, Any]]],
) -> list[AuditEntry]:
    """Several entries (action, subject type, subject id, data) on one chain, taking its head
    once: the inserts go out as one batch."""
    at = utcnow()
    entries = [_entry(tenant_id, actor, *item, at) for item in items]
    await _add(session, tenant_id, entries)
    return entries


def _entry(
    tenant_id: uuid.UUID,
    actor: Principal,
    action: str,
    subject_type: str,
    subject_id: str | uuid.UUID,
    data: Mapping[str, Any] | None,
    at: datetime,
) -> AuditEntry:
    return AuditEntry(
        tenant_id=tenant_id,
        at=at,
        action=action,
        subject_type=subject_type,
        subject_id=str(subject_id),
        actor_id=actor.id,
        actor_name=actor.name,
        data=dict(data or {}),
    )


def _link(entries: Sequence[AuditEntry], seq: int, prev_hash: str) -> tuple[int, str]:
    """Number and hash entries after a head at (seq, prev_hash); the head's new values."""
    for entry in entries:
        seq += 1
        entry.seq, entry.prev_hash = seq, prev_hash
        entry.hash = prev_hash = chain.entry_hash(prev_hash, content_of(entry))
    return seq, prev_hash


async def _add(session: AsyncSession, tenant_id: uuid.UUID, entries: list[AuditEntry]) -> None:
    if session.get_bind().dialect.name == "postgresql":
        sync = session.sync_session
        tx = sync.get_nested_transaction() or sync.get_transaction()
        session.info.setdefault("audit_pending", []).extend((tx, e) for e in entries)
        return
    # SQLite: the writer holds the database lock already (BEGIN IMMEDIATE).
    head = await _lock_head(session, tenant_id)
    head.seq, head.hash = _link(entries, head.seq, head.hash)
    session.add_all(entries)


# --- PostgreSQL: a transaction's entries join their chains at its commit -----------------------

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
# Creates the town's head if it has none and locks it (ON CONFLICT DO UPDATE locks the row as
# FOR UPDATE would; the no-op SET is what makes RETURNING answer an existing row).
_TAKE = (
    pg_insert(_HEADS)
    .values(tenant_id=bindparam("tenant", type_=_HEADS.c.tenant_id.type), seq=0, hash=chain.GENESIS)
    .on_conflict_do_update(index_elements=["tenant_id"], set_={"seq": _HEADS.c.seq})
    .returning(_HEADS.c.seq, _HEADS.c.hash)
)


@event.listens_for(Session, "before_commit")
def _chain_at_commit(session: Session) -> None:
    """A town's head is one row that every writer of the town locks until its commit. Taken in
    the middle of a transaction, it stays locked over every later round trip, and a busy event
    loop then makes a convoy of the town's writers (issue 16's load test: requests queued on
    the head until the pool's wait ran out). So on PostgreSQL the entries are numbered and
    hashed here, after the transaction's other rows are flushed: the head is taken and moved by
    the last statements before COMMIT. Heads in a fixed order: two commits never deadlock."""
    if session.in_nested_transaction():
        return  # a savepoint's entries wait for the real commit (or leave with its rollback)
    pending: list[tuple[object, AuditEntry]] | None = session.info.pop("audit_pending", None)
    if not pending:
        return
    session.flush()
    connection = session.connection()
    by_tenant: dict[uuid.UUID, list[AuditEntry]] = {}
    for _tx, entry in pending:
        by_tenant.setdefault(entry.tenant_id, []).append(entry)
    held = _held_heads(session)
    for tenant_id in sorted(by_tenant):
        entries = by_tenant[tenant_id]
        head = held.get(tenant_id)  # taken early by this transaction (take_head)
        seq, prev = (
            (head.seq, head.hash)
            if head
            else connection.execute(_TAKE, {"tenant": tenant_id}).one()
        )
        seq, prev = _link(entries, seq, prev)
        for entry in entries:
            entry.id = uuid.uuid4()
        rows = [{f"entry_{c.key}": getattr(e, c.key) for c in _ENTRIES.columns} for e in entries]
        if len(rows) == 1:  # the entry and the head's move in one round trip
            connection.execute(
                _APPEND, {**rows[0], "head_tenant": tenant_id, "head_seq": seq, "head_hash": prev}
            )
        else:
            connection.execute(
                insert(_ENTRIES),
                [{c.key: getattr(e, c.key) for c in _ENTRIES.columns} for e in entries],
            )
            connection.execute(
                update(_HEADS).where(_HEADS.c.tenant_id == tenant_id).values(seq=seq, hash=prev)
            )
        if head is not None:  # the held object learns its values as committed ones
            set_committed_value(head, "seq", seq)
            set_committed_value(head, "hash", prev)


def _held_heads(session: Session) -> dict[uuid.UUID, AuditHead]:
    tx = session.get_transaction()
    held: tuple[object, dict[uuid.UUID, AuditHead]] | None = session.info.get("audit_heads")
    return held[1] if held is not None and held[0] is tx else {}


@event.listens_for(Session, "after_soft_rollback")
def _drop_rolled_back(session: Session, previous: SessionTransaction) -> None:
    """Entries of a transaction or savepoint that rolled back leave with it."""
    pending: list[tuple[SessionTransaction, AuditEntry]] | None = session.info.get("audit_pending")
    if pending:
        session.info["audit_pending"] = [(tx, e) for tx, e in pending if not within(tx, previous)]


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
