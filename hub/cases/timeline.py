"""The timeline: every accepted change to a case is one Event, one AuditEntry, one entry in
the change feed and (after commit) one notice to subscribers, written in the caller's
transaction. A workflow step asks the pure workflow whether it may happen first."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from hub.audit import service as audit
from hub.auth import Principal, Scope
from hub.cases import workflow
from hub.cases.enums import CaseStatus, EventKind
from hub.cases.hooks import run_hooks
from hub.cases.model import Case, Event
from hub.db import utcnow
from hub.errors import DomainError
from hub.events import CaseNotice, announce
from hub.sync.service import record_change


async def record(
    session: AsyncSession,
    who: Scope | Principal,
    case: Case,
    kind: EventKind,
    from_status: str | None,
    to_status: str | None,
    note: str | None,
    data: dict[str, Any] | None = None,
) -> Event:
    """One change: its Event, its AuditEntry and (after commit) its notice to subscribers."""
    now = utcnow()
    actor = who.principal if isinstance(who, Scope) else who
    event = Event(
        tenant_id=case.tenant_id,
        case_id=case.id,
        at=now,
        action=kind,
        from_status=from_status,
        to_status=to_status,
        note=note,
        actor_id=actor.id,
        actor_name=actor.name,
        member_id=actor.member_id,
        data=data or {},
    )
    session.add(event)
    case.updated_at = now
    await audit.append(
        session,
        case.tenant_id,
        actor,
        f"case.{kind.lower()}",
        "case",
        case.id,
        {"number": case.number, "from": from_status, "to": to_status, "note": note, **(data or {})},
        at=now,
    )
    await record_change(session, case)
    await run_hooks(session, case, event)
    announce(session.sync_session, CaseNotice(kind, now, case.tenant_id, case))
    return event


def next_status(scope: Scope, case: Case, action: workflow.Action) -> CaseStatus:
    """The status the action leads to from the case's status, or the workflow's refusal."""
    decided = workflow.decide(
        CaseStatus(case.status), action, scope.roles, needs_feedback=case.needs_feedback
    )
    if isinstance(decided, workflow.Refusal):
        raise DomainError(decided.code, decided.reason)
    personal = workflow.refuse_other_member(
        action, scope.roles, scope.principal.member_id, case.assignee_id
    )
    if personal is not None:
        raise DomainError(personal.code, personal.reason)
    return decided


async def transition(
    session: AsyncSession,
    scope: Scope,
    case: Case,
    action: workflow.Action,
    kind: EventKind,
    note: str | None,
    data: dict[str, Any] | None = None,
) -> None:
    """One workflow step: move the case to its next status and record the change."""
    decided = next_status(scope, case, action)
    before = case.status
    case.status = decided
    await record(session, scope, case, kind, before, decided, note, data)
