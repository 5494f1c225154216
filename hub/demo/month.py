"""A month of the demo's grid work: the previous full local month and the current one so far
(up to yesterday), so the evaluation, the diaries and the console show something true.

``plan`` is pure and deterministic (``random.Random`` seeded per member and day): patrols on
working days with tracks inside the member's cell, findings (some solved on site, the others
dispatched to the member, accepted, handled and approved - some late), diaries (a few members
skip days), spot checks by the town office, a handful of ledger items and two joint actions.

``seed_month`` runs the plan's steps in time order, one transaction per local day, through the
services and as the people who do the work (each member, the demo's town office, its reviewer),
with the clock set to when each step happened (``hub.db.clock_at``): the same rules, numbering
and audit as live work. The time-limit sweep runs at the end of each day written, so a late
step earns its card then, and the overdue ledger item is carded by it. Each step first checks
whether it was done (its natural key, or the case's state): a rerun adds nothing, and a rerun
after a crash completes the run.
"""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from itertools import groupby
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from hub.auth import Principal, Scope, scope_for
from hub.cases import inputs, steps
from hub.cases.duplicates import Rules
from hub.cases.enums import CaseStatus, Category
from hub.cases.model import Case
from hub.db import Database, clock_at, utcnow
from hub.demo import world
from hub.demo.principals import OFFICE, REVIEWER
from hub.diaries import service as diaries
from hub.diaries.model import Diary, SpotCheck, SpotCheckResult
from hub.errors import DomainError
from hub.grid.model import GridCell, Member
from hub.joint import service as joint
from hub.joint.model import JointAction
from hub.ledgers import service as ledgers
from hub.ledgers.model import LedgerItem, LedgerKind, LedgerProgress, LedgerStatus
from hub.patrols import service as patrols
from hub.patrols.model import Finding, Patrol, PatrolKind
from hub.roles import Role
from hub.sources.model import Source
from hub.supervision.calendar import official_day
from hub.supervision.service import sweep
from hub.tenancy.service import Directory, directory

log = logging.getLogger("hub.demo")

CLIENT_PREFIX = "demo-"  # of the demo patrols' clientIds
TRACK_POINTS = 8

# (category, title, description, result): solved on site by the member.
ON_SITE = (
    (Category.DUST, "工地裸土未苫盖", "{place}一处建筑工地裸土未苫盖，风起扬尘",
     "已督促施工方当场用防尘网苫盖，并洒水降尘"),
    (Category.DUST, "道路渣土遗撒", "{place}村道有运输车辆遗撒渣土约20米",
     "已联系村保洁员清扫，并提醒运输车辆密闭运输"),
    (Category.SOLID_WASTE, "露天焚烧垃圾", "{place}田边有村民露天焚烧生活垃圾",
     "已现场劝阻并扑灭明火，宣传禁止露天焚烧的规定"),
    (Category.SOLID_WASTE, "生活垃圾未清运", "{place}路边垃圾池已满，生活垃圾外溢",
     "已通知村保洁员当场清运，垃圾池周边已清理干净"),
)  # fmt: skip
# (category, title, description, result): dispatched, handled over days. {place} an enterprise
# when the cell has one, else the village.
DISPATCHED = (
    (Category.AIR, "烟囱冒黑烟", "巡查发现{place}烟囱冒黑烟，疑似除尘设施未正常运行",
     "已责令企业停产检修除尘设施，检修后复产，复查烟气无可见黑烟"),
    (Category.WATER, "雨水排口有污水", "巡查发现{place}雨水排口有发黄污水流出",
     "已责令企业封堵雨水排口，查明为车间冲洗水混入，已改接至污水处理站"),
    (Category.AIR, "车间粉尘外逸", "巡查发现{place}破碎车间门窗敞开，粉尘外逸",
     "已督促企业关闭门窗并加装集气罩，复查车间外无明显粉尘"),
)  # fmt: skip
CELL_WORDS = ("村东", "村西", "村南", "村北", "村委会附近", "主干道沿线")
DESK_DAYS = (
    "在村委会整理网格台账，更新辖区企业和重点点位信息。",
    "参加镇网格办例会，学习大气污染防治工作要求。",
    "走访辖区群众，宣传秸秆禁烧和垃圾分类，收集环境问题线索。",
    "配合村委会开展人居环境整治，清理房前屋后杂物。",
)
CHECK_FAIL_NOTES = (
    "日记过于简单，未写明巡查路线和发现问题的处置情况",
    "日记所记巡查时间与轨迹不符，请如实填写",
)


# --- the plan (pure) -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Profile:
    """How a member works in the demo: how often they patrol, find, write; whether they are
    slow to take on a case (accepted late: yellow cards)."""

    patrol: float
    finds: float
    diary: float
    lax: bool
    slow: bool


def profiles() -> dict[str, Profile]:
    """Spread over the members, so the evaluation ranks them (not everyone equal)."""
    n = len(world.MEMBERS)
    out = {}
    for i, m in enumerate(world.MEMBERS):
        spread = ((i * 17) % n) / (n - 1)  # a permutation of 0..1 over the members
        lax = i % 9 == 4
        out[m.external_id] = Profile(
            patrol=0.3 if lax else 0.45 + 0.5 * spread,
            finds=0.12 + 0.3 * ((i * 7) % n) / (n - 1),
            diary=0.55 if lax else 0.9 + 0.1 * spread,
            lax=lax,
            slow=i % 6 == 2,
        )
    return out


@dataclass(frozen=True)
class TrackPlan:
    longitude: float
    latitude: float
    at: datetime


@dataclass(frozen=True)
class CaseStep:
    action: str  # dispatch | accept | submit | approve
    at: datetime
    result: str = ""  # what the member reports on submit


@dataclass(frozen=True)
class FindingPlan:
    client_id: str
    at: datetime
    category: Category
    title: str
    description: str
    longitude: float
    latitude: float
    source: str | None  # source name (of the member's town)
    on_site: bool
    result: str
    handling: tuple[CaseStep, ...]


@dataclass(frozen=True)
class PatrolPlan:
    member: world.DemoMember
    day: date
    client_id: str
    cell: str  # cell code (of the member's town)
    start: datetime
    end: datetime
    track: tuple[TrackPlan, ...]
    findings: tuple[FindingPlan, ...]
    summary: str


@dataclass(frozen=True)
class Step:
    """One thing done at one time; ``what`` is the plan it carries."""

    at: datetime
    kind: str  # patrol | case | diary | check | ledger | joint
    what: object
    member: world.DemoMember | None = None
    case_key: tuple[str, str] | None = None  # (patrol clientId, finding clientId)
    text: str = ""
    extra: dict[str, object] = field(default_factory=dict)


def span(today: date) -> tuple[date, date]:
    """The previous full month's first day to yesterday."""
    this_first = today.replace(day=1)
    first = (this_first - timedelta(days=1)).replace(day=1)
    return first, today - timedelta(days=1)


def _days(first: date, last: date) -> Iterator[date]:
    for i in range((last - first).days + 1):
        yield first + timedelta(days=i)


def _at(day: date, hour: int, minute: int, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(hour, minute), tz)


_CELLS = {(c.tenant, c.code): c for c in world.CELLS}
_SOURCES_IN = {
    (s.tenant, s.cell): s for s in world.SOURCES
}  # one enterprise per village cell in the demo
_TOWN = {t.code: t for t in world.TOWNS}


def _box(cell: world.DemoCell) -> tuple[float, float, float, float]:
    lons = [p[0] for p in cell.ring]
    lats = [p[1] for p in cell.ring]
    return min(lons), min(lats), max(lons), max(lats)


def _point(cell: world.DemoCell, fx: float, fy: float) -> tuple[float, float]:
    lon0, lat0, lon1, lat1 = _box(cell)
    return round(lon0 + (lon1 - lon0) * fx, 6), round(lat0 + (lat1 - lat0) * fy, 6)


def _village_name(cell: world.DemoCell) -> str:
    return cell.name.removesuffix("网格")


def _patrol_cell(member: world.DemoMember, rnd: random.Random) -> world.DemoCell:
    """A gridman patrols their village; a chief or a seconded member one of the town's."""
    if member.role == "GRIDMAN":
        return _CELLS[(member.tenant, member.cell)]
    town = _TOWN[member.tenant]
    return _CELLS[(member.tenant, world.cell_code(town.code, rnd.randint(1, len(town.villages))))]


def _finding(
    member: world.DemoMember,
    cell: world.DemoCell,
    client_id: str,
    at: datetime,
    rnd: random.Random,
    profile: Profile,
    now: datetime,
) -> FindingPlan:
    place = _village_name(cell) + rnd.choice(CELL_WORDS)
    source = _SOURCES_IN.get((member.tenant, cell.code))
    # Solved on site: dust and waste, at a point of the cell away from its enterprise (the
    # categories dispatched cases never have, so an on-site finding never joins an open case).
    if source is None or rnd.random() < 0.5:
        category, title, text, result = rnd.choice(ON_SITE)
        lon, lat = _point(cell, rnd.uniform(0.1, 0.9), rnd.uniform(0.05, 0.25))
        return FindingPlan(client_id, at, category, title, text.format(place=place), lon, lat,
                           None, True, result, ())  # fmt: skip
    category, title, text, result = rnd.choice(DISPATCHED)
    dispatch = at + timedelta(minutes=rnd.randint(25, 90))
    late = profile.slow and rnd.random() < 0.7
    accept = dispatch + (
        timedelta(minutes=rnd.randint(130, 225)) if late else timedelta(minutes=rnd.randint(10, 80))
    )
    submit = accept + (
        timedelta(days=rnd.randint(4, 7)) if late else timedelta(hours=rnd.randint(3, 40))
    )
    approve = submit + timedelta(hours=rnd.randint(2, 20))
    handling = tuple(
        CaseStep(action, when, result)
        for action, when in (
            ("dispatch", dispatch), ("accept", accept), ("submit", submit), ("approve", approve)
        )
        if when < now
    )  # fmt: skip
    name = source.name.removeprefix(f"新密市{_TOWN[member.tenant].name}")
    return FindingPlan(client_id, at, category, f"{name}{title}", text.format(place=name),
                       source.longitude, source.latitude, source.name, False, result,
                       handling)  # fmt: skip


def _patrol(
    member: world.DemoMember, day: date, rnd: random.Random, profile: Profile, tz: ZoneInfo,
    now: datetime,
) -> PatrolPlan:  # fmt: skip
    cell = _patrol_cell(member, rnd)
    start = _at(day, rnd.randint(8, 9), rnd.choice((0, 10, 20, 30, 40, 50)), tz)
    end = start + timedelta(minutes=rnd.randint(80, 200))
    fx, fy = rnd.uniform(0.2, 0.8), rnd.uniform(0.2, 0.8)
    track = []
    for k in range(TRACK_POINTS):
        fx = min(0.95, max(0.05, fx + rnd.uniform(-0.09, 0.09)))
        fy = min(0.95, max(0.05, fy + rnd.uniform(-0.09, 0.09)))
        lon, lat = _point(cell, fx, fy)
        track.append(TrackPlan(lon, lat, start + (end - start) * k / (TRACK_POINTS - 1)))
    client_id = f"{CLIENT_PREFIX}{day:%Y%m%d}-{member.external_id}"
    findings = []
    count = (rnd.random() < profile.finds) + (rnd.random() < profile.finds / 4)
    for n in range(count):
        at = start + (end - start) * (n + 1) / (count + 1)
        findings.append(_finding(member, cell, f"{client_id}-f{n + 1}", at, rnd, profile, now))
    village = _village_name(cell)
    if findings:
        found = "；".join(
            f"发现{f.title}，{'已现场处理' if f.on_site else '已上报'}" for f in findings
        )
        summary = f"巡查{village}，{found}。"
    else:
        summary = f"巡查{village}辖区企业和重点点位，未发现环境问题。"
    return PatrolPlan(member, day, client_id, cell.code, start, end, tuple(track),
                      tuple(findings), summary)  # fmt: skip


def _diary_text(patrol: PatrolPlan | None, rnd: random.Random, tz: ZoneInfo) -> str:
    if patrol is None:
        return rnd.choice(DESK_DAYS)
    when = f"{patrol.start.astimezone(tz):%H:%M}至{patrol.end.astimezone(tz):%H:%M}"
    lines = [f"{when}{patrol.summary}"]
    for f in patrol.findings:
        lines.append(f"{f.title}：{f.result}。" if f.on_site else f"{f.title}已报镇网格办。")
    lines.append(rnd.choice(("下午整理巡查记录。", "下午回访群众。", "下午核对台账。")))
    return "".join(lines)


def plan(
    first: date, last: date, now: datetime, tz: ZoneInfo, towns: frozenset[str] | None = None
) -> list[Step]:
    """Every step of the demo's work in [first, last], in time order, none after ``now``; of
    the towns given (all by default)."""
    working = [d for d in _days(first, last) if official_day(d)[0]]
    found = profiles()
    out: list[Step] = []
    written: set[tuple[str, date]] = set()
    for member in world.MEMBERS:
        if towns is not None and member.tenant not in towns:
            continue
        profile = found[member.external_id]
        for day in working:
            rnd = random.Random(f"{member.external_id}:{day.isoformat()}")
            skip = profile.lax and day.day % 7 == 3  # a lax member's day with nothing at all
            patrol = None
            if not skip and rnd.random() < profile.patrol:
                patrol = _patrol(member, day, rnd, profile, tz, now)
                out.append(Step(patrol.start, "patrol", patrol, member))
                for f in patrol.findings:
                    out += [
                        Step(s.at, "case", s, member, (patrol.client_id, f.client_id))
                        for s in f.handling
                    ]
            # Only a lax member leaves a day with neither a patrol nor a diary.
            desk_day = patrol is None and not profile.lax
            if not skip and (desk_day or rnd.random() < profile.diary):
                text = _diary_text(patrol, rnd, tz)
                at = _at(day, 17, rnd.randint(20, 59), tz)
                out.append(Step(at, "diary", day, member, text=text))
                written.add((member.external_id, day))
    out += _checks(working, written, now, tz, towns)
    out += _ledger_steps(first, tz, towns)
    out += _joint_steps(first, out, tz)
    return sorted((s for s in out if s.at < now), key=lambda s: (s.at, s.kind))


def _checks(
    working: list[date],
    written: set[tuple[str, date]],
    now: datetime,
    tz: ZoneInfo,
    towns: frozenset[str] | None,
) -> list[Step]:
    """The town office checks two member-days a week per town, the next morning."""
    out = []
    for town in world.TOWNS:
        if towns is not None and town.code not in towns:
            continue
        members = [m for m in world.MEMBERS if m.tenant == town.code]
        for week, days in groupby(working, key=lambda d: d.isocalendar()[:2]):
            week_days = list(days)
            rnd = random.Random(f"check:{town.code}:{week}")
            for day in rnd.sample(week_days, k=min(2, len(week_days))):
                member = rnd.choice(members)
                wrote = (member.external_id, day) in written
                failed = not wrote or rnd.random() < 0.1
                note = rnd.choice(CHECK_FAIL_NOTES) if wrote else "当天无工作日记，也无巡查记录"
                at = _at(day + timedelta(days=1), 10, rnd.randint(0, 50), tz)
                if at < now:
                    out.append(Step(at, "check", day, member, text=note if failed else "",
                                    extra={"pass": not failed}))  # fmt: skip
    return out


@dataclass(frozen=True)
class LedgerPlan:
    tenant: str
    kind: LedgerKind
    village: int  # the village whose enterprise and gridman it concerns
    title: str
    description: str
    measures: tuple[str, ...]
    opened: int  # day of the previous month
    deadline: date
    progress: tuple[tuple[int, int, str], ...]  # (day of the previous month, percent, note)
    closed: tuple[int, str] | None  # (day of the previous month, verification)


def ledger_plans(first: date) -> list[LedgerPlan]:
    """A handful: one closed with verification in time, one left open past its deadline (the
    sweep cards it), three open with deadlines after the current month."""
    later = (first + timedelta(days=62)).replace(day=1) + timedelta(days=14)
    return [
        LedgerPlan("laiji", LedgerKind.PROBLEM, 1, "宏达耐火料场物料未全部苫盖",
                   "网格巡查发现宏达耐火材料有限公司西侧料场物料未苫盖，大风天气扬尘明显",
                   ("料场物料全部用防尘网苫盖", "料场安装喷淋设施并定时喷淋"), 3,
                   first + timedelta(days=15), ((9, 60, "东侧料场已苫盖，西侧防尘网到货后安装"),),
                   (13, "现场核查：料场已全部苫盖，喷淋设施运行正常，同意销号")),
        LedgerPlan("laiji", LedgerKind.RECTIFICATION, 2, "金鑫耐火破碎车间无组织排放整改",
                   "金鑫耐火材料有限公司破碎车间粉尘无组织排放，责令限期整改",
                   ("破碎车间全封闭", "加装集气罩和布袋除尘器", "车间出入口设置洗车平台"), 6,
                   first + timedelta(days=16), ((12, 30, "集气罩已采购，尚未安装"),), None),
        LedgerPlan("dawei", LedgerKind.RECTIFICATION, 1, "银河造纸废水处理站提标改造",
                   "银河造纸有限公司废水处理站出水化学需氧量接近限值，需提标改造",
                   ("增设深度处理单元", "规范设置在线监测设备"), 15, later,
                   ((24, 40, "深度处理单元土建完成"),), None),
        LedgerPlan("niudian", LedgerKind.PROBLEM, 4, "正阳水泥厂区道路积尘",
                   "正阳水泥有限公司厂区道路积尘较多，车辆通行扬尘",
                   ("厂区道路硬化破损处修补", "配备洒水车每日清扫洒水"), 20, later, (), None),
        LedgerPlan("goutang", LedgerKind.RECTIFICATION, 4, "东方热电煤场防风抑尘网破损修复",
                   "东方热电有限公司煤场防风抑尘网多处破损",
                   ("更换破损抑尘网", "煤堆全部苫盖"), 25, later,
                   ((27, 20, "已联系厂家测量尺寸"),), None),
    ]  # fmt: skip


def _ledger_steps(first: date, tz: ZoneInfo, towns: frozenset[str] | None) -> list[Step]:
    out = []
    for p in ledger_plans(first):
        if towns is not None and p.tenant not in towns:
            continue
        day = first + timedelta(days=p.opened - 1)
        out.append(Step(_at(day, 10, 0, tz), "ledger", p, extra={"do": "open"}))
        for d, percent, note in p.progress:
            at = _at(first + timedelta(days=d - 1), 16, 0, tz)
            out.append(Step(at, "ledger", p, text=note, extra={"do": "progress", "pct": percent}))
        if p.closed is not None:
            d, verification = p.closed
            at = _at(first + timedelta(days=d - 1), 15, 0, tz)
            out.append(Step(at, "ledger", p, text=verification, extra={"do": "close"}))
    return out


JOINT_PLANS = (
    (18, "laiji", ("新密市生态环境局执法大队", "新密市自然资源局", "来集镇人民政府"),
     "联合整治来集镇耐火材料企业扬尘和无组织排放，逐厂检查料场苫盖和除尘设施"),
    (26, "dawei", ("新密市生态环境局执法大队", "大隗镇人民政府", "新密市水利局"),
     "联合检查大隗镇造纸企业废水排放，现场取样送检，责令企业封堵暗管、限期整改"),
)  # fmt: skip


def _joint_steps(first: date, done: list[Step], tz: ZoneInfo) -> list[Step]:
    """Two joint actions, each over the dispatched cases of a town found before it (any town's
    when that town has none)."""
    out = []
    for day, town, departments, note in JOINT_PLANS:
        at = _at(first + timedelta(days=day - 1), 14, 30, tz)
        dispatched = [
            (s.member, s.case_key)
            for s in done
            if s.kind == "case" and s.at < at and isinstance(s.what, CaseStep)
            if s.what.action == "dispatch"
        ]
        chosen = [k for m, k in dispatched if m is not None and m.tenant == town][-2:]
        chosen = chosen or [k for _, k in dispatched][-1:]
        if chosen:
            out.append(Step(at, "joint", departments, text=note, extra={"cases": chosen}))
    return out


# --- writing it (through the services) -----------------------------------------------------------


@dataclass
class _World:
    """The demo's rows the steps need, and what is done already (for a rerun)."""

    scopes: dict[str, Scope]  # by member staff number, and "office", "reviewer"
    members: dict[str, Member]  # by staff number
    cells: dict[tuple[str, str], uuid.UUID]
    sources: dict[tuple[str, str], uuid.UUID]
    patrols: set[str]  # clientIds of the demo patrols there are
    cases: dict[tuple[str, str], uuid.UUID]  # (patrol clientId, finding clientId) -> case
    diaries: set[tuple[uuid.UUID, date]]
    checks: set[tuple[uuid.UUID, date]]
    items: dict[tuple[uuid.UUID, str], uuid.UUID]  # (town, title) -> ledger item
    progress: set[tuple[uuid.UUID, str]]
    joint: set[str]  # notes of the joint actions there are
    towns: dict[str, uuid.UUID]
    findings: int = 0  # made in this run


async def seed_month(
    db: Database,
    *,
    tz: ZoneInfo,
    prefix: str,
    rules: Rules,
    now: datetime | None = None,
    towns: frozenset[str] | None = None,
) -> dict[str, int]:
    """Write whatever of the demo's month is missing (of the towns given: all by default);
    how many of each kind were made."""
    now = now or utcnow()
    first, last = span(now.astimezone(tz).date())
    counts = dict.fromkeys(
        ("patrols", "findings", "case_steps", "diaries", "spot_checks", "ledger", "joint"), 0
    )
    if last < first:
        return counts
    found = await directory(db)
    every = tuple(found.by_id)
    async with db.session(every, write=True) as session, session.begin():
        town_ids = [t.id for t in found.tenants if t.code in {x.code for x in world.TOWNS}]
        await _members_before(session, town_ids, first, tz)
        w = await _load(session, found, first)
    steps_ = plan(first, last, now, tz, towns)
    for _, day_steps in groupby(steps_, key=lambda s: s.at.astimezone(tz).date()):
        todo = list(day_steps)
        async with db.session(every, write=True) as session, session.begin():
            wrote = False
            for step in todo:
                with clock_at(step.at):
                    kind = await _run(session, w, step, tz=tz, prefix=prefix, rules=rules)
                if kind:
                    counts[kind] += 1
                    wrote = True
            if wrote:  # the day's sweep: late steps are carded as they were that day
                day_end = datetime.combine(todo[0].at.astimezone(tz).date(), time(23, 59), tz)
                with clock_at(min(day_end, now)):
                    for code, town_id in w.towns.items():
                        if towns is None or code in towns:
                            await sweep(session, town_id, utcnow(), tz=tz)
    counts["findings"] = w.findings
    return counts


async def _members_before(
    session: AsyncSession, town_ids: list[uuid.UUID], first: date, tz: ZoneInfo
) -> None:
    """The demo's members were taken on before the demo's month (a member added during a month
    is `joined` in it, and their days before that are not missing). Member rows have no service
    that sets when they were added: written through the model, once (a rerun finds them so)."""
    names = [m.name for m in world.MEMBERS]
    before = datetime.combine(first - timedelta(days=45), time(9, 0), tz)
    await session.execute(
        update(Member)
        .where(Member.tenant_id.in_(town_ids), Member.name.in_(names))
        .where(Member.created_at > before)
        .values(created_at=before)
        .execution_options(synchronize_session=False)
    )


async def _load(session: AsyncSession, found: Directory, first: date) -> _World:
    towns = {t.code: t.id for t in found.tenants if t.code in {x.code for x in world.TOWNS}}
    code_of = {v: k for k, v in towns.items()}
    by_key = {(m.tenant, m.name): m for m in world.MEMBERS}
    members: dict[str, Member] = {}
    for member in await session.scalars(select(Member).where(Member.tenant_id.in_(towns.values()))):
        demo = by_key.get((code_of[member.tenant_id], member.name))
        if demo is not None:
            members[demo.external_id] = member
    scopes = {"office": scope_for(OFFICE, found), "reviewer": scope_for(REVIEWER, found)}
    for ext, member in members.items():
        town = code_of[member.tenant_id]
        who = Principal(f"demo-member-{ext}", member.name, frozenset({Role.MEMBER}), (town,),
                        member_id=member.id)  # fmt: skip
        scopes[ext] = scope_for(who, found)
    cells = {
        (code_of[t], code): i
        for t, code, i in await session.execute(
            select(GridCell.tenant_id, GridCell.code, GridCell.id).where(
                GridCell.tenant_id.in_(towns.values())
            )
        )
    }
    sources = {
        (code_of[t], name): i
        for t, name, i in await session.execute(
            select(Source.tenant_id, Source.name, Source.id).where(
                Source.tenant_id.in_(towns.values())
            )
        )
    }
    since = datetime.combine(first - timedelta(days=1), time(0, 0))
    demo_patrols = Patrol.client_id.like(f"{CLIENT_PREFIX}%")
    patrol_ids = set(await session.scalars(select(Patrol.client_id).where(demo_patrols)))
    cases = {
        (p, f): c
        for p, f, c in await session.execute(
            select(Patrol.client_id, Finding.client_id, Finding.case_id)
            .join(Patrol, Patrol.id == Finding.patrol_id)
            .where(demo_patrols)
        )
    }
    diary_keys = set(
        await session.execute(select(Diary.member_id, Diary.day).where(Diary.day >= since.date()))
    )
    check_keys = set(
        await session.execute(
            select(SpotCheck.member_id, SpotCheck.day).where(SpotCheck.day >= since.date())
        )
    )
    items = {
        (t, title): i
        for t, title, i in await session.execute(
            select(LedgerItem.tenant_id, LedgerItem.title, LedgerItem.id)
        )
    }
    progress = set(await session.execute(select(LedgerProgress.item_id, LedgerProgress.note)))
    notes = set(await session.scalars(select(JointAction.note)))
    return _World(scopes, members, cells, sources, patrol_ids, cases,
                  {(m, d) for m, d in diary_keys}, {(m, d) for m, d in check_keys}, items,
                  {(i, n) for i, n in progress}, notes, towns)  # fmt: skip


async def _run(
    session: AsyncSession, w: _World, step: Step, *, tz: ZoneInfo, prefix: str, rules: Rules
) -> str | None:
    """Do one step unless it is done; the kind counted when something was written."""
    if step.kind == "patrol":
        assert isinstance(step.what, PatrolPlan)
        return await _patrol_step(session, w, step.what, tz=tz, prefix=prefix, rules=rules)
    if step.kind == "case":
        assert isinstance(step.what, CaseStep) and step.member and step.case_key
        return await _case_step(session, w, step.member, step.case_key, step.what, tz=tz)
    if step.kind == "diary":
        assert isinstance(step.what, date) and step.member
        member = w.members[step.member.external_id]
        if (member.id, step.what) in w.diaries:
            return None
        scope = w.scopes[step.member.external_id]
        await diaries.write_diary(session, scope, step.what, step.text, tz=tz)
        w.diaries.add((member.id, step.what))
        return "diaries"
    if step.kind == "check":
        assert isinstance(step.what, date) and step.member
        member = w.members[step.member.external_id]
        if (member.id, step.what) in w.checks:
            return None
        result = SpotCheckResult.PASS if step.extra["pass"] else SpotCheckResult.FAIL
        await diaries.spot_check(
            session, w.scopes["office"], str(member.id), step.what, result, step.text, tz=tz
        )
        w.checks.add((member.id, step.what))
        return "spot_checks"
    if step.kind == "ledger":
        assert isinstance(step.what, LedgerPlan)
        return await _ledger_step(session, w, step, tz=tz)
    if step.kind == "joint":
        return await _joint_step(session, w, step)
    raise ValueError(step.kind)


async def _patrol_step(
    session: AsyncSession, w: _World, p: PatrolPlan, *, tz: ZoneInfo, prefix: str, rules: Rules
) -> str | None:
    if p.client_id in w.patrols:
        return None
    scope = w.scopes[p.member.external_id]
    cell = w.cells[(p.member.tenant, p.cell)]
    start = patrols.StartSpec(PatrolKind.ROUTINE, p.start, p.client_id, grid_cell_id=str(cell))
    try:
        patrol = await patrols.start_patrol(session, scope, start, tz=tz)
    except DomainError as refused:  # e.g. someone signed in as the member left a patrol open:
        # refused before anything is written, so the day goes on without this patrol
        log.warning("demo month: %s's patrol of %s not written: %s", p.member.name, p.day,
                    refused.message)  # fmt: skip
        return None
    track = [patrols.TrackSpec(t.latitude, t.longitude, t.at) for t in p.track]
    with clock_at(p.end):
        await patrols.record_track(session, scope, str(patrol.id), track)
    for f in p.findings:
        source = w.sources.get((p.member.tenant, f.source)) if f.source else None
        spec = patrols.FindingSpec(
            title=f.title,
            description=f.description,
            category=f.category,
            client_id=f.client_id,
            source_id=str(source) if source else None,
            latitude=f.latitude,
            longitude=f.longitude,
            resolved_on_site=f.on_site,
            result=f.result if f.on_site else None,
        )
        with clock_at(f.at):
            case = await patrols.record_finding(
                session, scope, str(patrol.id), spec, tz=tz, prefix=prefix, rules=rules
            )
        w.cases[(p.client_id, f.client_id)] = case.id
        w.findings += 1
    with clock_at(p.end):
        await patrols.end_patrol(session, scope, str(patrol.id), p.summary, p.end)
    w.patrols.add(p.client_id)
    return "patrols"


_NEXT = {  # the state a case must be in for the step, and who takes it
    "dispatch": (CaseStatus.REGISTERED, "office"),
    "accept": (CaseStatus.DISPATCHED, "member"),
    "submit": (CaseStatus.HANDLING, "member"),
    "approve": (CaseStatus.UNDER_REVIEW, "reviewer"),
}


async def _case_step(
    session: AsyncSession,
    w: _World,
    member: world.DemoMember,
    key: tuple[str, str],
    step: CaseStep,
    *,
    tz: ZoneInfo,
) -> str | None:
    """A step of a finding's case, taken when the case is where the step starts from (a finding
    that joined another's case, or a step already taken, is left alone)."""
    case_id = w.cases.get(key)
    case = await session.get(Case, case_id) if case_id else None
    if case is None:
        return None
    row = w.members[member.external_id]
    action = step.action
    status, who = _NEXT[action]
    if case.status != status:  # taken already (a rerun), or the case went another way
        return None
    if action in ("accept", "submit"):  # the steps a slow member takes late
        # The sweep as it ran until now (every minute, live): a late step finds its card.
        await sweep(session, case.tenant_id, utcnow(), tz=tz)
        await session.refresh(case)
    if case.status != status or (who == "member" and case.assignee_id != row.id):
        return None
    scope = w.scopes[member.external_id if who == "member" else who]
    if action == "dispatch":
        note = "请网格员核实处理，按时限办结"
        inp = inputs.DispatchInput(tenant_code=member.tenant, assignee_id=row.id, note=note)
        await steps.dispatch(session, scope, str(case.id), inp, tz=tz)
    elif action == "accept":
        await steps.accept(session, scope, str(case.id), "已签收，马上到现场核查", tz=tz)
    elif action == "submit":
        await steps.submit_result(session, scope, str(case.id), step.result, None, tz=tz)
    else:
        await steps.review(session, scope, str(case.id), True, "复核属实，同意办结", tz=tz)
    return "case_steps"


async def _ledger_step(session: AsyncSession, w: _World, step: Step, *, tz: ZoneInfo) -> str | None:
    p = step.what
    assert isinstance(p, LedgerPlan)
    town = w.towns[p.tenant]
    item_id = w.items.get((town, p.title))
    office = w.scopes["office"]
    do = step.extra["do"]
    if do == "open":
        if item_id is not None:
            return None
        code = world.cell_code(p.tenant, p.village)
        gridman = next(m for m in world.MEMBERS if m.tenant == p.tenant and m.cell == code)
        source = _SOURCES_IN[(p.tenant, code)]
        spec = ledgers.ItemSpec(
            kind=p.kind,
            tenant_code=p.tenant,
            title=p.title,
            description=p.description,
            measures=p.measures,
            deadline=p.deadline,
            responsible_member_id=str(w.members[gridman.external_id].id),
            source_id=str(w.sources[(p.tenant, source.name)]),
        )
        item = await ledgers.open_item(session, office, spec, tz=tz)
        w.items[(town, p.title)] = item.id
        return "ledger"
    if item_id is None:
        return None
    if do == "progress":
        if (item_id, step.text) in w.progress:
            return None
        pct = step.extra["pct"]
        assert isinstance(pct, int)
        await ledgers.record_progress(session, office, str(item_id), step.text, pct)
        w.progress.add((item_id, step.text))
        return "ledger"
    current = await session.get(LedgerItem, item_id, populate_existing=True)
    if current is None or current.status != LedgerStatus.OPEN:
        return None
    await ledgers.close_item(session, office, str(item_id), step.text)
    return "ledger"


async def _joint_step(session: AsyncSession, w: _World, step: Step) -> str | None:
    if step.text in w.joint:
        return None
    keys = step.extra["cases"]
    assert isinstance(keys, list)
    ids = [str(w.cases[k]) for k in keys if k in w.cases]
    if not ids:
        return None
    departments = step.what
    assert isinstance(departments, tuple)
    spec = joint.JointSpec(tuple(ids), departments, step.at, step.text)
    await joint.record_joint_action(session, w.scopes["office"], spec)
    w.joint.add(step.text)
    return "joint"
