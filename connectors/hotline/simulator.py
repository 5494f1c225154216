"""A simulated 12369 call system: it phones realistic calls in to the hub's real HTTP endpoint
and answers the callbacks the hub sends when a case is resolved.

    python -m connectors.hotline.simulator --url http://127.0.0.1:8000 --token HOTLINE_TOKEN \
        [--calls 20] [--interval 1] [--callback-port 0] [--fail-first 0] [--seed 1]

The calls come from templates of what people in Xinmi phone about - dust from a refractory
plant at night, a paper mill's waste water, a milling plant's noise, black-smoke trucks - about
the demo world's enterprises, villages and towns (hub.demo.world), located the ways callers
locate them: by town, by a point, by an address naming a village, by an enterprise's name in
its everyday form (宏达耐火材料厂 for 新密市来集镇宏达耐火材料有限公司). Some callers phone again,
some neighbours phone about the same plant: the hub should merge those and nothing else.

The call system (``CallSystem``) is a small HTTP server on loopback that records every callback,
applies each Idempotency-Key once, and can be told to fail the next callbacks (an error status
or a dropped answer) to show that the result still arrives exactly once in effect.

Under ``sanwang serve --demo`` the hotline connector's lifespan runs ``demo``: the call system,
a call every few seconds, and a simulated town office (演示镇办（模拟）, OPERATOR of the demo's
towns, its results approved by 演示督查（模拟）) that resolves some of the cases the simulator's
own calls opened (so the callbacks come) and records what those callers said of the result. A
case a person registered, and a callback about a case a person resolved, are never touched.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import random
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from hub.demo import world

log = logging.getLogger("connectors.hotline.simulator")

TZ = ZoneInfo("Asia/Shanghai")
CALLBACK_PATH = "/callbacks"
DEMO_CALL_SECONDS = 12.0
DEMO_RESOLVE_EVERY = 3  # ticks: the simulated office resolves one case every third call

# --- what people phone about ------------------------------------------------------------------


@dataclass(frozen=True)
class Template:
    category: str
    industry: str | None  # the kind of plant it is about; None: a place, no plant
    texts: tuple[str, ...]  # {src} the plant as callers name it, {village}, {town}


TEMPLATES: tuple[Template, ...] = (
    Template("DUST", "REFRACTORY", (
        "{src}每天晚上十点以后偷偷生产，粉尘特别大，早上起来院子里落一层灰。",
        "{village}附近的{src}夜里破碎原料，扬尘漫天，窗户都不敢开。",
        "举报{src}夜间生产，烟囱和料场粉尘很大，村里老人咳嗽得厉害。",
    )),
    Template("WATER", "PAPER", (
        "{src}往河沟里排污水，水是黑的，还有一股臭味。",
        "{village}旁边的河水发黑发臭，怀疑是{src}夜里偷排废水。",
        "{src}的排污口一直在往外冒黄水，下游死鱼了。",
    )),
    Template("NOISE", "MILLING", (
        "{src}的机器噪音太大了，半夜还在轰鸣，吵得睡不着觉。",
        "{village}的{src}晚上加班生产，噪声扰民，已经好几天了。",
    )),
    Template("DUST", "CEMENT", (
        "{src}料场没有苫盖，一刮风粉尘很大，路上全是灰。",
        "{src}的运输车辆带泥上路，道路扬尘严重。",
    )),
    Template("AIR", "POWER", (
        "{src}烟囱冒黑烟，空气里有刺鼻的味道。",
        "{src}晚上排放废气，味道很呛，怀疑没开脱硫设备。",
    )),
    Template("VEHICLE", None, (
        "{town}{village}路口每天有很多冒黑烟的渣土车经过，尾气呛人。",
        "{village}村道上的重型柴油车冒黑烟，一天过好几十辆。",
    )),
    Template("SOLID_WASTE", None, (
        "{village}村口有人倾倒建筑垃圾，堆了一大片，没人管。",
        "{town}{village}河边有人堆放工业废渣，下雨就往河里冲。",
    )),
)  # fmt: skip

SURNAMES = "王李张刘陈杨赵黄周吴徐孙马朱胡郭何高林罗"
LOCATE = ("town", "point", "address", "source")  # how a caller says where


def everyday_name(registered: str, rnd: random.Random) -> str:
    """How callers name an enterprise: 新密市来集镇宏达耐火材料有限公司 -> 宏达耐火材料厂 etc."""
    core = registered
    for town in world.TOWNS:
        core = core.replace(f"新密市{town.name}", "")
    core = core.replace("有限责任公司", "").replace("有限公司", "")
    return rnd.choice((core + "厂", core + "有限公司", core, registered))


@dataclass
class CallMaker:
    """Call records as the call system sends them (the contract of POST /ingest/hotline)."""

    rnd: random.Random = field(default_factory=random.Random)
    callers: int = 40  # the pool of phone numbers: some people phone more than once
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:6])
    seq: int = 0
    made: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.phones = [f"139{self.rnd.randrange(10**8):08d}" for _ in range(self.callers)]

    def call(self, now: datetime | None = None, **about: Any) -> dict[str, Any]:
        """A new call about something the templates describe (``about`` overrides fields)."""
        rnd = self.rnd
        template = about.pop("template", None) or rnd.choice(TEMPLATES)
        source = about.pop("source", None) or self._source_for(template)
        town, village, point = self._place(source)
        text = rnd.choice(template.texts).format(
            src=everyday_name(source.name, rnd) if source else "",
            village=village,
            town=town.name,
        )
        body: dict[str, Any] = {
            "callId": self._call_id(now),
            "receivedAt": (now or datetime.now(TZ)).astimezone(TZ).isoformat(timespec="seconds"),
            "callerName": f"{rnd.choice(SURNAMES)}{rnd.choice('先生女士')}",
            "callerPhone": rnd.choice(self.phones),
            "description": text,
            "anonymous": rnd.random() < 0.1,
        }
        if rnd.random() < 0.6:  # the operator picked a category; else the hub reads the words
            body["category"] = template.category
        self._locate(body, rnd.choice(LOCATE), town, village, point, source)
        body.update(about)
        self.made.append(body)
        return body

    def again(self, earlier: dict[str, Any], *, same_caller: bool, now: datetime | None = None):
        """Someone phones about a problem called in before: the same caller again, or a
        neighbour (another number) about the same plant."""
        body = dict(earlier, callId=self._call_id(now))
        body["receivedAt"] = (now or datetime.now(TZ)).astimezone(TZ).isoformat(timespec="seconds")
        if not same_caller:
            body["callerPhone"] = f"137{self.rnd.randrange(10**8):08d}"
            body["callerName"] = f"{self.rnd.choice(SURNAMES)}{self.rnd.choice('先生女士')}"
        body["description"] = "又来反映：" + earlier["description"]
        self.made.append(body)
        return body

    def _call_id(self, now: datetime | None) -> str:
        self.seq += 1
        day = (now or datetime.now(TZ)).astimezone(TZ).strftime("%Y%m%d")
        return f"12369-{day}-{self.tag}-{self.seq:04d}"

    def _source_for(self, template: Template) -> world.DemoSource | None:
        if template.industry is None:
            return None
        return self.rnd.choice([s for s in world.SOURCES if s.industry == template.industry])

    def _place(self, source: world.DemoSource | None) -> tuple[world.Town, str, tuple]:
        if source is not None:
            town = next(t for t in world.TOWNS if t.code == source.tenant)
            number = int(source.cell.rsplit("-", 1)[1])
            return town, town.villages[number - 1], (source.longitude, source.latitude)
        town = self.rnd.choice(world.TOWNS)
        number = self.rnd.randrange(len(town.villages)) + 1
        cell = next(c for c in world.CELLS if c.code == world.cell_code(town.code, number))
        lons, lats = [p[0] for p in cell.ring], [p[1] for p in cell.ring]
        centre = ((min(lons) + max(lons)) / 2, (min(lats) + max(lats)) / 2)
        return town, town.villages[number - 1], centre

    def _locate(self, body, how, town, village, point, source) -> None:
        address = f"新密市{town.name}{village}"
        if how == "town":
            body.update(town=town.code, address=address)
        elif how == "point":
            # A phone's location: within about 60 m of the place.
            lon, lat = point
            body.update(
                longitude=round(lon + self.rnd.uniform(-0.0005, 0.0005), 6),
                latitude=round(lat + self.rnd.uniform(-0.0004, 0.0004), 6),
            )
        else:
            body["address"] = address
        if source is not None and how in ("source", "town"):
            body["sourceName"] = everyday_name(source.name, self.rnd)


# --- the call system's callback endpoint --------------------------------------------------------


@dataclass
class Callback:
    key: str
    body: dict[str, Any]
    answer: str  # "ok", "duplicate", an error status, or "dropped"


@dataclass
class CallSystem:
    """Receives the hub's callbacks: records each, applies each Idempotency-Key once."""

    received: list[Callback] = field(default_factory=list)
    effects: dict[str, dict[str, Any]] = field(default_factory=dict)  # key -> body, once
    plan: deque[str] = field(default_factory=deque)
    url: str = ""
    on_effect: Callable[[dict[str, Any]], None] | None = None

    def fail(self, times: int, status: int = 503) -> None:
        """The next ``times`` callbacks get ``status`` and take no effect."""
        self.plan.extend([str(status)] * times)

    def drop(self, times: int) -> None:
        """The next ``times`` callbacks take effect, but the answer is an error (as when the
        line drops after the call system wrote it down): the hub will send them again."""
        self.plan.extend(["dropped"] * times)

    def called_back(self, call_id: str) -> list[dict[str, Any]]:
        """The callbacks that took effect for one call."""
        return [b for b in self.effects.values() if b.get("callId") == call_id]

    async def handle(self, request: Request) -> JSONResponse:
        key = request.headers.get("idempotency-key", "")
        try:
            body = json.loads(await request.body())
        except ValueError:
            return JSONResponse({"error": "not JSON"}, status_code=400)
        if not key or not isinstance(body, dict) or "callId" not in body:
            return JSONResponse({"error": "Idempotency-Key and callId needed"}, status_code=400)
        action = self.plan.popleft() if self.plan else "ok"
        if action.isdigit():
            self.received.append(Callback(key, body, action))
            return JSONResponse({"error": "planned failure"}, status_code=int(action))
        applied = key not in self.effects
        if applied:
            self.effects[key] = body
            if self.on_effect is not None:
                self.on_effect(body)
        answer = "dropped" if action == "dropped" else ("ok" if applied else "duplicate")
        self.received.append(Callback(key, body, answer))
        if action == "dropped":
            return JSONResponse({"error": "line dropped"}, status_code=502)
        return JSONResponse({"ok": True, "duplicate": not applied})


@contextlib.asynccontextmanager
async def call_system(host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[CallSystem]:
    """The call system listening on loopback; ``system.url`` is its callback URL."""
    system = CallSystem()
    app = Starlette(routes=[Route(CALLBACK_PATH, system.handle, methods=["POST"])])
    config = uvicorn.Config(app, host=host, port=port, lifespan="off", log_level="warning")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(10):
            while not server.started:
                if task.done():
                    task.result()
                    raise RuntimeError("the call system stopped before it started")
                await asyncio.sleep(0.01)
        bound = server.servers[0].sockets[0].getsockname()[1]
        system.url = f"http://{host}:{bound}{CALLBACK_PATH}"
        yield system
    finally:
        server.should_exit = True
        await task


# --- phoning in -----------------------------------------------------------------------------


async def post_call(
    client: httpx.AsyncClient, base_url: str, token: str, body: dict[str, Any]
) -> httpx.Response:
    """One call to the hub's real endpoint."""
    return await client.post(
        f"{base_url}/ingest/hotline", json=body, headers={"Authorization": f"Bearer {token}"}
    )


def describe(body: dict[str, Any], response: httpx.Response) -> str:
    """A log line about a call: its id and what the hub said (never the caller)."""
    if response.status_code in (200, 201):
        answer = response.json()
        merged = f", joins {answer['caseNumber']}" if answer["duplicateOf"] else ""
        return f"call {body['callId']} -> {response.status_code} {answer['caseNumber']}{merged}"
    return f"call {body['callId']} -> {response.status_code}"


# --- the demo: calls, a town office, callbacks and feedback -------------------------------------

OPEN_HOTLINE = """query($first: Int) { cases(first: $first, filter: {channels: [HOTLINE],
  status: [REGISTERED]}) { edges { node { id number tenant { code } } } } }"""
# (who acts: the town office or the reviewer, the mutation); 督查 is someone else's check.
STEPS = (
    (
        "office",
        "mutation($id: ID!, $town: String!) { dispatchCase(caseId: $id, input: "
        '{tenantCode: $town, note: "请属地核查处理"}) { __typename } }',
    ),
    ("office", 'mutation($id: ID!) { acceptCase(caseId: $id, note: "已签收") { __typename } }'),
    (
        "office",
        "mutation($id: ID!) { submitResult(caseId: $id, input: {result: "
        '"已到现场核查，责令企业停产整改，已安装喷淋抑尘设施"}) { __typename } }',
    ),
    (
        "reviewer",
        "mutation($id: ID!) { reviewCase(caseId: $id, input: {decision: APPROVE}) { __typename } }",
    ),
)
FEEDBACK = """mutation($id: ID!, $s: Satisfaction!) { recordFeedback(caseId: $id,
  input: {satisfaction: $s, note: "回访来电人"}) { __typename } }"""


async def gql(
    client: httpx.AsyncClient, base_url: str, token: str, query: str, **variables: Any
) -> dict[str, Any]:
    response = await client.post(
        f"{base_url}/graphql",
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {token}"},
    )
    response.raise_for_status()
    return response.json().get("data") or {}


async def resolve_one(
    client: httpx.AsyncClient, base_url: str, tokens: dict[str, str], own: Collection[str]
) -> dict[str, str] | None:
    """The simulated town office takes the oldest registered hotline case that the simulator's
    own calls opened (``own``: case ids) through to RESOLVED, the reviewer approving; a case a
    person registered, or one that went to the command centre, is left to people."""
    data = await gql(client, base_url, tokens["office"], OPEN_HOTLINE, first=200)
    edges = (data.get("cases") or {}).get("edges") or []
    mine = [e["node"] for e in edges if e["node"]["id"] in own]
    if not mine:
        return None
    case = mine[-1]  # newest first: the last is the oldest
    town = case["tenant"]["code"]
    for who, mutation in STEPS:
        done = await gql(client, base_url, tokens[who], mutation, id=case["id"], town=town)
        answer: dict[str, Any] = next(iter(done.values()), {})
        if answer.get("__typename") != "CaseResult":
            return None  # refused (someone else moved it meanwhile): leave it
    return case


@dataclass
class Demo:
    """The call system's side of ``serve --demo``. It keeps to its own: the office resolves only
    cases its calls opened, and callers answer only for cases the office resolved."""

    base_url: str
    hotline: str  # token: the call system (posts calls, records feedback)
    office: str  # token: the simulated town office (OPERATOR of the demo's towns)
    reviewer: str  # token: the simulated reviewer (SUPERVISOR)
    system: CallSystem
    maker: CallMaker = field(default_factory=CallMaker)
    feedback: asyncio.Queue = field(default_factory=asyncio.Queue)
    opened: set[str] = field(default_factory=set)  # case ids the simulator's calls opened
    resolved: set[str] = field(default_factory=set)  # case ids the simulated office resolved

    async def run(self, interval: float = DEMO_CALL_SECONDS) -> None:
        self.system.on_effect = self.feedback.put_nowait
        async with httpx.AsyncClient(timeout=10) as client:
            tick = 0
            while True:
                await asyncio.sleep(interval)
                tick += 1
                with contextlib.suppress(httpx.HTTPError, KeyError, ValueError):
                    await self.tick(client, tick)

    async def tick(self, client: httpx.AsyncClient, tick: int) -> None:
        rnd, maker = self.maker.rnd, self.maker
        if maker.made and rnd.random() < 0.35:
            body = maker.again(rnd.choice(maker.made[-10:]), same_caller=rnd.random() < 0.5)
        else:
            body = maker.call()
        response = await post_call(client, self.base_url, self.hotline, body)
        log.info("hotline simulator: %s", describe(body, response))
        if response.status_code == 201 and not response.json()["duplicateOf"]:
            self.opened.add(response.json()["caseId"])  # joining a case is not opening it
        if tick % DEMO_RESOLVE_EVERY == 0:
            await self.resolve(client)
        while not self.feedback.empty():
            await self.answer(client, self.feedback.get_nowait())

    async def resolve(self, client: httpx.AsyncClient) -> None:
        if self.maker.rnd.random() < 0.3:
            self.system.fail(1)  # the call system is busy: the hub retries
        tokens = {"office": self.office, "reviewer": self.reviewer}
        case = await resolve_one(client, self.base_url, tokens, self.opened)
        if case is not None:
            self.resolved.add(case["id"])
            log.info("hotline simulator: the town office resolved %s", case["number"])

    async def answer(self, client: httpx.AsyncClient, result: dict[str, Any]) -> None:
        """The caller's word on a result: only on a case the simulated office resolved (a
        person working a case calls the caller back themselves)."""
        if result.get("caseId") not in self.resolved:
            return
        said = "UNSATISFIED" if self.maker.rnd.random() < 0.2 else "SATISFIED"
        await gql(client, self.base_url, self.hotline, FEEDBACK, id=result["caseId"], s=said)
        log.info(
            "hotline simulator: called back for %s (%s): %s",
            result["callId"],
            result["caseNumber"],
            said,
        )


def demo_hotline_token(key: str, *, hours: float) -> str:
    """The simulated call system's token: its name is what the timeline shows for its cases."""
    from hub.auth import issue_jwt

    return issue_jwt(
        key, "demo-hotline-simulator", ["HOTLINE"], [], hours=hours, name="12369热线（模拟）"
    )


@contextlib.asynccontextmanager
async def demo(state: dict[str, Any]) -> AsyncIterator[Demo]:
    """The hotline part of ``serve --demo``: calls to settings.http_url, callbacks to a call
    system on loopback, a town office resolving cases, callers answering the callback."""
    from connectors.hotline.callback import install
    from connectors.hotline.settings import hotline_settings
    from hub.demo import principals

    settings = state["settings"]
    hsettings = hotline_settings(state["runtime"])
    key = state.get("key") or settings.signing_key()
    year = 24 * 365
    async with call_system() as system:
        install(hsettings.model_copy(update={"callback_url": system.url}))
        hotline = demo_hotline_token(key, hours=year)
        office = await principals.issue(state["db"], principals.OFFICE)
        reviewer = await principals.issue(state["db"], principals.REVIEWER)
        sim = Demo(settings.http_url, hotline, office, reviewer, system)
        interval = hsettings.demo_call_seconds
        task = asyncio.create_task(sim.run(interval))
        log.info(
            "hotline simulator: a 12369 call every %g s to %s/ingest/hotline, results called "
            "back to %s",
            interval,
            settings.http_url,
            system.url,
        )
        try:
            yield sim
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            install(hsettings)


# --- the command line ---------------------------------------------------------------------------


async def _main(args: argparse.Namespace) -> None:
    maker = CallMaker(random.Random(args.seed))
    async with call_system(port=args.callback_port) as system, httpx.AsyncClient() as client:
        system.fail(args.fail_first)
        print(f"call system: callbacks at {system.url} (set SANWANG_HOTLINE_CALLBACK_URL)")
        for n in range(args.calls):
            earlier = maker.made[-5:]
            if earlier and maker.rnd.random() < 0.3:
                body = maker.again(maker.rnd.choice(earlier), same_caller=n % 2 == 0)
            else:
                body = maker.call()
            print(describe(body, await post_call(client, args.url, args.token, body)))
            await asyncio.sleep(args.interval)
        if args.wait:
            print(f"waiting {args.wait:.0f} s for callbacks...")
            await asyncio.sleep(args.wait)
        print(f"callbacks: {len(system.received)} received, {len(system.effects)} took effect")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="the hub's base URL")
    parser.add_argument("--token", required=True, help="a HOTLINE token")
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between calls")
    parser.add_argument("--callback-port", type=int, default=0)
    parser.add_argument("--fail-first", type=int, default=0, help="callbacks to fail first")
    parser.add_argument("--wait", type=float, default=0.0, help="seconds to wait for callbacks")
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args(argv)
    asyncio.run(_main(args))


if __name__ == "__main__":
    main()


__all__ = ["TEMPLATES", "CallMaker", "CallSystem", "call_system", "demo"]
