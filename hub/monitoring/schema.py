"""GraphQL: the online-monitoring device registry (registerMonitoringPoint, monitoringPoints)."""

from __future__ import annotations

from datetime import date as datetime_date
from datetime import datetime
from typing import Annotated

import strawberry

from hub.airquality import aqi
from hub.gql import Context, UserError, day_arg
from hub.monitoring import service
from hub.monitoring.model import Interval as IntervalEnum
from hub.monitoring.model import MonitoringPoint as PointRow
from hub.monitoring.model import PointKind as PointKindEnum
from hub.sources.model import Source as SourceRow
from hub.sources.schema import Source

Info = strawberry.Info[Context, None]
# strawberry.enum registers on the enum class itself; mypy accepts the plain alias as a type
strawberry.enum(PointKindEnum, name="PointKind")
PointKind = PointKindEnum
strawberry.enum(IntervalEnum, name="ReadingInterval")
ReadingInterval = IntervalEnum


@strawberry.type(description="A pollutant's limit at a point; either bound may be absent.")
class PollutantLimit:
    pollutant: str = strawberry.field(description="HJ 212 factor code, e.g. a34004 or w01018")
    max: float | None
    min: float | None
    unit: str | None


@strawberry.type(description="The newest value of one pollutant reported by a point.")
class LatestReading:
    pollutant: str
    value: float | None
    unit: str | None
    flag: str | None = strawberry.field(description="HJ 212 data flag (N F M S D C T B ...)")
    at: datetime


@strawberry.type(description="An HJ 212 device on a stack or outfall, or an air station.")
class MonitoringPoint:
    id: strawberry.ID
    mn: str = strawberry.field(description="The MN the device sends in every packet")
    name: str
    kind: PointKind
    tenant_code: str
    online: bool = strawberry.field(
        description="Heard from within the last 10 minutes (hub.monitoring.service.ONLINE_WINDOW)"
    )
    last_seen_at: datetime | None
    latitude: float | None
    longitude: float | None
    source: Source | None
    latest: list[LatestReading] = strawberry.field(
        description="The newest value per pollutant (kept by the reading writer per batch)"
    )
    limits: list[PollutantLimit]


def point_node(
    info: Info, row: PointRow, source: SourceRow | None, now: datetime
) -> MonitoringPoint:
    return MonitoringPoint(
        id=strawberry.ID(str(row.id)),
        mn=row.mn,
        name=row.name,
        kind=PointKind(row.kind),
        tenant_code=info.context.scope.directory.by_id[row.tenant_id].code,
        online=service.is_online(row, now),
        last_seen_at=row.last_seen_at,
        latitude=row.latitude,
        longitude=row.longitude,
        source=Source.of(source) if source is not None else None,
        latest=[LatestReading(**item) for item in service.latest_of(row)],
        limits=[
            PollutantLimit(
                pollutant=str(item["pollutant"]),
                max=item.get("max"),
                min=item.get("min"),
                unit=item.get("unit"),
            )
            for item in row.limits or []
        ],
    )


@strawberry.type(description="A stored value of one pollutant at one point.")
class Reading:
    at: datetime
    value: float | None = strawberry.field(description="Rtd for real-time data, Avg otherwise")
    min: float | None
    max: float | None
    flag: str | None = strawberry.field(description="HJ 212 data flag (N F M S D C T B ...)")
    interval: ReadingInterval


@strawberry.type(description="A packet held back: its device is unknown or sent a wrong PW.")
class QuarantinedPacket:
    id: strawberry.ID
    received_at: datetime
    mn: str
    reason: str = strawberry.field(description="UNKNOWN_MN or BAD_PASSWORD")
    cn: str | None
    peer: str | None
    raw: str = strawberry.field(description="The data segment(s) as received")
    readings: int = strawberry.field(description="How many values it carried")
    released_at: datetime | None = strawberry.field(
        description="When registering the device stored its readings"
    )


@strawberry.type(description="One pollutant's individual air quality index (IAQI).")
class IndividualIndex:
    pollutant: str = strawberry.field(description="SO2 NO2 PM10 CO O3 PM2.5")
    indicator: str = strawberry.field(
        description="The averaging the value is of, e.g. PM2.5_24h, O3_8h, O3_1h"
    )
    value: int
    concentration: float = strawberry.field(description="µg/m³ (CO mg/m³), as used")


@strawberry.type(description="A day's air quality at an air station by HJ 633.")
class AirQuality:
    aqi: int
    category: str = strawberry.field(description="优 良 轻度污染 中度污染 重度污染 严重污染")
    category_key: str = strawberry.field(
        description="EXCELLENT GOOD LIGHTLY_POLLUTED MODERATELY_POLLUTED HEAVILY_POLLUTED "
        "SEVERELY_POLLUTED"
    )
    level: int = strawberry.field(description="1 (一级) to 6 (六级)")
    colour: str = strawberry.field(description="The category's colour as #RRGGBB")
    standard: str = strawberry.field(description="The HJ 633 edition used, e.g. HJ 633-2026")
    primary_pollutants: list[str] = strawberry.field(description="Empty when AQI ≤ 50")
    iaqi: list[IndividualIndex]
    missing: list[str] = strawberry.field(
        description="Pollutants without a valid daily value, and why"
    )


def air_quality_node(found: aqi.AirQuality) -> AirQuality:
    category = found.category
    return AirQuality(
        aqi=found.aqi,
        category=category.name,
        category_key=category.key,
        level=category.level,
        colour=category.hex,
        standard=found.standard,
        primary_pollutants=[p.value for p in found.primary_pollutants],
        iaqi=[
            IndividualIndex(
                pollutant=entry.pollutant.value,
                indicator=entry.indicator.value,
                value=entry.value,
                concentration=entry.concentration,
            )
            for entry in found.iaqi
        ],
        missing=[f"{indicator.value}: {why}" for indicator, why in found.missing],
    )


@strawberry.type
class Query:
    @strawberry.field(
        description="The monitoring points the caller sees, by MN; tenantCode narrows to one "
        "tenant and the tenants below it."
    )
    async def monitoring_points(
        self, info: Info, tenant_code: str | None = None
    ) -> list[MonitoringPoint]:
        ctx = info.context
        points, sources = await ctx.read(service.points_with_sources, tenant_code)
        now = ctx.now
        return [
            point_node(info, p, sources.get(p.source_id) if p.source_id else None, now)
            for p in points
        ]

    @strawberry.field(
        description="Stored readings of one pollutant at one point in [from, to), oldest "
        "first; interval narrows to one data kind. At most 10,000 rows."
    )
    async def readings(
        self,
        info: Info,
        point_id: strawberry.ID,
        pollutant: str,
        from_: Annotated[datetime, strawberry.argument(name="from")],
        to: datetime,
        interval: ReadingInterval | None = None,
    ) -> list[Reading]:
        kind = IntervalEnum(interval.value) if interval is not None else None
        rows = await info.context.read(service.readings, str(point_id), pollutant, from_, to, kind)
        return [
            Reading(
                at=r.at,
                value=r.value,
                min=r.min,
                max=r.max,
                flag=r.flag,
                interval=ReadingInterval(r.interval),
            )
            for r in rows
        ]

    @strawberry.field(
        description="A day's air quality at an air station from its stored hourly data, by "
        "the HJ 633 edition in force that day (HJ 633-2026 from 2026-03-01, HJ 633-2012 "
        "before); null when no pollutant has a valid daily value."
    )
    async def air_quality(
        self, info: Info, point_id: strawberry.ID, date: datetime_date
    ) -> AirQuality | None:
        ctx = info.context
        tz = ctx.runtime.tz
        day = day_arg(date, "date")
        found = await ctx.read(service.daily_air_quality, str(point_id), day, tz)
        return air_quality_node(found) if found is not None else None

    @strawberry.field(
        description="Packets held back from unknown devices or wrong PWs, newest first "
        "(MONITOR, ADMIN); registering the MN stores what they carried."
    )
    async def quarantined_packets(
        self, info: Info, mn: str | None = None, first: int = 50
    ) -> list[QuarantinedPacket]:
        rows = await info.context.read(service.quarantined, mn, first)
        return [
            QuarantinedPacket(
                id=strawberry.ID(str(r.id)),
                received_at=r.received_at,
                mn=r.mn,
                reason=r.reason,
                cn=r.cn,
                peer=r.peer,
                raw=r.raw,
                readings=len(r.samples),
                released_at=r.released_at,
            )
            for r in rows
        ]


@strawberry.input(description="A pollutant's limit; min must not exceed max.")
class LimitInput:
    pollutant: str = strawberry.field(description="HJ 212 factor code: letters and digits, ≤ 16")
    max: float | None = None
    min: float | None = None
    unit: str | None = None


@strawberry.input(description="A device to register; registering an MN again updates its point.")
class MonitoringPointInput:
    mn: str = strawberry.field(description="The device's MN: 1 to 32 letters, digits, _ or -")
    name: str
    kind: PointKind
    tenant_code: str
    source_id: strawberry.ID | None = None
    password: str | None = strawberry.field(
        default=None, description="The PW the device must send (≤ 32); none means any"
    )
    latitude: float | None = None
    longitude: float | None = None
    limits: list[LimitInput] | None = None


@strawberry.type
class MonitoringPointResult:
    point: MonitoringPoint


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="Register a device by MN, or update the point of an MN already registered "
        "(ADMIN, MONITOR, DISPATCHER)."
    )
    async def register_monitoring_point(
        self, info: Info, input: MonitoringPointInput
    ) -> Annotated[
        MonitoringPointResult | UserError, strawberry.union("MonitoringPointMutationResult")
    ]:
        spec = service.PointSpec(
            mn=input.mn,
            name=input.name,
            kind=PointKindEnum(input.kind.value),
            tenant_code=input.tenant_code,
            source_id=str(input.source_id) if input.source_id is not None else None,
            password=input.password,
            latitude=input.latitude,
            longitude=input.longitude,
            limits=tuple(
                service.LimitSpec(
                    pollutant=item.pollutant, max=item.max, min=item.min, unit=item.unit
                )
                for item in input.limits or []
            ),
        )
        ctx = info.context
        done = await ctx.write(service.register_point, spec, tz=ctx.runtime.tz)
        if isinstance(done, UserError):
            return done
        point, source = done
        return MonitoringPointResult(point=point_node(info, point, source, ctx.now))
