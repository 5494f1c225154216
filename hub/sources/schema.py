"""GraphQL: the sources (enterprises, facilities) cases are about; enterprises, saveEnterprise."""

from __future__ import annotations

from typing import Annotated

import strawberry

from hub.gql import Context, UserError
from hub.grid.admin import ListFilter
from hub.grid.schema import GridCellInfo
from hub.sources import service
from hub.sources.model import Source as SourceRow

Info = strawberry.Info[Context, None]


@strawberry.type(description="An enterprise or facility (污染源).")
class Source:
    id: strawberry.ID
    name: str
    industry: str
    address: str | None

    @classmethod
    def of(cls, row: SourceRow) -> Source:
        return cls(
            id=strawberry.ID(str(row.id)), name=row.name, industry=row.industry, address=row.address
        )


@strawberry.type(description="A monitoring point watching an enterprise (registerMonitoringPoint).")
class EnterprisePoint:
    id: strawberry.ID
    mn: str
    name: str
    kind: str


@strawberry.type(
    description="An enterprise (污染源) as the grid office keeps it, keyed by its 统一社会信用代码."
)
class Enterprise:
    id: strawberry.ID
    name: str
    credit_code: str | None
    industry: str
    address: str | None
    latitude: float | None
    longitude: float | None
    tenant_code: str
    grid_cell: GridCellInfo | None
    active: bool = strawberry.field(description="False once closed: kept, with its cases.")
    monitoring_points: list[EnterprisePoint]

    @classmethod
    def of(cls, info: Info, found: service.Enterprise) -> Enterprise:
        row = found.source
        return cls(
            id=strawberry.ID(str(row.id)),
            name=row.name,
            credit_code=row.credit_code,
            industry=row.industry,
            address=row.address,
            latitude=row.latitude,
            longitude=row.longitude,
            tenant_code=info.context.scope.directory.by_id[row.tenant_id].code,
            grid_cell=GridCellInfo.of(info, found.cell) if found.cell is not None else None,
            active=row.active,
            monitoring_points=[
                EnterprisePoint(id=strawberry.ID(str(p.id)), mn=p.mn, name=p.name, kind=p.kind)
                for p in found.points
            ],
        )


@strawberry.input(description="An enterprise to save: creditCode keys it, saving again updates.")
class EnterpriseInput:
    tenant_code: str
    credit_code: str = strawberry.field(description="统一社会信用代码, 18 characters (GB 32100).")
    name: str
    industry: str = strawberry.field(description="e.g. 耐火材料, 造纸, 水泥, 面粉加工, 电力")
    address: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    grid_cell_code: str | None = strawberry.field(
        default=None, description="The code of a cell of the same town."
    )
    active: bool = strawberry.field(default=True, description="false: the enterprise closed.")


@strawberry.type
class EnterpriseResult:
    enterprise: Enterprise


@strawberry.type
class Query:
    @strawberry.field(description="The enterprises the caller sees, by town and name.")
    async def enterprises(
        self,
        info: Info,
        tenant_code: str | None = None,
        grid_cell_id: strawberry.ID | None = None,
        active: bool | None = None,
    ) -> list[Enterprise]:
        cell_id = str(grid_cell_id) if grid_cell_id is not None else None
        wanted = ListFilter(tenant_code, cell_id, active)
        found = await info.context.read(service.list_enterprises, wanted)
        return [Enterprise.of(info, e) for e in found]


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="Create or update an enterprise by creditCode; ADMIN any town, OPERATOR "
        "its own. Audited on the town's chain."
    )
    async def save_enterprise(
        self, info: Info, input: EnterpriseInput
    ) -> Annotated[EnterpriseResult | UserError, strawberry.union("EnterpriseMutationResult")]:
        spec = service.EnterpriseSpec(
            tenant_code=input.tenant_code,
            credit_code=input.credit_code,
            name=input.name,
            industry=input.industry,
            address=input.address,
            latitude=input.latitude,
            longitude=input.longitude,
            grid_cell_code=input.grid_cell_code,
            active=input.active,
        )
        done = await info.context.write(service.save_enterprise, spec)
        if isinstance(done, UserError):
            return done
        return EnterpriseResult(enterprise=Enterprise.of(info, done))
