"""GraphQL: grid cells and their members (gridCells, members, saveGridCell, saveMember)."""

from __future__ import annotations

from typing import Annotated, cast

import strawberry
from strawberry.scalars import JSON

from hub.gql import Context, UserError
from hub.grid import admin, service
from hub.grid.model import GridCell as GridCellRow
from hub.grid.model import Member as MemberRow
from hub.grid.model import MemberRole as MemberRoleEnum

Info = strawberry.Info[Context, None]

# strawberry.enum registers on the enum class itself; mypy accepts the plain alias as a type
strawberry.enum(MemberRoleEnum, name="MemberRole")
MemberRole = MemberRoleEnum


@strawberry.type(description="A grid cell as a member or an enterprise names it.")
class GridCellInfo:
    id: strawberry.ID
    code: str
    name: str
    level: int
    tenant_code: str
    active: bool

    @classmethod
    def of(cls, info: Info, row: GridCellRow) -> GridCellInfo:
        return cls(
            id=strawberry.ID(str(row.id)),
            code=row.code,
            name=row.name,
            level=row.level,
            tenant_code=info.context.scope.directory.by_id[row.tenant_id].code,
            active=row.active,
        )


@strawberry.type(description="A person who works a grid cell (网格员, 网格长, 下沉人员).")
class Member:
    id: strawberry.ID
    name: str
    role: MemberRole
    row: strawberry.Private[MemberRow]
    cell: strawberry.Private[GridCellRow | None] = None

    @classmethod
    def of(cls, row: MemberRow, cell: GridCellRow | None = None) -> Member:
        return cls(
            id=strawberry.ID(str(row.id)),
            name=row.name,
            role=MemberRoleEnum(row.role),
            row=row,
            cell=cell,
        )

    async def _full(self, info: Info) -> MemberRow:
        """The row with every column: a case's assignee comes with its id, name and role only."""
        if admin.is_partial(self.row):
            self.row = await info.context.read(admin.member_by_id, self.row.id)
        return self.row

    @strawberry.field(description="The work phone (a mobile or a fixed line).")
    async def phone(self, info: Info) -> str | None:
        return (await self._full(info)).phone

    @strawberry.field(description="False once the person left: kept, with their history.")
    async def active(self, info: Info) -> bool:
        return (await self._full(info)).active

    @strawberry.field(
        description="The bureau's staff number (工号): with tenantCode the key of saveMember; "
        "null only for people stored before staff numbers were kept."
    )
    async def external_id(self, info: Info) -> str | None:
        return (await self._full(info)).external_id

    @strawberry.field
    async def tenant_code(self, info: Info) -> str:
        row = await self._full(info)
        return info.context.scope.directory.by_id[row.tenant_id].code

    @strawberry.field(description="The cell the person works.")
    async def grid_cell(self, info: Info) -> GridCellInfo | None:
        row = await self._full(info)
        cell = self.cell
        if cell is None and row.grid_cell_id is not None:
            cell = await info.context.read(admin.cell_by_id, row.grid_cell_id)
        return GridCellInfo.of(info, cell) if cell is not None else None


@strawberry.type(description="A grid cell: level 1 city, 2 town, 3 village or community.")
class GridCell:
    id: strawberry.ID
    code: str
    name: str
    level: int
    parent_id: strawberry.ID | None
    tenant_code: str
    members: list[Member]
    active: bool = strawberry.field(description="False once retired: kept, routes nothing.")
    polygon: JSON | None = strawberry.field(
        description="The boundary as a GeoJSON Polygon or MultiPolygon (longitude, latitude)."
    )

    @classmethod
    def of(cls, info: Info, row: GridCellRow) -> GridCell:
        return cls(
            id=strawberry.ID(str(row.id)),
            code=row.code,
            name=row.name,
            level=row.level,
            parent_id=strawberry.ID(str(row.parent_id)) if row.parent_id else None,
            tenant_code=info.context.scope.directory.by_id[row.tenant_id].code,
            members=[Member.of(m, row) for m in row.members],
            active=row.active,
            polygon=cast(JSON, row.polygon),  # JSON is a NewType over Any to mypy
        )


@strawberry.input(
    description="A person to save: (tenantCode, externalId) keys them, saving again updates."
)
class MemberInput:
    tenant_code: str
    grid_cell_code: str = strawberry.field(description="The code of a cell of the same town.")
    name: str
    role: MemberRole
    external_id: str = strawberry.field(description="The bureau's staff number (工号).")
    phone: str | None = None
    active: bool = strawberry.field(default=True, description="false: the person left.")


@strawberry.input(description="A cell to save: (tenantCode, code) keys it, saving again updates.")
class GridCellInput:
    tenant_code: str
    code: str
    name: str
    level: int = strawberry.field(description="1 city, 2 town, 3 village or community.")
    parent_code: str | None = strawberry.field(
        default=None, description="The parent cell's code, in the same town or the city above."
    )
    polygon: JSON | None = strawberry.field(
        default=None, description="GeoJSON Polygon or MultiPolygon, [longitude, latitude]."
    )
    active: bool = strawberry.field(
        default=True, description="false: retire the cell (it must hold no active member)."
    )


@strawberry.type
class MemberResult:
    member: Member


@strawberry.type
class GridCellResult:
    cell: GridCell


@strawberry.type
class Query:
    @strawberry.field(description="Grid cells the caller sees, optionally of one tenant.")
    async def grid_cells(self, info: Info, tenant_code: str | None = None) -> list[GridCell]:
        rows: list[GridCellRow] = await info.context.read(service.list_cells, tenant_code)
        return [GridCell.of(info, r) for r in rows]

    @strawberry.field(
        description="The members the caller sees, by town, cell and name; each filter optional."
    )
    async def members(
        self,
        info: Info,
        tenant_code: str | None = None,
        grid_cell_id: strawberry.ID | None = None,
        active: bool | None = None,
    ) -> list[Member]:
        cell_id = str(grid_cell_id) if grid_cell_id is not None else None
        wanted = admin.ListFilter(tenant_code, cell_id, active)
        rows = await info.context.read(admin.list_members, wanted)
        return [Member.of(r, r.grid_cell) for r in rows]


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="Create or update a member by (tenantCode, externalId); ADMIN any town, "
        "OPERATOR its own. Audited on the town's chain."
    )
    async def save_member(
        self, info: Info, input: MemberInput
    ) -> Annotated[MemberResult | UserError, strawberry.union("MemberMutationResult")]:
        spec = admin.MemberSpec(
            tenant_code=input.tenant_code,
            grid_cell_code=input.grid_cell_code,
            name=input.name,
            role=MemberRoleEnum(input.role.value),
            external_id=input.external_id,
            phone=input.phone,
            active=input.active,
        )
        done = await info.context.write(admin.save_member, spec)
        if isinstance(done, UserError):
            return done
        return MemberResult(member=Member.of(done, done.grid_cell))

    @strawberry.mutation(
        description="Create or update a grid cell by (tenantCode, code); ADMIN any town, "
        "OPERATOR its own. Audited on the town's chain."
    )
    async def save_grid_cell(
        self, info: Info, input: GridCellInput
    ) -> Annotated[GridCellResult | UserError, strawberry.union("GridCellMutationResult")]:
        spec = admin.CellSpec(
            tenant_code=input.tenant_code,
            code=input.code,
            name=input.name,
            level=input.level,
            parent_code=input.parent_code,
            polygon=input.polygon,
            active=input.active,
        )
        done = await info.context.write(admin.save_cell, spec)
        if isinstance(done, UserError):
            return done
        return GridCellResult(cell=GridCell.of(info, done))
