"""The ledger's part of the time-limit sweep: overdue items carded like cases.

``hub.supervision.service.sweep`` calls :func:`sweep_items` in the same transaction, for the same
tenant, right after carding the cases: one sweep run, one notification path (``notify_many``,
the outbox's "notify" topic). The candidate items are read under their row locks, so two sweeps
at once card an item once; the notification's idempotency key (item, level) is the second guard,
as a case card's ``sweep_key`` is.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.audit import service as audit
from hub.auth import SYSTEM
from hub.cases.enums import CARD_LABELS, Card
from hub.grid.model import Member
from hub.ledgers import rules
from hub.ledgers.model import LedgerItem, LedgerStatus
from hub.supervision.calendar import workdays
from hub.tenancy.model import Tenant

KIND = "ledger.carded"
KIND_LABELS = {"PROBLEM": "问题台账", "RECTIFICATION": "限期整改"}


async def sweep_items(
    session: AsyncSession, tenant_id: uuid.UUID, now: datetime, tz: ZoneInfo
) -> int:
    """Card the tenant's open items past their deadline; returns how many cards were issued."""
    today = rules.local_day(now, tz)
    items = list(
        await session.scalars(
            select(LedgerItem)
            .where(
                LedgerItem.tenant_id == tenant_id,
                LedgerItem.status == LedgerStatus.OPEN,
                LedgerItem.deadline < today,
                or_(LedgerItem.card.is_(None), LedgerItem.card != Card.RED),
            )
            .order_by(LedgerItem.deadline, LedgerItem.number)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    )
    if not items:
        return 0
    is_workday = await workdays(session, tenant_id, min(i.deadline for i in items))
    town = await session.get(Tenant, tenant_id)
    names = await _responsible_names(session, items)
    entries: list[tuple[str, str, str | uuid.UUID, dict[str, Any]]] = []
    queued = []
    for item in items:
        for level in rules.to_issue(item.card, rules.earned(item.deadline, now, tz, is_workday)):
            item.card, item.carded_at = level.value, now
            who = names.get(item.responsible_member_id) if item.responsible_member_id else None
            data = _data(item, level, town, who)
            entries.append((KIND, "ledger_item", item.id, data))
            queued.append(
                (
                    tenant_id,
                    KIND,
                    _text(item, level, town, who),
                    data,
                    f"{KIND}:{item.id}:{level.value}",
                    str(item.id),
                )
            )
    if not queued:
        return 0
    await audit.append_many(session, tenant_id, SYSTEM, entries)
    from hub.notify.notifier import notify_many

    await notify_many(session, queued)
    return len(queued)


async def _responsible_names(
    session: AsyncSession, items: list[LedgerItem]
) -> dict[uuid.UUID, str]:
    ids = {i.responsible_member_id for i in items if i.responsible_member_id is not None}
    if not ids:
        return {}
    rows = await session.execute(select(Member.id, Member.name).where(Member.id.in_(ids)))
    return {row.id: row.name for row in rows}


def _text(item: LedgerItem, level: Card, town: Tenant | None, who: str | None) -> str:
    """e.g. "超时自动亮黄牌：来集镇 限期整改TZ-2026-0001（料场未覆盖），责任人：张伟，整改期限
    2026-12-10。已逾期未销号"."""
    kind = KIND_LABELS.get(item.kind, "台账")
    return (
        f"超时自动亮{CARD_LABELS[level]}：{town.name if town else ''} {kind}{item.number}"
        f"（{item.title}），责任人：{who or '未指定'}，整改期限 {item.deadline.isoformat()}。"
        "已逾期未销号"
    )


def _data(item: LedgerItem, level: Card, town: Tenant | None, who: str | None) -> dict[str, Any]:
    return {
        "itemId": str(item.id),
        "itemNumber": item.number,
        "kind": item.kind,
        "level": level.value,
        "automatic": True,
        "town": town.code if town else None,
        "townName": town.name if town else None,
        "responsible": who,
        "deadline": item.deadline.isoformat(),
    }
