"""Administering enterprises (污染源): saveEnterprise and the enterprises list.

Keyed on the 统一社会信用代码 (GB 32100), which names one enterprise in the whole country: saving
the same code again updates it, a closed enterprise is saved with ``active: false``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from sqlalchemy import exc, select
from sqlalchemy.ext.asyncio import AsyncSession
from stdnum import exceptions as stdnum_errors
from stdnum.cn import uscc

from hub.auth import Scope
from hub.db import new_id
from hub.errors import DomainError, ErrorCode, invalid
from hub.grid.admin import (
    ListFilter,
    admin_tenant,
    apply,
    cell_by_code,
    filtered,
    forget_on_commit,
    record,
)
from hub.grid.model import GridCell
from hub.monitoring.model import MonitoringPoint
from hub.roles import Permission, require
from hub.sources.model import NAMES_CACHE_KEY, Source
from hub.validation import check_label

NAME_MAX = 200
INDUSTRY_MAX = 64
ADDRESS_MAX = 500


@dataclass(frozen=True)
class EnterpriseSpec:
    tenant_code: str
    credit_code: str
    name: str
    industry: str
    address: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    grid_cell_code: str | None = None
    active: bool = True


@dataclass(frozen=True)
class Enterprise:
    """An enterprise as the API shows it: its cell and the monitoring points watching it."""

    source: Source
    cell: GridCell | None
    points: list[MonitoringPoint]


def check_credit_code(value: str) -> str:
    """The code in its compact upper-case form; its length, letters and check digit verified
    by python-stdnum (GB 32100-2015) rather than by a hand-written checksum."""
    try:
        return str(uscc.validate(value))
    except stdnum_errors.InvalidLength:
        message = "须为 18 位"
    except stdnum_errors.InvalidChecksum:
        message = "校验位不对（请核对是否抄错）"
    except stdnum_errors.ValidationError:
        message = "含有不允许的字符（只能是数字和除 I、O、Z、S、V 外的大写字母）"
    raise invalid("creditCode", f"统一社会信用代码（creditCode）{message}")


def check_location(latitude: float | None, longitude: float | None) -> None:
    """Both coordinates or neither, in WGS 84 degrees (the message in Chinese)."""
    if (latitude is None) != (longitude is None):
        field = "latitude" if latitude is None else "longitude"
        raise invalid(field, f"经纬度须同时给出（缺少 {field}）")
    if latitude is not None and not -90 <= latitude <= 90:
        raise invalid("latitude", f"纬度（latitude）{latitude} 超出范围（-90～90）")
    if longitude is not None and not -180 <= longitude <= 180:
        raise invalid("longitude", f"经度（longitude）{longitude} 超出范围（-180～180）")


# --- lookups: a query each, or none in a bulk save (hub.grid.admin.preload) -------------------

PRELOAD_KEY = "sources.preloaded"


@dataclass
class KnownSources:
    """Every enterprise the session sees, by credit code and by (town, name)."""

    by_code: dict[str, Source] = field(default_factory=dict)
    by_name: dict[tuple[uuid.UUID, str], Source] = field(default_factory=dict)

    def add(self, source: Source) -> None:
        if source.credit_code is not None:
            self.by_code[source.credit_code] = source
        self.by_name[(source.tenant_id, source.name)] = source


def _known(session: AsyncSession) -> KnownSources | None:
    found: KnownSources | None = session.info.get(PRELOAD_KEY)
    return found


async def preload(session: AsyncSession) -> None:
    """Switch the session to bulk saving (the caller sees every town it writes)."""
    known = KnownSources()
    for source in await session.scalars(select(Source).with_for_update()):
        known.add(source)
    session.info[PRELOAD_KEY] = known


async def by_credit_code(session: AsyncSession, credit_code: str) -> Source | None:
    """The enterprise of this 统一社会信用代码 (one saved earlier in a bulk import too)."""
    return await _by_code(session, credit_code)


async def _by_code(session: AsyncSession, credit_code: str) -> Source | None:
    known = _known(session)
    if known is not None:
        return known.by_code.get(credit_code)
    return await session.scalar(
        select(Source)
        .where(Source.credit_code == credit_code)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


async def _named(session: AsyncSession, tenant_id: uuid.UUID, name: str) -> Source | None:
    known = _known(session)
    if known is not None:
        return known.by_name.get((tenant_id, name))
    return await session.scalar(
        select(Source).where(Source.tenant_id == tenant_id, Source.name == name)
    )


async def _same_name(
    session: AsyncSession, tenant_id: uuid.UUID, source: Source | None, name: str
) -> None:
    """Names are unique in a town: another enterprise under this name is refused by name."""
    other = await _named(session, tenant_id, name)
    if other is not None and other is not source:
        code = other.credit_code or "无"
        raise DomainError(
            ErrorCode.CONFLICT,
            f"企业名称（name）{name} 在本镇已登记给另一家企业（统一社会信用代码 {code}）",
            "name",
        )


async def _insert(session: AsyncSession, source: Source, credit_code: str) -> None:
    """Insert under a savepoint: the code may be taken in a town the caller does not see. A bulk
    save sees every town, so its lookup has already answered that."""
    known = _known(session)
    if known is not None:
        session.add(source)
        known.add(source)
        return
    try:
        async with session.begin_nested():
            session.add(source)
            await session.flush()
    except exc.IntegrityError:
        raise DomainError(
            ErrorCode.CONFLICT,
            f"统一社会信用代码（creditCode）{credit_code} 已登记在其他镇",
            "creditCode",
        ) from None


async def save_source(
    session: AsyncSession, scope: Scope, spec: EnterpriseSpec
) -> tuple[Source, GridCell | None]:
    """Create or update the enterprise of this credit code in this town; it and its cell."""
    tenant = admin_tenant(scope, spec.tenant_code)
    credit_code = check_credit_code(spec.credit_code)
    name = check_label("name", "企业名称", spec.name, NAME_MAX)
    industry = check_label("industry", "行业", spec.industry, INDUSTRY_MAX)
    address = check_label("address", "地址", spec.address, ADDRESS_MAX) if spec.address else None
    check_location(spec.latitude, spec.longitude)
    cell = None
    if spec.grid_cell_code:
        cell = await cell_by_code(session, scope, tenant, spec.grid_cell_code, "gridCellCode")
    source = await _by_code(session, credit_code)
    if source is not None and source.tenant_id != tenant.id:
        town = scope.directory.by_id[source.tenant_id].name
        raise DomainError(
            ErrorCode.CONFLICT,
            f"统一社会信用代码（creditCode）{credit_code} 已登记在{town}",
            "creditCode",
        )
    await _same_name(session, tenant.id, source, name)
    created = source is None
    if source is None:
        source = Source(id=new_id(), tenant_id=tenant.id, credit_code=credit_code)
    old_name = source.name
    values = {
        "name": name,
        "industry": industry,
        "address": address,
        "latitude": spec.latitude,
        "longitude": spec.longitude,
        "grid_cell_id": cell.id if cell else None,
        "active": spec.active,
    }
    changed = apply(source, values)
    if created:
        await _insert(session, source, credit_code)
    elif "name" in changed and (known := _known(session)) is not None:
        known.by_name.pop((tenant.id, old_name), None)
        known.add(source)
    key = {"creditCode": credit_code, "name": name, "tenant": tenant.code}
    await record(session, scope, tenant.id, "sources.enterprise", source, created, changed, key)
    if created or {"name", "active"} & changed.keys():
        forget_on_commit(session, NAMES_CACHE_KEY)  # a caller may name it in the next minute
    return source, cell


async def save_enterprise(session: AsyncSession, scope: Scope, spec: EnterpriseSpec) -> Enterprise:
    """saveEnterprise: save_source, and the monitoring points watching the enterprise."""
    source, cell = await save_source(session, scope, spec)
    points = await _points(session, [source])
    return Enterprise(source, cell, points.get(source.id, []))


async def _points(
    session: AsyncSession, sources: list[Source]
) -> dict[uuid.UUID, list[MonitoringPoint]]:
    ids = [s.id for s in sources]
    found: dict[uuid.UUID, list[MonitoringPoint]] = {}
    if not ids:
        return found
    rows = await session.scalars(
        select(MonitoringPoint)
        .where(MonitoringPoint.source_id.in_(ids))
        .order_by(MonitoringPoint.mn)
    )
    for point in rows:
        if point.source_id is not None:
            found.setdefault(point.source_id, []).append(point)
    return found


async def list_enterprises(
    session: AsyncSession, scope: Scope, wanted: ListFilter
) -> list[Enterprise]:
    """The enterprises the caller sees, with their cells and monitoring points (three queries)."""
    require(scope, Permission.GRID_READ)
    query = filtered(scope, select(Source).order_by(Source.tenant_id, Source.name), Source, wanted)
    if query is None:
        return []
    sources = list(await session.scalars(query))
    cell_ids = {s.grid_cell_id for s in sources if s.grid_cell_id}
    cells = {
        c.id: c
        for c in (
            await session.scalars(select(GridCell).where(GridCell.id.in_(cell_ids)))
            if cell_ids
            else []
        )
    }
    points = await _points(session, sources)
    return [
        Enterprise(s, cells.get(s.grid_cell_id) if s.grid_cell_id else None, points.get(s.id, []))
        for s in sources
    ]
