"""The device registry through the contract's operations: registering, updating, listing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from hub.audit.model import AuditEntry
from hub.db import utcnow
from hub.demo import world
from hub.monitoring.model import MonitoringPoint
from hub.monitoring.service import ONLINE_WINDOW
from tests.conftest import Hub
from tests.helpers import counting
from tests.operations import op


def point_input(**fields: Any) -> dict[str, Any]:
    return {
        "mn": "88888880000001",
        "name": "来集镇新建污水处理站排放口",
        "kind": "WASTEWATER",
        "tenantCode": "laiji",
        "password": "654321",
        "latitude": 34.55,
        "longitude": 113.47,
        "limits": [
            {"pollutant": "w01018", "max": 50.0, "unit": "mg/L"},
            {"pollutant": "w01001", "max": 9.0, "min": 6.0},
        ],
        **fields,
    }


async def register(hub: Hub, token: str | None = None, **fields: Any) -> dict[str, Any]:
    data = await hub.gql(
        op("RegisterMonitoringPoint"), {"input": point_input(**fields)}, token=token
    )
    return data["registerMonitoringPoint"]


async def points(
    hub: Hub, token: str | None = None, tenant_code: str | None = None
) -> list[dict[str, Any]]:
    data = await hub.gql(op("MonitoringPoints"), {"tenantCode": tenant_code}, token=token)
    return data["monitoringPoints"]


async def test_the_demo_points_are_listed_for_admin(hub: Hub) -> None:
    listed = await points(hub)
    assert len(listed) == len(world.POINTS) == 28
    assert {p["mn"] for p in listed} == {p.mn for p in world.POINTS}
    demo = next(p for p in world.POINTS if p.source)
    row = next(p for p in listed if p["mn"] == demo.mn)
    assert row["tenantCode"] == demo.tenant
    assert row["kind"] == demo.kind
    assert row["source"]["name"] == demo.source
    assert row["online"] is False and row["lastSeenAt"] is None
    assert row["latest"] == []
    assert [x["pollutant"] for x in row["limits"]] == [x.pollutant for x in demo.limits]
    laiji = await points(hub, tenant_code="laiji")
    assert {p["tenantCode"] for p in laiji} == {"laiji"}
    assert len(laiji) == sum(p.tenant == "laiji" for p in world.POINTS)


async def test_the_list_loads_sources_once_not_per_point(hub: Hub) -> None:
    await points(hub)  # warm the directory and the caches
    with counting(hub.db) as statements:
        await points(hub)
    assert sum("from sources" in s.lower() for s in statements) == 1, statements


async def test_register_then_register_again_updates_the_same_point(hub: Hub) -> None:
    first = await register(hub, token=hub.token("MONITOR"))
    assert first["__typename"] == "MonitoringPointResult", first
    point = first["point"]
    assert point["mn"] == "88888880000001"
    assert point["kind"] == "WASTEWATER" and point["tenantCode"] == "laiji"

    listed = {p["mn"]: p for p in await points(hub)}
    assert len(listed) == 29
    mine = listed["88888880000001"]
    assert mine["limits"] == [
        {"pollutant": "w01018", "max": 50.0, "min": None, "unit": "mg/L"},
        {"pollutant": "w01001", "max": 9.0, "min": 6.0, "unit": None},
    ]
    assert mine["source"] is None and mine["latest"] == []

    source = next(
        p["source"] for p in listed.values() if p["source"] and p["tenantCode"] == "laiji"
    )
    again = await register(
        hub,
        token=hub.token("DISPATCHER"),
        name="改名后的排放口",
        kind="FLUE_GAS",
        sourceId=source["id"],
        limits=[{"pollutant": "a34013", "max": 10, "unit": "mg/m3"}],
    )
    assert again["__typename"] == "MonitoringPointResult", again
    assert again["point"]["id"] == point["id"]
    assert again["point"]["name"] == "改名后的排放口" and again["point"]["kind"] == "FLUE_GAS"
    listed = {p["mn"]: p for p in await points(hub)}
    assert len(listed) == 29
    assert listed["88888880000001"]["source"] == source
    assert listed["88888880000001"]["limits"] == [
        {"pollutant": "a34013", "max": 10.0, "min": None, "unit": "mg/m3"}
    ]

    # Moving it to another town: same id, listed there, audited in both towns.
    moved = await register(hub, tenantCode="chaohua")
    assert moved["point"]["id"] == point["id"] and moved["point"]["tenantCode"] == "chaohua"
    chaohua = await points(hub, tenant_code="chaohua")
    assert "88888880000001" in {p["mn"] for p in chaohua}
    assert "88888880000001" not in {p["mn"] for p in await points(hub, tenant_code="laiji")}

    scope = await hub.scope()
    async with hub.db.session(scope.tenant_ids) as session:
        entries = list(
            await session.scalars(
                select(AuditEntry)
                .where(AuditEntry.subject_id == point["id"])
                .order_by(AuditEntry.at, AuditEntry.seq)
            )
        )
    assert [e.action for e in entries] == [
        "monitoring.register_point",
        "monitoring.update_point",
        "monitoring.move_point",
        "monitoring.update_point",
    ]
    assert all("654321" not in str(e.data) for e in entries)  # never the PW
    assert entries[0].data["password_set"] is True


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"mn": "MN with spaces"}, "mn"),
        ({"mn": "MN;CN=2011"}, "mn"),
        ({"mn": ""}, "mn"),
        ({"mn": "1" * 33}, "mn"),
        ({"name": "  "}, "name"),
        ({"tenantCode": "atlantis"}, "tenantCode"),
        ({"latitude": None}, "latitude"),
        ({"longitude": None}, "longitude"),
        ({"latitude": 91.0}, "latitude"),
        ({"password": "x" * 33}, "password"),
        ({"password": "a;b"}, "password"),
        ({"limits": [{"pollutant": "w01018", "max": 5.0, "min": 9.0}]}, "limits"),
        ({"limits": [{"pollutant": "COD mg/L", "max": 5.0}]}, "limits"),
        ({"limits": [{"pollutant": "a" * 17, "max": 5.0}]}, "limits"),
        ({"limits": [{"pollutant": "w01018", "max": 5.0}] * 2}, "limits"),
        ({"limits": [{"pollutant": "w01018"}]}, "limits"),
    ],
)
async def test_validation_errors_name_the_field(
    hub: Hub, fields: dict[str, Any], field: str
) -> None:
    result = await register(hub, **fields)
    assert result["__typename"] == "UserError", result
    assert (result["code"], result["field"]) == ("VALIDATION", field), result
    assert len(await points(hub)) == 28


async def test_an_unknown_source_is_not_found(hub: Hub) -> None:
    for source_id in ("00000000-0000-0000-0000-000000000000", "not-a-uuid"):
        result = await register(hub, sourceId=source_id)
        assert (result["code"], result["field"]) == ("NOT_FOUND", "sourceId"), result
    other_town = next(p for p in await points(hub, tenant_code="dawei") if p["source"])
    result = await register(hub, sourceId=other_town["source"]["id"])
    assert (result["code"], result["field"]) == ("VALIDATION", "sourceId"), result


async def test_a_town_operator_lists_only_its_points_and_cannot_register(hub: Hub) -> None:
    token = hub.token("OPERATOR", ["laiji"])
    listed = await points(hub, token=token)
    assert listed and {p["tenantCode"] for p in listed} == {"laiji"}
    assert len(listed) == sum(p.tenant == "laiji" for p in world.POINTS)
    refused = await register(hub, token=token)
    assert (refused["__typename"], refused["code"]) == ("UserError", "FORBIDDEN"), refused
    response = await hub.post(op("MonitoringPoints"), {"tenantCode": "dawei"}, token=token)
    errors = response.json()["errors"]
    assert errors[0]["extensions"] == {"code": "VALIDATION", "field": "tenantCode"}
    # A city-wide monitor limited to one town cannot put a point in another.
    scoped = await register(hub, token=hub.token("MONITOR", ["laiji"]), tenantCode="dawei")
    assert (scoped["code"], scoped["field"]) == ("VALIDATION", "tenantCode")


async def test_online_means_heard_from_within_the_window(hub: Hub) -> None:
    assert timedelta(minutes=10) == ONLINE_WINDOW
    fresh, stale = world.POINTS[0].mn, world.POINTS[1].mn
    scope = await hub.scope()
    async with hub.db.session(scope.tenant_ids, write=True) as session:
        for mn, ago in ((fresh, timedelta(minutes=2)), (stale, timedelta(minutes=11))):
            await session.execute(
                update(MonitoringPoint)
                .where(MonitoringPoint.mn == mn)
                .values(last_seen_at=utcnow() - ago)
            )
        await session.commit()
    listed = {p["mn"]: p for p in await points(hub)}
    assert listed[fresh]["online"] is True and listed[fresh]["lastSeenAt"] is not None
    assert listed[stale]["online"] is False and listed[stale]["lastSeenAt"] is not None


async def test_an_air_station_without_limits_gets_gb_3095_grade_ii(hub: Hub) -> None:
    done = await register(
        hub, mn="41018301AIR0999", name="新建空气站", kind="AIR_STATION", limits=None
    )
    assert done["__typename"] == "MonitoringPointResult"
    [row] = [p for p in await points(hub) if p["mn"] == "41018301AIR0999"]
    assert row["limits"] == [
        {"pollutant": "a34004", "max": 60.0, "min": None, "unit": "ug/m3"},
        {"pollutant": "a34002", "max": 120.0, "min": None, "unit": "ug/m3"},
    ]
    done = await register(hub, mn="88888880000077", kind="WASTEWATER", limits=None)
    [row] = [p for p in await points(hub) if p["mn"] == "88888880000077"]
    assert row["limits"] == []


def test_default_air_limits_follow_the_edition_of_the_day() -> None:
    from datetime import date

    from hub.monitoring.service import default_limits

    assert [x["max"] for x in default_limits("AIR_STATION", date(2026, 2, 28))] == [75.0, 150.0]
    assert [x["max"] for x in default_limits("AIR_STATION", date(2026, 3, 1))] == [60.0, 120.0]
    assert default_limits("FLUE_GAS", date(2026, 3, 1)) == []
