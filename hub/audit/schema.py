"""GraphQL: the supervision audit trail and its verification."""

from __future__ import annotations

from datetime import datetime

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from hub.audit import service
from hub.auth import Scope
from hub.cases.nodes import Actor
from hub.errors import unknown_town
from hub.gql import Context
from hub.roles import Permission

Info = strawberry.Info[Context, None]


@strawberry.type(description="One entry of a tenant's hash chain.")
class AuditEntry:
    seq: int
    at: datetime
    action: str
    subject_type: str
    subject_id: strawberry.ID
    tenant_code: str
    actor: Actor
    hash: str
    prev_hash: str


@strawberry.type
class ChainVerification:
    tenant_code: str
    ok: bool
    checked: int
    broken_at_seq: int | None
    reason: str | None


@strawberry.type(description="The first broken entry over the chains walked, if any.")
class AuditVerification:
    ok: bool
    checked: int
    broken_at_seq: int | None
    tenant_code: str | None
    reason: str | None
    chains: list[ChainVerification]


async def _verify(
    session: AsyncSession, scope: Scope, tenant_code: str | None
) -> list[service.Verification]:
    scope.require(Permission.AUDIT_READ)
    if tenant_code is None:
        ids = list(scope.tenant_ids)
    else:
        tenant = scope.directory.by_code.get(tenant_code)
        if tenant is None or not scope.sees(tenant.id):
            raise unknown_town("tenantCode", tenant_code)
        ids = [tenant.id]
    return await service.verify(session, scope, ids)


@strawberry.type
class Query:
    @strawberry.field(description="The audit trail of one subject (case, token...), oldest first.")
    async def audit_trail(self, info: Info, subject_id: strawberry.ID) -> list[AuditEntry]:
        ctx = info.context
        rows = await ctx.read(service.trail, str(subject_id))
        by_id = ctx.scope.directory.by_id
        return [
            AuditEntry(
                seq=r.seq,
                at=r.at,
                action=r.action,
                subject_type=r.subject_type,
                subject_id=strawberry.ID(r.subject_id),
                tenant_code=by_id[r.tenant_id].code,
                actor=Actor(id=strawberry.ID(r.actor_id), name=r.actor_name),
                hash=r.hash,
                prev_hash=r.prev_hash,
            )
            for r in rows
        ]

    @strawberry.field(description="Walk a town's chain, or every chain the caller sees.")
    async def verify_audit_trail(
        self, info: Info, tenant_code: str | None = None
    ) -> AuditVerification:
        results = await info.context.read(_verify, tenant_code)
        broken = next((r for r in results if not r.ok), None)
        return AuditVerification(
            ok=broken is None,
            checked=sum(r.checked for r in results),
            broken_at_seq=broken.broken_at_seq if broken else None,
            tenant_code=broken.tenant_code if broken else tenant_code,
            reason=broken.reason if broken else None,
            chains=[
                ChainVerification(
                    tenant_code=r.tenant_code,
                    ok=r.ok,
                    checked=r.checked,
                    broken_at_seq=r.broken_at_seq,
                    reason=r.reason,
                )
                for r in results
            ],
        )
