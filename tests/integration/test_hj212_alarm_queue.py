"""Alarms a queue can live with, and readings that alarm bookkeeping can never cost (issue 11
items 2 and 8): a pre-claimed alarm id, one open case per point and pollutant, air stations
judged by the AQI, late data opening nothing."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from sqlalchemy import func, select

from connectors.hj212.http import writer_of
from hub.cases import intake
from hub.cases.model import Case, Event
from hub.demo import world
from hub.monitoring.episodes import external_id
from hub.monitoring.model import AlarmEpisode, AlarmKind, MonitoringPoint, Reading
from tests.conftest import Hub, register
from tests.helpers import POINT, Monitoring, now, upload

SMOKE = "a34013"  # 烟尘, limit 10 mg/m3 at the flue-gas points
PM25 = "a34004"
NEIGHBOUR = world.POINTS[1]  # another laiji flue-gas point
STATION = next(p for p in world.POINTS if p.kind == "AIR_STATION")


async def count(hub: Hub, query) -> int:
    async with hub.db.session((await hub.scope()).tenant_ids) as session:
        return int(await session.scalar(query) or 0)


async def monitoring_cases(hub: Hub) -> list[Case]:
    async with hub.db.session((await hub.scope()).tenant_ids) as session:
        return list(
            await session.scalars(
                select(Case).where(Case.channel_mask.op("&")(2) != 0).order_by(Case.created_at)
            )
        )


async def actions_of(hub: Hub, case: Case) -> list[str]:
    async with hub.db.session((await hub.scope()).tenant_ids) as session:
        rows = await session.scalars(
            select(Event.action).where(Event.case_id == case.id).order_by(Event.at)
        )
        return list(rows)


async def readings_of(hub: Hub, mn: str) -> int:
    return await count(
        hub,
        select(func.count())
        .select_from(Reading)
        .join(MonitoringPoint, MonitoringPoint.id == Reading.point_id)
        .where(MonitoringPoint.mn == mn),
    )


async def pre_claim(hub: Hub, at: datetime) -> None:
    """Register a MONITORING report under the id the episode starting at ``at`` will have.
    (Done as ADMIN: town operators may lose the channel, the writer must hold either way.)"""
    async with hub.db.session((await hub.scope()).tenant_ids) as session:
        row = await session.scalar(select(MonitoringPoint).where(MonitoringPoint.mn == POINT.mn))
    assert row is not None
    ext = external_id(row, AlarmKind.OVER_LIMIT, SMOKE, at)
    done = await register(hub, channel="MONITORING", externalId=ext, tenantCode="laiji")
    assert done["__typename"] == "CaseResult", done


def streak(start: datetime, values: list[float], seq: int = 1) -> bytes:
    return b"".join(
        upload({SMOKE: v}, start + timedelta(seconds=30 * i), seq + i) for i, v in enumerate(values)
    )


async def test_a_pre_claimed_alarm_id_costs_no_device_its_readings(
    hub: Hub, monitoring: Monitoring
) -> None:
    start = now() - timedelta(minutes=30)
    await pre_claim(hub, start + timedelta(seconds=60))  # the third value starts the episode
    victim, neighbour = await monitoring.connect(), await monitoring.connect()
    # both devices' packets land in one batch of the group commit
    await asyncio.gather(
        victim.send(streak(start, [12.0, 13.0, 14.0])),
        neighbour.send(upload({SMOKE: 4.0}, start, 1, point=NEIGHBOUR)),
    )
    assert [(await victim.reply()).cn for _ in range(3)] == ["9014"] * 3
    assert (await neighbour.reply()).cn == "9014"
    await victim.close()
    await neighbour.close()
    assert await readings_of(hub, POINT.mn) == 3
    assert await readings_of(hub, NEIGHBOUR.mn) == 1
    # the episode still got its case, under an id of its own
    async with hub.db.session((await hub.scope()).tenant_ids) as session:
        [episode] = list(await session.scalars(select(AlarmEpisode)))
    assert episode.case_id is not None
    assert episode.external_id.startswith(f"hj212:{POINT.mn}:{SMOKE}:over_limit:")
    assert len(await monitoring_cases(hub)) == 2  # the claim and the real one


async def test_http_ingest_with_a_pre_claimed_id_is_never_a_500(hub: Hub) -> None:
    start = now() - timedelta(minutes=30)
    await pre_claim(hub, start + timedelta(seconds=60))
    body = streak(start, [12.0, 13.0, 14.0, 15.0])
    response = await hub.http.post(
        "/ingest/hj212",
        content=body,
        headers={"Authorization": f"Bearer {hub.token('MONITOR')}"},
    )
    await writer_of(hub.app.state.connectors).stop()
    assert response.status_code == 200, response.text
    assert response.headers["x-hj212-outcomes"] == "STORED=4"
    assert await readings_of(hub, POINT.mn) == 4


async def test_episodes_of_one_point_and_pollutant_share_one_open_case(
    hub: Hub, monitoring: Monitoring
) -> None:
    device = await monitoring.connect()
    start = now() - timedelta(hours=2)
    hourly = [160.0, 20.0, 170.0, 20.0, 180.0]  # three episodes of PM2.5 (IAQI > 150 each)
    for i, value in enumerate(hourly):
        at = start + timedelta(minutes=20 * i)
        await device.send(upload({PM25: value}, at, i + 1, point=STATION, cn="2061"))
        assert (await device.reply()).cn == "9014"
    await device.close()
    [case] = await monitoring_cases(hub)
    assert case.report_count == 1 and "污染" in case.title
    assert (await actions_of(hub, case)).count("ALARM_REPEATED") == 2
    async with hub.db.session((await hub.scope()).tenant_ids) as session:
        found = list(await session.scalars(select(AlarmEpisode)))
    assert len(found) == 3 and {e.case_id for e in found} == {case.id}


async def test_a_48_hour_backfill_opens_no_case(hub: Hub, monitoring: Monitoring) -> None:
    device = await monitoring.connect()
    top = now().replace(minute=0, second=0) - timedelta(hours=4)
    for h in range(48, 0, -1):  # every other hour 重度污染, ending four hours ago
        value = 200.0 if h % 2 else 30.0
        await device.send(
            upload({PM25: value}, top - timedelta(hours=h), 49 - h, point=STATION, cn="2061")
        )
        assert (await device.reply()).cn == "9014"
    await device.close()
    assert await monitoring_cases(hub) == []
    assert await readings_of(hub, STATION.mn) == 48


async def test_late_episodes_are_written_on_the_open_case(hub: Hub, monitoring: Monitoring) -> None:
    device = await monitoring.connect()
    await device.send(
        upload({PM25: 160.0}, now() - timedelta(hours=1), 1, point=STATION, cn="2061")
    )
    assert (await device.reply()).cn == "9014"
    late = now() - timedelta(hours=20)
    await device.send(upload({PM25: 30.0}, late, 2, point=STATION, cn="2061"))
    await device.send(upload({PM25: 190.0}, late + timedelta(hours=1), 3, point=STATION, cn="2061"))
    assert [(await device.reply()).cn for _ in range(2)] == ["9014"] * 2
    await device.close()
    [case] = await monitoring_cases(hub)
    assert "ALARM_LATE" in await actions_of(hub, case)


async def test_real_time_pm25_over_the_24h_limit_on_a_good_day_opens_nothing(
    hub: Hub, monitoring: Monitoring
) -> None:
    device = await monitoring.connect()
    start = now() - timedelta(minutes=30)
    for i in range(6):  # real-time 100 ug/m3: above GB 3095's 24-hour 60, five times in a row
        await device.send(
            upload({PM25: 100.0}, start + timedelta(seconds=30 * i), i + 1, point=STATION)
        )
        assert (await device.reply()).cn == "9014"
    # the hour's mean: 50 ug/m3, IAQI 80, 良
    await device.send(upload({PM25: 50.0}, start, 10, point=STATION, cn="2061"))
    assert (await device.reply()).cn == "9014"
    await device.close()
    assert await monitoring_cases(hub) == []


async def test_an_hourly_mean_above_the_threshold_category_opens_one_case(
    hub: Hub, monitoring: Monitoring
) -> None:
    device = await monitoring.connect()
    at = now() - timedelta(hours=1)
    await device.send(upload({PM25: 130.0}, at, 1, point=STATION, cn="2061"))  # IAQI 172
    assert (await device.reply()).cn == "9014"
    await device.close()
    [case] = await monitoring_cases(hub)
    assert "分指数172（中度污染）" in case.description
    assert case.category == "AIR"


async def test_the_threshold_category_is_a_setting(hub: Hub, monitoring: Monitoring) -> None:
    monitoring.writer.settings = hub.settings.model_copy(update={"air_alarm_category": "重度污染"})
    device = await monitoring.connect()
    at = now() - timedelta(hours=1)
    await device.send(upload({PM25: 130.0}, at, 1, point=STATION, cn="2061"))  # 中度 only
    assert (await device.reply()).cn == "9014"
    await device.send(upload({PM25: 40.0}, at, 2, point=STATION, cn="2061"))
    assert (await device.reply()).cn == "9014"
    await device.send(
        upload({PM25: 200.0}, at + timedelta(minutes=30), 3, point=STATION, cn="2061")
    )
    assert (await device.reply()).cn == "9014"
    await device.close()
    [case] = await monitoring_cases(hub)
    assert "重度污染" in case.description


async def test_failed_bookkeeping_of_one_device_touches_no_other(
    hub: Hub, monitoring: Monitoring, monkeypatch, caplog
) -> None:
    """Whatever makes a case fail to register (here: intake refusing this MN) is rolled back
    alone: both devices' readings stored and answered, the other device's alarm opened."""
    real = intake.register

    async def failing(session, scope, inp, **kwargs):
        if POINT.mn in (inp.external_id or ""):
            raise RuntimeError("registration refused")
        return await real(session, scope, inp, **kwargs)

    monkeypatch.setattr(intake, "register", failing)
    start = now() - timedelta(minutes=30)
    victim, neighbour = await monitoring.connect(), await monitoring.connect()
    await asyncio.gather(
        victim.send(streak(start, [12.0, 13.0, 14.0])),
        neighbour.send(
            b"".join(
                upload({SMOKE: v}, start + timedelta(seconds=30 * i), i + 1, point=NEIGHBOUR)
                for i, v in enumerate([12.0, 13.0, 14.0])
            )
        ),
    )
    assert [(await victim.reply()).cn for _ in range(3)] == ["9014"] * 3
    assert [(await neighbour.reply()).cn for _ in range(3)] == ["9014"] * 3
    await victim.close()
    await neighbour.close()
    assert await readings_of(hub, POINT.mn) == await readings_of(hub, NEIGHBOUR.mn) == 3
    [case] = await monitoring_cases(hub)
    assert NEIGHBOUR.name in case.title
    assert "alarm bookkeeping" in caplog.text
    # once registration works again, the victim's next alarming value opens its case
    monkeypatch.setattr(intake, "register", real)
    device = await monitoring.connect()
    await device.send(upload({SMOKE: 15.0}, start + timedelta(seconds=120), 9))
    assert (await device.reply()).cn == "9014"
    await device.close()
    assert len(await monitoring_cases(hub)) == 2


async def test_http_ingest_the_database_fails_is_503_not_500(hub: Hub, monkeypatch) -> None:
    writer = writer_of(hub.app.state.connectors)

    async def broken(session, batch):
        raise RuntimeError("disk full")

    monkeypatch.setattr(writer, "_store", broken)
    response = await hub.http.post(
        "/ingest/hj212",
        content=streak(now(), [4.0]),
        headers={"Authorization": f"Bearer {hub.token('MONITOR')}"},
    )
    await writer.stop()
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "5"
    assert response.json()["errors"][0]["code"] == "UNAVAILABLE"


async def test_a_backfill_with_long_episodes_and_drift_opens_nothing(
    hub: Hub, monitoring: Monitoring
) -> None:
    """Consecutive alarming late hours (a CONTINUE of an episode late data started) open no
    case either, and a negative concentration (sensor drift) is stored without an index."""
    device = await monitoring.connect()
    top = now().replace(minute=0, second=0) - timedelta(hours=4)
    values = [200.0, 210.0, 220.0, -3.0, 30.0, 190.0, 195.0]
    for i, value in enumerate(values):
        at = top - timedelta(hours=len(values) - i)
        await device.send(upload({PM25: value}, at, i + 1, point=STATION, cn="2061"))
        assert (await device.reply()).cn == "9014"
    await device.close()
    assert await monitoring_cases(hub) == []
    assert await readings_of(hub, STATION.mn) == len(values)
