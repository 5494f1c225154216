"""The demo world: Xinmi (新密市) and seven of its towns, as plain immutable data.

No I/O here: ``hub.demo.seed`` writes it to a database. Coordinates are (lon, lat), WGS 84.
Towns are rectangles inside the county box that do not overlap; each town's village cells
tile its rectangle exactly (shared edges are computed once, so neighbours meet exactly).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

CITY_CODE = "xinmi"
CITY_NAME = "新密市环境保护局"
COUNTY_BOX = (113.17, 34.35, 113.63, 34.62)  # lon_min, lat_min, lon_max, lat_max
MN_PREFIX = "4101830000"  # 410183 is Xinmi's administrative division code
AIR_MN_PREFIX = "41018301AIR"
DEVICE_PASSWORD = "123456"

Ring = tuple[tuple[float, float], ...]


# --- the shapes of the data -------------------------------------------------------------------


@dataclass(frozen=True)
class DemoTenant:
    code: str
    name: str
    kind: str  # hub.tenancy.model.TenantKind value
    parent: str | None  # tenant code
    division_code: str | None = None  # 行政区划代码


@dataclass(frozen=True)
class DemoCell:
    tenant: str
    code: str
    name: str
    level: int
    parent: tuple[str, str] | None  # (tenant code, cell code)
    ring: Ring  # closed exterior ring, (lon, lat)

    @property
    def polygon(self) -> dict[str, Any]:
        return {"type": "Polygon", "coordinates": [[[lon, lat] for lon, lat in self.ring]]}


@dataclass(frozen=True)
class DemoMember:
    tenant: str
    name: str
    role: str  # hub.grid.model.MemberRole value
    phone: str
    cell: str  # cell code within the member's tenant

    @property
    def external_id(self) -> str:
        """The staff number (工号), unique in the city: XM and the phone's last four digits."""
        return f"XM{self.phone[-4:]}"


@dataclass(frozen=True)
class DemoSource:
    tenant: str
    name: str
    industry: str
    address: str
    cell: str  # village cell code within the tenant
    longitude: float
    latitude: float


@dataclass(frozen=True)
class DemoLimit:
    pollutant: str  # HJ 212 factor code
    max: float | None
    min: float | None
    unit: str

    def as_dict(self) -> dict[str, Any]:
        return {"pollutant": self.pollutant, "max": self.max, "min": self.min, "unit": self.unit}


@dataclass(frozen=True)
class DemoPoint:
    tenant: str
    mn: str
    name: str
    kind: str  # hub.monitoring.model.PointKind value
    source: str | None  # source name within the tenant
    password: str
    longitude: float
    latitude: float
    limits: tuple[DemoLimit, ...]


@dataclass(frozen=True)
class Town:
    code: str
    name: str
    number: int  # used in MNs
    box: tuple[float, float, float, float]  # lon_min, lat_min, lon_max, lat_max
    villages: tuple[str, ...]
    rows: tuple[int, ...]  # village cells per row, south to north; sums to len(villages)


# --- the source data ------------------------------------------------------------------------

TOWNS: tuple[Town, ...] = (
    Town("laiji", "来集镇", 1, (113.46, 34.56, 113.54, 34.61),
         ("来集村", "李堂村", "苏寨村", "皇帝岭村"), (2, 2)),
    Town("chaohua", "超化镇", 2, (113.44, 34.42, 113.52, 34.48),
         ("超化村", "黄固寺村", "马鞍河村", "任沟村", "楼院村"), (3, 2)),
    Town("niudian", "牛店镇", 3, (113.20, 34.44, 113.30, 34.52),
         ("牛店村", "小刘寨村", "马沟村", "石匠庄村"), (2, 2)),
    Town("dawei", "大隗镇", 4, (113.54, 34.38, 113.62, 34.45),
         ("大隗村", "赵庄村", "五虎庙村", "新庄村"), (2, 2)),
    Town("quliang", "曲梁乡", 5, (113.36, 34.56, 113.44, 34.61),
         ("曲梁村", "五里店村", "大樊庄村"), (3,)),
    Town("goutang", "苟堂镇", 6, (113.55, 34.50, 113.62, 34.57),
         ("苟堂村", "杨树岗村", "大庙村", "郑庄村"), (2, 2)),
    Town("pingmo", "平陌镇", 7, (113.32, 34.36, 113.40, 34.42),
         ("平陌村", "三岔口村", "崔庄村", "杜沟村", "付沟村"), (2, 3)),
)  # fmt: skip

# (town code, village number, name, industry code)
SOURCE_ROWS: tuple[tuple[str, int, str, str], ...] = (
    ("laiji", 1, "宏达耐火材料有限公司", "REFRACTORY"),
    ("laiji", 2, "金鑫耐火材料有限公司", "REFRACTORY"),
    ("laiji", 3, "丰源粮食加工有限公司", "MILLING"),
    ("chaohua", 1, "豫新发电有限责任公司", "POWER"),
    ("chaohua", 2, "恒通耐火材料有限公司", "REFRACTORY"),
    ("chaohua", 3, "瑞丰水泥有限公司", "CEMENT"),
    ("niudian", 1, "鑫源耐火材料有限公司", "REFRACTORY"),
    ("niudian", 3, "金刚磨料有限公司", "MILLING"),
    ("niudian", 4, "正阳水泥有限公司", "CEMENT"),
    ("dawei", 1, "银河造纸有限公司", "PAPER"),
    ("dawei", 2, "龙腾纸业有限公司", "PAPER"),
    ("dawei", 4, "新庄造纸有限公司", "PAPER"),
    ("quliang", 2, "天宏水泥有限公司", "CEMENT"),
    ("quliang", 3, "裕丰面粉有限公司", "MILLING"),
    ("goutang", 1, "聚源耐火材料有限公司", "REFRACTORY"),
    ("goutang", 2, "永兴纸业有限公司", "PAPER"),
    ("goutang", 4, "东方热电有限公司", "POWER"),
    ("pingmo", 1, "顺达耐火材料有限公司", "REFRACTORY"),
    ("pingmo", 2, "三岔口水泥有限公司", "CEMENT"),
    ("pingmo", 3, "崔庄磨料有限公司", "MILLING"),
)

# (town code, village number, station name)
AIR_STATION_ROWS: tuple[tuple[str, int, str], ...] = (
    ("laiji", 1, "来集镇空气自动监测站"),
    ("laiji", 4, "来集镇工业园区空气监测站"),
    ("chaohua", 4, "超化镇空气自动监测站"),
    ("niudian", 2, "牛店镇空气自动监测站"),
    ("dawei", 3, "大隗镇空气自动监测站"),
    ("quliang", 1, "曲梁乡空气自动监测站"),
    ("goutang", 3, "苟堂镇空气自动监测站"),
    ("pingmo", 5, "平陌镇空气自动监测站"),
)

PEOPLE: tuple[str, ...] = (
    "张建国", "李秀英", "王志强", "刘红梅", "陈国华", "杨丽娟", "赵卫东", "黄晓燕",
    "周海涛", "吴桂兰", "徐明亮", "孙玉霞", "马俊峰", "朱春花", "胡振华", "郭淑珍",
    "何永刚", "高丽萍", "林建军", "罗秀兰", "郑宏伟", "梁桂芳", "谢志刚", "宋丽华",
    "唐建平", "许凤英", "韩国庆", "冯晓丽", "邓文斌", "曹玉梅", "彭志勇", "曾秀珍",
    "肖建华", "田桂英", "董海燕", "袁振国", "潘丽君", "于洪涛", "蒋秀梅", "蔡国强",
    "余红霞", "杜建伟", "叶春梅", "程宏亮", "魏丽芳", "苏永强", "吕桂香", "丁文华",
)  # fmt: skip

FLUE_GAS_LIMITS = (
    DemoLimit("a34013", 10.0, None, "mg/m3"),  # 烟尘 smoke dust
    DemoLimit("a21026", 35.0, None, "mg/m3"),  # 二氧化硫 SO2
    DemoLimit("a21002", 50.0, None, "mg/m3"),  # 氮氧化物 NOx
)
WASTEWATER_LIMITS = (
    DemoLimit("w01018", 50.0, None, "mg/L"),  # 化学需氧量 COD
    DemoLimit("w21003", 5.0, None, "mg/L"),  # 氨氮 NH3-N
    DemoLimit("w01001", 9.0, 6.0, "pH"),  # pH 值
)
AIR_LIMITS = (
    DemoLimit("a34004", 60.0, None, "ug/m3"),  # PM2.5
    DemoLimit("a34002", 120.0, None, "ug/m3"),  # PM10
)


# --- building the world from the source data ---------------------------------------------------


def _rect(lon0: float, lat0: float, lon1: float, lat1: float) -> Ring:
    return ((lon0, lat0), (lon1, lat0), (lon1, lat1), (lon0, lat1), (lon0, lat0))


def _cuts(lo: float, hi: float, parts: int) -> list[float]:
    return [round(lo + (hi - lo) * i / parts, 6) for i in range(parts + 1)]


def _tiles(box: tuple[float, float, float, float], rows: tuple[int, ...]) -> list[Ring]:
    lon0, lat0, lon1, lat1 = box
    lats = _cuts(lat0, lat1, len(rows))
    tiles = []
    for r, cols in enumerate(rows):
        lons = _cuts(lon0, lon1, cols)
        tiles += [_rect(lons[c], lats[r], lons[c + 1], lats[r + 1]) for c in range(cols)]
    return tiles


def cell_code(town: str, village: int) -> str:
    return f"{town}-{village:02d}"


def _town_cells(town: Town) -> list[DemoCell]:
    top = DemoCell(town.code, town.code, f"{town.name}网格", 2, (CITY_CODE, CITY_CODE),
                   _rect(*town.box))  # fmt: skip
    villages = [
        DemoCell(town.code, cell_code(town.code, i), f"{name}网格", 3, (town.code, town.code), ring)
        for i, (name, ring) in enumerate(
            zip(town.villages, _tiles(town.box, town.rows), strict=True), 1
        )
    ]
    return [top, *villages]


def _cells() -> tuple[DemoCell, ...]:
    city = DemoCell(CITY_CODE, CITY_CODE, "新密市网格", 1, None, _rect(*COUNTY_BOX))
    return (city, *(c for town in TOWNS for c in _town_cells(town)))


def _members() -> tuple[DemoMember, ...]:
    names = iter(PEOPLE)
    members: list[DemoMember] = []

    def add(town: str, role: str, cell: str) -> None:
        phone = f"1380371{1001 + len(members):04d}"
        members.append(DemoMember(town, next(names), role, phone, cell))

    for town in TOWNS:
        add(town.code, "CHIEF", town.code)
        add(town.code, "SECONDED", town.code)
        for i in range(1, len(town.villages) + 1):
            add(town.code, "GRIDMAN", cell_code(town.code, i))
    return tuple(members)


_TOWN = {t.code: t for t in TOWNS}
_CELL = {(c.tenant, c.code): c for c in _cells()}


def _inside(cell: DemoCell, fx: float, fy: float) -> tuple[float, float]:
    """A point at fractions (fx, fy) of the cell's bounding box (cells are rectangles)."""
    lons = [p[0] for p in cell.ring]
    lats = [p[1] for p in cell.ring]
    lon = min(lons) + (max(lons) - min(lons)) * fx
    lat = min(lats) + (max(lats) - min(lats)) * fy
    return round(lon, 6), round(lat, 6)


def _sources() -> tuple[DemoSource, ...]:
    out = []
    for i, (town_code, village, short, industry) in enumerate(SOURCE_ROWS):
        town = _TOWN[town_code]
        cell = _CELL[(town_code, cell_code(town_code, village))]
        lon, lat = _inside(cell, 0.3 + 0.2 * (i % 3), 0.35 + 0.3 * (i % 2))
        vname = town.villages[village - 1]
        address = f"河南省郑州市新密市{town.name}{vname}工业路{8 + 6 * i}号"
        name = f"新密市{town.name}{short}"
        out.append(DemoSource(town_code, name, industry, address, cell.code, lon, lat))
    return tuple(out)


def _source_point(source: DemoSource, seq: int) -> DemoPoint:
    town = _TOWN[source.tenant]
    wet = source.industry == "PAPER"
    kind, limits = ("WASTEWATER", WASTEWATER_LIMITS) if wet else ("FLUE_GAS", FLUE_GAS_LIMITS)
    outlet = "废水总排口" if wet else "废气排放口"
    mn = f"{MN_PREFIX}{town.number:04d}{seq:04d}"
    return DemoPoint(source.tenant, mn, f"{source.name}{outlet}", kind, source.name,
                     DEVICE_PASSWORD, source.longitude, source.latitude, limits)  # fmt: skip


def _air_station(row: tuple[str, int, str], seq: int) -> DemoPoint:
    town_code, village, name = row
    lon, lat = _inside(_CELL[(town_code, cell_code(town_code, village))], 0.5, 0.5)
    mn = f"{AIR_MN_PREFIX}{seq:04d}"
    return DemoPoint(town_code, mn, name, "AIR_STATION", None, DEVICE_PASSWORD, lon, lat,
                     AIR_LIMITS)  # fmt: skip


def _points() -> tuple[DemoPoint, ...]:
    seqs: dict[str, int] = {}
    points = []
    for source in SOURCES:
        seqs[source.tenant] = seqs.get(source.tenant, 0) + 1
        points.append(_source_point(source, seqs[source.tenant]))
    points += [_air_station(row, i) for i, row in enumerate(AIR_STATION_ROWS, 1)]
    return tuple(points)


# 行政区划代码. 410183 is Xinmi's; the towns' nine digits are DEMO DATA in the 410183xxx
# pattern, not checked against the official list: replace them with the real codes.
DIVISION_CODES: dict[str, str] = {
    CITY_CODE: "410183",
    "laiji": "410183110",
    "chaohua": "410183104",
    "niudian": "410183102",
    "dawei": "410183106",
    "quliang": "410183200",
    "goutang": "410183105",
    "pingmo": "410183103",
}

TENANTS: tuple[DemoTenant, ...] = (
    DemoTenant(CITY_CODE, CITY_NAME, "CITY", None, DIVISION_CODES[CITY_CODE]),
    *(DemoTenant(t.code, t.name, "TOWN", CITY_CODE, DIVISION_CODES.get(t.code)) for t in TOWNS),
)
CELLS: tuple[DemoCell, ...] = _cells()
MEMBERS: tuple[DemoMember, ...] = _members()
SOURCES: tuple[DemoSource, ...] = _sources()
POINTS: tuple[DemoPoint, ...] = _points()
