"""Over-limit and offline alarms become cases: one episode, one case; the end on its timeline."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from hub import jobs as job_system
from hub.cases.model import Case, Event, Report
from hub.db import utcnow
from hub.demo import world
from hub.monitoring import jobs
from hub.monitoring.model import AlarmEpisode, MonitoringPoint
from tests.conftest import Hub
from tests.helpers import POINT, Monitoring, now, upload

SMOKE = "a34013"  # 烟尘, limit 10 mg/m3 at POINT


async def send_all(monitoring: Monitoring, packets: list[bytes]) -> None:
    device = await monitoring.connect()
    for packet in packets:
        await device.send(packet)
        assert (await device.reply()).cn == "9014"
    await device.close()


def series(values: list[float], *, flag: str = "N", start_seq: int = 1) -> list[bytes]:
    """Real-time values 30 s apart; a later start_seq is a later stretch of time."""
    start = now() - timedelta(hours=1) + timedelta(seconds=30 * start_seq)
    return [
        upload({SMOKE: v}, start + timedelta(seconds=30 * i), start_seq + i, flag=flag)
        for i, v in enumerate(values)
    ]


async def monitoring_cases(hub: Hub) -> list[Case]:
    async with hub.db.session((await hub.scope()).tenant_ids) as session:
        return list(
            await session.scalars(
                select(Case).where(Case.channel_mask.op("&")(2) != 0).order_by(Case.created_at)
            )
        )


async def episodes(hub: Hub) -> list[AlarmEpisode]:
    async with hub.db.session((await hub.scope()).tenant_ids) as session:
        return list(await session.scalars(select(AlarmEpisode).order_by(AlarmEpisode.started_at)))


async def events_of(hub: Hub, case: Case) -> list[Event]:
    async with hub.db.session((await hub.scope()).tenant_ids) as session:
        return list(
            await session.scalars(select(Event).where(Event.case_id == case.id).order_by(Event.at))
        )


async def test_two_over_limit_values_are_not_an_alarm(hub: Hub, monitoring: Monitoring) -> None:
    await send_all(monitoring, series([5.0, 12.0, 13.0, 4.0, 15.0, 16.0]))
    assert await monitoring_cases(hub) == []
    assert await episodes(hub) == []


async def test_three_in_a_row_open_one_case_and_the_episode_ends_on_it(
    hub: Hub, monitoring: Monitoring
) -> None:
    await send_all(monitoring, series([5.0, 12.0, 13.0, 18.0, 14.0, 11.0, 6.0]))
    [case] = await monitoring_cases(hub)
    assert case.category == "AIR"
    assert case.tenant_id is not None and "烟尘超标" in case.title
    [episode] = await episodes(hub)
    assert (episode.pollutant, episode.kind, episode.case_id) == (SMOKE, "OVER_LIMIT", case.id)
    assert (episode.values, episode.peak, episode.limit) == (5, 18.0, 10.0)
    assert episode.ended_at is not None
    assert episode.external_id.startswith(f"hj212:{POINT.mn}:{SMOKE}:over_limit:")
    actions = [e.action for e in await events_of(hub, case)]
    assert actions[0] == "REGISTER" and actions[-1] == "ALARM_ENDED"
    ended = (await events_of(hub, case))[-1]
    assert "恢复达标" in (ended.note or "") and ended.data["peak"] == 18.0
    async with hub.db.session((await hub.scope()).tenant_ids) as session:
        [report] = list(await session.scalars(select(Report).where(Report.case_id == case.id)))
        source = await session.scalar(
            select(MonitoringPoint.source_id).where(MonitoringPoint.mn == POINT.mn)
        )
    assert report.channel == "MONITORING" and report.external_id == episode.external_id
    assert case.source_id == source


async def test_values_not_flagged_normal_do_not_count(hub: Hub, monitoring: Monitoring) -> None:
    await send_all(monitoring, series([30.0, 31.0, 32.0, 33.0], flag="C"))  # calibration
    assert await monitoring_cases(hub) == []


async def test_further_values_of_an_open_episode_open_nothing_new(
    hub: Hub, monitoring: Monitoring
) -> None:
    await send_all(monitoring, series([12.0, 13.0, 14.0]))
    await send_all(monitoring, series([15.0, 16.0, 17.0, 19.0], start_seq=10))
    [case] = await monitoring_cases(hub)
    [episode] = await episodes(hub)
    assert episode.ended_at is None and episode.values == 7 and episode.peak == 19.0
    assert case.report_count == 1


async def test_a_second_episode_of_the_same_source_joins_the_open_case(
    hub: Hub, monitoring: Monitoring
) -> None:
    await send_all(monitoring, series([12.0, 13.0, 14.0, 5.0]))
    await send_all(monitoring, series([12.0, 13.0, 14.0], start_seq=10))
    [case] = await monitoring_cases(hub)
    first, second = await episodes(hub)
    assert first.ended_at is not None and second.ended_at is None
    assert first.external_id != second.external_id
    assert first.case_id == second.case_id == case.id
    # joined as a line on the timeline, not a second report in the queue
    assert case.report_count == 1
    actions = [e.action for e in await events_of(hub, case)]
    assert actions.count("ALARM_REPEATED") == 1 and "ALARM_ENDED" in actions


async def test_an_hourly_average_over_the_limit_opens_an_episode(
    hub: Hub, monitoring: Monitoring
) -> None:
    at = now().replace(minute=0, second=0) - timedelta(hours=1)
    await send_all(monitoring, [upload({"a21026": 40.0}, at, 1, cn="2061")])
    [episode] = await episodes(hub)
    assert (episode.pollutant, episode.values, episode.peak) == ("a21026", 1, 40.0)
    [case] = await monitoring_cases(hub)
    assert "小时均值" in case.description


async def test_a_silent_device_opens_an_offline_case_that_ends_when_it_speaks(
    hub: Hub, monitoring: Monitoring
) -> None:
    await send_all(monitoring, series([5.0]))
    long_ago = utcnow() - timedelta(hours=3)
    async with hub.db.session((await hub.scope()).tenant_ids, write=True) as session:
        await session.execute(
            update(MonitoringPoint)
            .where(MonitoringPoint.mn == POINT.mn)
            .values(last_seen_at=long_ago)
        )
        await session.commit()
    job_system.configure(hub.app.state.runtime)  # a periodic job reads the runtime it was given
    await jobs.offline_check(hub.db)
    await jobs.offline_check(hub.db)  # twice: still one episode
    [episode] = await episodes(hub)
    assert (episode.kind, episode.pollutant, episode.ended_at) == ("OFFLINE", None, None)
    [case] = await monitoring_cases(hub)
    assert "离线" in case.title
    # three hours pass for the writer too (it keeps when it last heard from each device)
    monitoring.writer._points[POINT.mn].last_seen_at = long_ago
    await send_all(monitoring, series([5.0], start_seq=50))
    [episode] = await episodes(hub)
    assert episode.ended_at is not None
    assert (await events_of(hub, case))[-1].action == "ALARM_ENDED"


def test_the_demo_point_has_the_limits_these_tests_assume() -> None:
    limit = next(x for x in POINT.limits if x.pollutant == SMOKE)
    assert (limit.max, POINT.kind) == (10.0, "FLUE_GAS")
    assert POINT in world.POINTS
