"""GraphQL: grid cells and their members."""

from __future__ import annotations

import strawberry

from hub.gql import Context
from hub.grid import service
from hub.grid.model import GridCell as GridCellRow
from hub.grid.model import Member as MemberRow
from hub.grid.model import MemberRole as MemberRoleEnum

# strawberry.enum registers on the enum class itself; mypy accepts the plain alias as a type
strawberry.enum(MemberRoleEnum, name="MemberRole")
MemberRole = MemberRoleEnum


@strawberry.type(description="A person who works a grid cell (网格员, 网格长, 下沉人员).")
class Member:
    id: strawberry.ID
    name: str
    role: MemberRole

    @classmethod
    def of(cls, row: MemberRow) -> Member:
        return cls(id=strawberry.ID(str(row.id)), name=row.name, role=MemberRoleEnum(row.role))


@strawberry.type(description="A grid cell: level 1 city, 2 town, 3 village or community.")
class GridCell:
    id: strawberry.ID
    code: str
    name: str
    level: int
    parent_id: strawberry.ID | None
    tenant_code: str
    members: list[Member]


@strawberry.type
class Query:
    @strawberry.field(description="Grid cells the caller sees, optionally of one tenant.")
    async def grid_cells(
        self, info: strawberry.Info[Context, None], tenant_code: str | None = None
    ) -> list[GridCell]:
        ctx = info.context
        rows: list[GridCellRow] = await ctx.read(service.list_cells, tenant_code)
        by_id = ctx.scope.directory.by_id
        return [
            GridCell(
                id=strawberry.ID(str(r.id)),
                code=r.code,
                name=r.name,
                level=r.level,
                parent_id=strawberry.ID(str(r.parent_id)) if r.parent_id else None,
                tenant_code=by_id[r.tenant_id].code,
                members=[Member.of(m) for m in r.members],
            )
            for r in rows
        ]
