"""Administering the grid: saving cells and members (and the checks enterprises share).

Each save is keyed on the bureau's own ids, (town, cell code) and (town, staff number), so saving
the same thing twice changes nothing and writes no audit entry. Nobody is deleted: ``active:
false`` retires a person or a cell and keeps their history. Every change is one entry on the
town's audit chain with the fields it changed, old and new.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, event, func, inspect, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.orm.attributes import set_committed_value

from hub.audit import service as audit
from hub.auth import Scope
from hub.cases.phones import check_phone
from hub.db import Database, new_id, utcnow
from hub.errors import DomainError, ErrorCode, invalid, not_found
from hub.grid.geometry import check_polygon
from hub.grid.model import GridCell, Member, MemberRole
from hub.grid.service import INDEX_KEY
from hub.roles import Permission, require
from hub.tenancy.model import Principal as PrincipalRow
from hub.tenancy.model import TenantKind
from hub.tenancy.service import TenantInfo
from hub.validation import check_label, parse_id

CHANGES_KEY = "grid.admin.changes"  # session.info: a Counter of the actions audited
CODE_MAX = 64
NAME_MAX = 100


@dataclass(frozen=True)
class MemberSpec:
    tenant_code: str
    grid_cell_code: str
    name: str
    role: MemberRole
    external_id: str
    phone: str | None = None
    active: bool = True


@dataclass(frozen=True)
class CellSpec:
    tenant_code: str
    code: str
    name: str
    level: int
    parent_code: str | None = None
    polygon: Any = None  # GeoJSON, checked here
    active: bool = True


# --- checks shared with enterprises (pure) -------------------------------------------------------



def check_code(field: str, label: str, value: str | None) -> str:
    """A code people copy between systems (staff number, cell code): no spaces inside."""
    code = check_label(field, label, value, CODE_MAX)
    if any(ch.isspace() for ch in code):
        raise invalid(field, f"{label}（{field}）不能含有空格")
    return code


def admin_tenant(scope: Scope, code: str, field: str = "tenantCode") -> TenantInfo:
    """The town the caller administers: ADMIN any, an OPERATOR only its own."""
    require(scope, Permission.MASTER_DATA_ADMIN)
    tenant = scope.directory.by_code.get(code.strip())
    if tenant is None:
        raise invalid(field, f"镇（街道）代码（{field}）{code!r} 不存在")
    if not scope.sees(tenant.id):
        raise DomainError(
            ErrorCode.FORBIDDEN, f"无权维护{tenant.name}的网格、人员和企业（只能维护本镇）", field
        )
    return tenant


async def cell_by_code(
    session: AsyncSession, scope: Scope, tenant: TenantInfo, code: str, field: str
) -> GridCell:
    """The tenant's cell of that code; another town's cell or an unknown code is refused."""
    code = code.strip()
    found = await cells_coded(session, code)
    own = next((c for c in found if c.tenant_id == tenant.id), None)
    if own is not None:
        return own
    if found:
        other = scope.directory.by_id[found[0].tenant_id].name
        raise invalid(field, f"网格编码（{field}）{code} 是{other}的网格，不属于{tenant.name}")
    raise invalid(field, f"网格编码（{field}）{code} 不存在于{tenant.name}")


def _plain(value: Any) -> Any:
    return str(value) if isinstance(value, uuid.UUID) else value


def apply(row: Any, values: Mapping[str, Any]) -> dict[str, list[Any]]:
    """Set the values that differ; what changed, as {attribute: [old, new]} for the audit."""
    changed: dict[str, list[Any]] = {}
    for attribute, new in values.items():
        old = getattr(row, attribute)
        if old != new:
            changed[attribute] = [_plain(old), _plain(new)]
            setattr(row, attribute, new)
    return changed


def action_of(kind: str, created: bool, changed: Mapping[str, list[Any]]) -> str:
    """grid.member_created, ..._deactivated, ..._reactivated or ..._updated."""
    if created:
        return f"{kind}_created"
    if "active" in changed:
        return f"{kind}_reactivated" if changed["active"][1] else f"{kind}_deactivated"
    return f"{kind}_updated"


async def record(
    session: AsyncSession,
    scope: Scope,
    tenant_id: uuid.UUID,
    kind: str,
    row: Any,
    created: bool,
    changed: Mapping[str, list[Any]],
    key: Mapping[str, Any],
) -> None:
    """Stamp and audit a change; nothing when nothing changed (a re-save is a no-op)."""
    if not created and not changed:
        return
    if not created:
        row.updated_at = utcnow()
    if preloaded(session) is None:  # a bulk save's inserts go out together at the commit
        await session.flush()
    data = {**key, "changes": dict(changed)}
    subject = kind.rsplit(".", 1)[-1]
    action = action_of(kind, created, changed)
    await audit.append(session, tenant_id, scope.principal, action, subject, row.id, data)
    # What an import reports at the end (created, updated ... per kind); nothing else reads it.
    counts: Counter[str] = session.info.setdefault(CHANGES_KEY, Counter())
    counts[action] += 1


# --- lookups: a query each, or none in a bulk save -------------------------------------------

PRELOAD_KEY = "grid.admin.preloaded"  # session.info: the Preloaded of a bulk save


@dataclass
class Preloaded:
    """Every cell and member the session sees, loaded (and locked) once: an import of 10,000
    rows then makes no query per row, and its inserts go out in batches at the commit."""

    cells: dict[str, list[GridCell]] = field(default_factory=dict)  # by code, of every town
    members: dict[tuple[uuid.UUID, str], Member] = field(default_factory=dict)

    def add_cell(self, cell: GridCell) -> None:
        self.cells.setdefault(cell.code, []).append(cell)


def preloaded(session: AsyncSession) -> Preloaded | None:
    found: Preloaded | None = session.info.get(PRELOAD_KEY)
    return found


async def preload(session: AsyncSession) -> None:
    """Switch the session to bulk saving (the caller sees every town it writes)."""
    found = Preloaded()
    for cell in await session.scalars(select(GridCell).with_for_update()):
        found.add_cell(cell)
    for member in await session.scalars(select(Member).with_for_update()):
        if member.external_id is not None:
            found.members[(member.tenant_id, member.external_id)] = member
    session.info[PRELOAD_KEY] = found


async def cells_coded(session: AsyncSession, code: str, *, lock: bool = False) -> list[GridCell]:
    """The cells of this code, of every town the session sees."""
    found = preloaded(session)
    if found is not None:
        return found.cells.get(code, [])
    query = select(GridCell).where(GridCell.code == code)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    return list(await session.scalars(query))


async def _member_of(
    session: AsyncSession, tenant_id: uuid.UUID, external_id: str
) -> Member | None:
    found = preloaded(session)
    if found is not None:
        return found.members.get((tenant_id, external_id))
    return await session.scalar(
        select(Member)
        .where(Member.tenant_id == tenant_id, Member.external_id == external_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


# --- members ----------------------------------------------------------------------------------


async def save_member(session: AsyncSession, scope: Scope, spec: MemberSpec) -> Member:
    """Create or update the person with this staff number in this town (its cell loaded)."""
    tenant = admin_tenant(scope, spec.tenant_code)
    external_id = check_code("externalId", "工号", spec.external_id)
    name = check_label("name", "姓名", spec.name, NAME_MAX)
    phone = check_phone("phone", spec.phone)
    cell = await cell_by_code(session, scope, tenant, spec.grid_cell_code, "gridCellCode")
    if spec.active and not cell.active:
        raise invalid("gridCellCode", f"网格（gridCellCode）{cell.code} 已停用，不能再分配在岗人员")
    member = await _member_of(session, tenant.id, external_id)
    if member is not None and member.name != name:
        # A staff number names one person: another name under it is a typo in one of the two.
        raise DomainError(
            ErrorCode.CONFLICT,
            f"工号（externalId）{external_id} 已登记为{member.name}，与{name}不符",
            "externalId",
        )
    created = member is None
    if member is None:
        member = Member(id=new_id(), tenant_id=tenant.id, external_id=external_id, name=name)
        session.add(member)
        if (bulk := preloaded(session)) is not None:
            bulk.members[(tenant.id, external_id)] = member
    values = {
        "role": MemberRole(spec.role).value,
        "phone": phone,
        "grid_cell_id": cell.id,
        "active": spec.active,
    }
    changed = apply(member, values)
    if changed.get("active") == [True, False]:  # a person who left: their logins stop working
        await session.execute(
            update(PrincipalRow)
            .where(PrincipalRow.member_id == member.id, PrincipalRow.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
    key = {"externalId": external_id, "name": name, "tenant": tenant.code}
    await record(session, scope, tenant.id, "grid.member", member, created, changed, key)
    set_committed_value(member, "grid_cell", cell)  # the answer shows it; not a change
    return member


@dataclass(frozen=True)
class ListFilter:
    """The filters of members and enterprises, each optional."""

    tenant_code: str | None = None
    grid_cell_id: str | None = None
    active: bool | None = None


def filtered(
    scope: Scope, query: Select[Any], model: Any, wanted: ListFilter
) -> Select[Any] | None:
    """The query narrowed to the filter (a row with tenant_id, grid_cell_id and active), or
    None when nothing can match (a town the caller does not see, an id that is none)."""
    if wanted.tenant_code is not None:
        tenant = scope.directory.by_code.get(wanted.tenant_code)
        if tenant is None or not scope.sees(tenant.id):
            return None
        query = query.where(model.tenant_id == tenant.id)
    if wanted.grid_cell_id is not None:
        cell_id = parse_id(wanted.grid_cell_id)
        if cell_id is None:
            return None
        query = query.where(model.grid_cell_id == cell_id)
    if wanted.active is not None:
        query = query.where(model.active.is_(wanted.active))
    return query


async def list_members(session: AsyncSession, scope: Scope, wanted: ListFilter) -> list[Member]:
    """The members the caller sees (each with its cell), by town, cell and name."""
    require(scope, Permission.GRID_READ)
    query = filtered(
        scope,
        select(Member)
        .options(selectinload(Member.grid_cell))
        .order_by(Member.tenant_id, Member.grid_cell_id, Member.name, Member.id),
        Member,
        wanted,
    )
    return [] if query is None else list(await session.scalars(query))


_MEMBER_COLUMNS = frozenset(c.key for c in inspect(Member).column_attrs)


def is_partial(row: Member) -> bool:
    """Whether some column of the row was not loaded (a load_only query, e.g. case assignees)."""
    return not inspect(row).unloaded.isdisjoint(_MEMBER_COLUMNS)


async def member_by_id(session: AsyncSession, scope: Scope, member_id: uuid.UUID) -> Member:
    """One member the caller sees, every column loaded."""
    member = await session.get(Member, member_id)
    if member is None:
        raise not_found("网格人员", "memberId")
    return member


async def cell_by_id(session: AsyncSession, scope: Scope, cell_id: uuid.UUID) -> GridCell | None:
    """One cell the caller sees (a member's, shown outside the members list)."""
    return await session.get(GridCell, cell_id)


# --- grid cells -------------------------------------------------------------------------------


def forget_index_on_commit(session: AsyncSession) -> None:
    """Drop the cached routing index once this transaction commits."""
    forget_on_commit(session, INDEX_KEY)


def forget_on_commit(session: AsyncSession, key: str) -> None:
    """Drop a cached entry once this transaction commits (not before: a reader rebuilding it
    in between would cache the old rows again)."""
    db: Database | None = session.info.get("db")
    if db is None:
        return

    def forget(_session: Session) -> None:
        db.cache.pop(key)

    event.listen(session.sync_session, "after_commit", forget, once=True)


def check_level(tenant: TenantInfo, level: int) -> int:
    if level not in (1, 2, 3):
        raise invalid("level", "网格层级（level）须为 1（市）、2（镇）或 3（村、社区）")
    if (level == 1) != (tenant.kind == TenantKind.CITY):
        raise invalid("level", "一级网格（level 1）只属于市，镇的网格为二级或三级")
    return level


async def _parent(
    session: AsyncSession, scope: Scope, tenant: TenantInfo, code: str | None, level: int
) -> GridCell | None:
    """The parent cell: in the same town or, for a town's own cell, in the city above it."""
    if code is None or not code.strip():
        return None
    code = code.strip()
    towns = [tenant.id] + ([tenant.parent_id] if tenant.parent_id else [])
    found = [c for c in await cells_coded(session, code) if c.tenant_id in towns]
    parent = min(found, key=lambda c: c.tenant_id != tenant.id, default=None)
    if parent is None:
        raise invalid("parentCode", f"上级网格编码（parentCode）{code} 不存在")
    if parent.level >= level:
        raise invalid("parentCode", f"上级网格（parentCode）{code} 的层级须高于本网格")
    return parent


async def _check_retire(session: AsyncSession, cell: GridCell) -> None:
    """A cell with people or cells still in it is not retired (they would point nowhere)."""
    people = await session.scalar(
        select(func.count()).where(Member.grid_cell_id == cell.id, Member.active.is_(True))
    )
    children = await session.scalar(
        select(func.count()).where(GridCell.parent_id == cell.id, GridCell.active.is_(True))
    )
    if people or children:
        raise DomainError(
            ErrorCode.CONFLICT,
            f"网格 {cell.code} 还有 {people} 名在岗人员和 {children} 个下级网格，先调整后再停用",
            "active",
        )


async def save_cell(session: AsyncSession, scope: Scope, spec: CellSpec) -> GridCell:
    """Create or update the town's cell of this code (its members loaded)."""
    tenant = admin_tenant(scope, spec.tenant_code)
    code = check_code("code", "网格编码", spec.code)
    name = check_label("name", "网格名称", spec.name, NAME_MAX)
    level = check_level(tenant, spec.level)
    polygon = check_polygon(spec.polygon)
    parent = await _parent(session, scope, tenant, spec.parent_code, level)
    coded = await cells_coded(session, code, lock=True)
    cell = next((c for c in coded if c.tenant_id == tenant.id), None)
    created = cell is None
    if cell is None:
        cell = GridCell(id=new_id(), tenant_id=tenant.id, code=code)
        session.add(cell)
        if (bulk := preloaded(session)) is not None:
            bulk.add_cell(cell)
    elif cell.active and not spec.active:
        await _check_retire(session, cell)
    values = {
        "name": name,
        "level": level,
        "parent_id": parent.id if parent else None,
        "polygon": polygon,
        "active": spec.active,
    }
    changed = apply(cell, values)
    key = {"code": code, "tenant": tenant.code}
    await record(session, scope, tenant.id, "grid.cell", cell, created, changed, key)
    if created or {"polygon", "level", "active"} & changed.keys():
        forget_index_on_commit(session)
    if preloaded(session) is None:  # the answer shows them; an import does not
        await session.refresh(cell, ["members"])
    return cell
