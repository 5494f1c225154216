"""GraphQL: who am I, and which tenants I see."""

from __future__ import annotations

import strawberry

from hub.gql import Context
from hub.roles import Role as RoleEnum
from hub.tenancy.model import TenantKind as TenantKindEnum
from hub.tenancy.service import TenantInfo

# strawberry.enum registers on the enum class itself; mypy accepts the plain alias as a type
strawberry.enum(RoleEnum, name="Role")
Role = RoleEnum
strawberry.enum(TenantKindEnum, name="TenantKind")
TenantKind = TenantKindEnum


@strawberry.type(description="The city (command centre) or one of its towns.")
class Tenant:
    code: str
    name: str
    kind: TenantKind
    parent_code: str | None

    @classmethod
    def of(cls, info: TenantInfo) -> Tenant:
        return cls(code=info.code, name=info.name, kind=info.kind, parent_code=info.parent_code)


@strawberry.type
class Me:
    id: strawberry.ID
    name: str
    roles: list[Role]
    tenants: list[Tenant]


@strawberry.type
class Query:
    @strawberry.field(description="The caller: its roles and the tenants it sees.")
    def me(self, info: strawberry.Info[Context, None]) -> Me:
        scope = info.context.scope
        by_id = scope.directory.by_id
        return Me(
            id=strawberry.ID(scope.principal.id),
            name=scope.principal.name,
            roles=sorted(scope.roles),
            tenants=[Tenant.of(by_id[t]) for t in scope.tenant_ids],
        )

    @strawberry.field(description="The tenants the caller sees, the city first.")
    def tenants(self, info: strawberry.Info[Context, None]) -> list[Tenant]:
        scope = info.context.scope
        return [Tenant.of(scope.directory.by_id[t]) for t in scope.tenant_ids]
