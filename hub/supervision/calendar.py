"""The working calendar: seeding it from China's official calendar, editing it, and reading it
for working-day arithmetic."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from hub.cases.deadlines import IsWorkday
from hub.db import Database
from hub.supervision.model import WorkDay

CACHE_SECONDS = 60.0
LOOKAHEAD_DAYS = 400  # enough for any limit counted in working days


def official_day(day: date) -> tuple[bool, str]:
    """China's calendar from chinese_calendar: workday or not, and why."""
    import chinese_calendar

    weekend = day.weekday() >= 5
    try:
        workday = chinese_calendar.is_workday(day)
        _, holiday = chinese_calendar.get_holiday_detail(day)
    except NotImplementedError:  # a year the library does not know yet: weekends only
        return not weekend, "周末" if weekend else "工作日"
    # Holidays' names come in English from the library; people read Chinese.
    if workday:
        return True, "调休上班" if weekend else "工作日"
    return False, _HOLIDAY_NAMES.get(str(holiday), "周末") if holiday else "周末"


_HOLIDAY_NAMES = {
    "New Year's Day": "元旦",
    "Spring Festival": "春节",
    "Tomb-sweeping Day": "清明节",
    "Labour Day": "劳动节",
    "Dragon Boat Festival": "端午节",
    "Mid-autumn Festival": "中秋节",
    "National Day": "国庆节",
    "Anti-Fascist 70th Day": "抗战胜利纪念日",
}


async def seed(session: AsyncSession, tenant_ids: list[uuid.UUID], start: date, end: date) -> int:
    """Add the official days in [start, end] for each tenant; days already there (perhaps
    edited) are kept. Returns how many rows were added."""
    rows = []
    day = start
    while day <= end:
        workday, reason = official_day(day)
        rows += [
            {"tenant_id": t, "day": day, "workday": workday, "reason": reason} for t in tenant_ids
        ]
        day += timedelta(days=1)
    if not rows:
        return 0
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    before = await _count(session)
    for chunk in range(0, len(rows), 2000):
        await session.execute(insert(WorkDay).on_conflict_do_nothing(), rows[chunk : chunk + 2000])
    return await _count(session) - before


async def _count(session: AsyncSession) -> int:
    from sqlalchemy import func

    return int(await session.scalar(select(func.count()).select_from(WorkDay)) or 0)


async def set_day(
    session: AsyncSession, tenant_id: uuid.UUID, day: date, workday: bool, reason: str
) -> WorkDay:
    row = await session.get(WorkDay, (tenant_id, day))
    if row is None:
        row = WorkDay(tenant_id=tenant_id, day=day, workday=workday, reason=reason)
        session.add(row)
    row.workday, row.reason = workday, reason
    forget(session.info["db"], tenant_id)
    return row


async def days(
    session: AsyncSession, tenant_id: uuid.UUID, start: date, end: date
) -> list[WorkDay]:
    return list(
        await session.scalars(
            select(WorkDay)
            .where(WorkDay.tenant_id == tenant_id, WorkDay.day >= start, WorkDay.day <= end)
            .order_by(WorkDay.day)
        )
    )


async def workdays(session: AsyncSession, tenant_id: uuid.UUID, start: date) -> IsWorkday:
    """A tenant's calendar from ``start`` on, as a function; days without a row fall back to
    the official calendar. Cached per tenant for a minute."""
    db: Database = session.info["db"]
    key = f"calendar:{tenant_id}"
    cached = db.cache.get(key)
    if cached is not None and cached[0] <= start:
        return cached[1]
    rows = await days(session, tenant_id, start, start + timedelta(days=LOOKAHEAD_DAYS))
    known = {r.day: r.workday for r in rows}

    def is_workday(day: date) -> bool:
        found = known.get(day)
        return official_day(day)[0] if found is None else found

    db.cache.put(key, (start, is_workday), CACHE_SECONDS)
    return is_workday


def forget(db: Database, tenant_id: uuid.UUID) -> None:
    db.cache.pop(f"calendar:{tenant_id}", None)


async def ensure_calendars(db: Database, years_back: int = 1, years_ahead: int = 2) -> int:
    """Seed every tenant's calendar around today (idempotent; edited days are kept)."""
    from hub.tenancy.service import directory

    found = await directory(db)
    ids = [t.id for t in found.tenants]
    this_year = date.today().year
    async with db.session(ids, write=True) as session:
        added = await seed(
            session, ids, date(this_year - years_back, 1, 1), date(this_year + years_ahead, 12, 31)
        )
        await session.commit()
    return added
