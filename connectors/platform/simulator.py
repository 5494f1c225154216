"""A city platform on loopback, for the demo and the tests: it assigns cases (a feed of updates
paged by cursor), takes statuses back (each idempotency key once), shows its copy of a case,
and in chaos mode misbehaves as real networks and platforms do: 500s, timeouts (after the
effect, so the answer is lost but the status was taken), slow answers, duplicate deliveries
and shuffled pages.

    python -m connectors.platform.simulator [--port 9300] [--token T] [--chaos] [--assign N]

Control routes for tests in other processes: POST /_sim/assign {"count": N} or an assignment,
POST /_sim/update {"platformCaseId", "type", ...}, PUT /_sim/chaos {...}, GET /_sim/state.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import random
import socket
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from connectors.platform.protocol import STATUSES

TOWNS = ("laiji", "chaohua", "niudian", "dawei", "quliang", "goutang", "pingmo")
SUBJECTS = [
    ("DUST", "建筑工地扬尘", "市平台交办：{town}某建筑工地裸土未覆盖，车辆带泥上路，扬尘严重。"),
    ("AIR", "企业废气异味", "市平台交办：群众反映{town}某企业夜间排放刺激性气味，请核查。"),
    ("WATER", "河道排污", "市平台交办：{town}境内河道发现不明污水排入，水体发黑发臭。"),
    ("NOISE", "夜间施工噪声", "市平台交办：{town}某工地夜间施工，噪声扰民，请依法处理。"),
    ("SOLID_WASTE", "垃圾乱倒", "市平台交办：{town}路边有建筑垃圾、工业固废随意倾倒。"),
]
PLATFORM_NAMES = frozenset(STATUSES.values())
MAX_LIMIT = 1000


@dataclass
class Chaos:
    error_rate: float = 0.0  # answer 500 (before any effect)
    timeout_rate: float = 0.0  # take effect, then hang for hang_seconds (the answer is lost)
    hang_seconds: float = 30.0
    slow_rate: float = 0.0  # answer after slow_seconds (within the client's timeout)
    slow_seconds: float = 0.3
    duplicate_rate: float = 0.0  # a page repeats items (and its cursor rewinds a little)
    shuffle_rate: float = 0.0  # a page's items come out of order

    @classmethod
    def wild(cls) -> Chaos:
        return cls(0.1, 0.05, 30.0, 0.1, 0.3, 0.2, 0.3)


@dataclass
class Received:
    status: str
    note: str | None
    at: str
    key: str
    case_number: str


@dataclass
class SimCase:
    assignment: dict[str, Any]
    received: list[Received] = field(default_factory=list)  # in effect, in arrival order
    keys: set[str] = field(default_factory=set)
    refuse: int | None = None  # answer every status with this 4xx (tests of dead letters)
    deliveries: int = 0  # status POSTs that reached it (duplicates included)


class Simulator:
    def __init__(self, token: str | None = None, chaos: Chaos | None = None, seed: int = 0):
        self.token = token
        self.chaos = chaos or Chaos()
        self.rand = random.Random(seed)
        self.feed: list[dict[str, Any]] = []
        self.cases: dict[str, SimCase] = {}
        self.counter = itertools.count(1)
        self.requests: dict[str, int] = {}

    # --- what the platform does on its own ------------------------------------------------

    def _now(self) -> str:
        return datetime.now(UTC).isoformat()

    def new_assignment(self, **fields: Any) -> dict[str, Any]:
        n = next(self.counter)
        town = self.rand.choice(TOWNS)
        category, title, text = self.rand.choice(SUBJECTS)
        now = datetime.now(UTC).replace(microsecond=0)
        body = {
            "platformCaseId": f"ZZ-SIM-{n:06d}",
            "assignedAt": now.isoformat(),
            "deadline": (now + timedelta(days=7)).isoformat(),
            "title": f"{title}（{town}）",
            "description": text.format(town=town),
            "category": category,
            "town": town,
            "address": f"{town}镇区",
        }
        body.update(fields)
        return body

    def assign(self, assignment: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
        """Add an ASSIGNED update (a generated assignment unless one is given)."""
        body = assignment or self.new_assignment(**fields)
        case_id = body["platformCaseId"]
        self.cases.setdefault(case_id, SimCase(body))
        return self.update(case_id, "ASSIGNED", at=body.get("assignedAt"), assignment=body)

    def update(self, platform_case_id: str, type: str, **fields: Any) -> dict[str, Any]:
        """Add an update about a case (DEADLINE with "deadline", URGED with "note", ...)."""
        item = {
            "updateId": f"U-{len(self.feed) + 1:08d}",
            "platformCaseId": platform_case_id,
            "type": type,
            "at": fields.pop("at", None) or self._now(),
            **fields,
        }
        self.feed.append(item)
        return item

    def statuses(self, platform_case_id: str) -> list[str]:
        case = self.cases.get(platform_case_id)
        return [r.status for r in case.received] if case else []

    # --- HTTP ---------------------------------------------------------------------------------

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/assignments", self._page, methods=["GET"]),
                Route("/assignments/{case_id:path}/status", self._status, methods=["POST"]),
                Route("/assignments/{case_id:path}", self._view, methods=["GET"]),
                Route("/_sim/assign", self._sim_assign, methods=["POST"]),
                Route("/_sim/update", self._sim_update, methods=["POST"]),
                Route("/_sim/chaos", self._sim_chaos, methods=["PUT"]),
                Route("/_sim/state", self._sim_state, methods=["GET"]),
            ]
        )

    def _count(self, what: str) -> None:
        self.requests[what] = self.requests.get(what, 0) + 1

    def _denied(self, request: Request) -> JSONResponse | None:
        if self.token and request.headers.get("authorization") != f"Bearer {self.token}":
            return _error(401, "authorization", "a valid bearer token is required")
        return None

    def _roll(self, rate: float) -> bool:
        return rate > 0 and self.rand.random() < rate

    async def _page(self, request: Request) -> JSONResponse:
        self._count("page")
        if denied := self._denied(request):
            return denied
        if self._roll(self.chaos.error_rate):
            return _error(500, "server", "chaos: internal error")
        after, limit = (
            request.query_params.get("after", "0") or "0",
            request.query_params.get("limit", "100"),
        )
        if not after.isdigit() or int(after) > len(self.feed):
            return _error(422, "after", "after must be a cursor this platform gave out")
        if not limit.isdigit() or not 1 <= int(limit) <= MAX_LIMIT:
            return _error(422, "limit", f"limit must be an integer from 1 to {MAX_LIMIT}")
        start, size = int(after), int(limit)
        items = [dict(i) if isinstance(i, dict) else i for i in self.feed[start : start + size]]
        end = start + len(items)
        if items and self._roll(self.chaos.duplicate_rate):
            items.append(self.rand.choice(items))  # one delivered twice in a page
            end = max(start, end - self.rand.randint(1, 3))  # and the next page overlaps
        if self._roll(self.chaos.shuffle_rate):
            self.rand.shuffle(items)
        await self._delay()
        return JSONResponse({"items": items, "next": str(end)})

    async def _delay(self) -> None:
        if self._roll(self.chaos.timeout_rate):
            await asyncio.sleep(self.chaos.hang_seconds)
        elif self._roll(self.chaos.slow_rate):
            await asyncio.sleep(self.chaos.slow_seconds)

    async def _status(self, request: Request) -> JSONResponse:
        self._count("status")
        if denied := self._denied(request):
            return denied
        if self._roll(self.chaos.error_rate):
            return _error(500, "server", "chaos: internal error")
        case = self.cases.get(request.path_params["case_id"])
        if case is None:
            return _error(404, "platformCaseId", "no such assignment")
        try:
            body = json.loads(await request.body())
        except ValueError:
            return _error(422, "body", "the body is not JSON")
        problem = _check_status(body)
        if problem:
            return _error(422, *problem)
        case.deliveries += 1
        if case.refuse:
            return _error(case.refuse, "status", "the platform does not accept this status")
        duplicate = body["idempotencyKey"] in case.keys
        if not duplicate:
            case.keys.add(body["idempotencyKey"])
            case.received.append(
                Received(
                    body["status"],
                    body.get("note"),
                    body["at"],
                    body["idempotencyKey"],
                    body["caseNumber"],
                )
            )
        await self._delay()
        return JSONResponse({"accepted": True, "duplicate": duplicate})

    async def _view(self, request: Request) -> JSONResponse:
        self._count("view")
        if denied := self._denied(request):
            return denied
        if self._roll(self.chaos.error_rate):
            return _error(500, "server", "chaos: internal error")
        case_id = request.path_params["case_id"]
        case = self.cases.get(case_id)
        if case is None:
            return _error(404, "platformCaseId", "no such assignment")
        last = case.received[-1] if case.received else None
        return JSONResponse(
            {
                "platformCaseId": case_id,
                "caseNumber": last.case_number if last else None,
                "status": last.status if last else None,
                "statusAt": last.at if last else None,
                "statuses": len(case.received),
            }
        )

    # --- control (tests and the demo in another process) ------------------------------------

    async def _sim_assign(self, request: Request) -> JSONResponse:
        body = await _json(request)
        if not isinstance(body, dict):
            return _error(422, "body", 'a JSON object: {"count": N} or an assignment')
        if "platformCaseId" in body:
            return JSONResponse({"items": [self.assign(body)]})
        count = body.get("count", 1)
        if not isinstance(count, int) or not 1 <= count <= 100_000:
            return _error(422, "count", "count must be an integer from 1 to 100000")
        return JSONResponse({"items": [self.assign() for _ in range(count)]})

    async def _sim_update(self, request: Request) -> JSONResponse:
        body = await _json(request)
        if not isinstance(body, dict) or not isinstance(body.get("platformCaseId"), str):
            return _error(422, "platformCaseId", "platformCaseId is required")
        if not isinstance(body.get("type"), str):
            return _error(422, "type", "type is required")
        fields = {k: v for k, v in body.items() if k not in ("platformCaseId", "type")}
        return JSONResponse(self.update(body["platformCaseId"], body["type"], **fields))

    async def _sim_chaos(self, request: Request) -> JSONResponse:
        body = await _json(request)
        known = set(asdict(Chaos()))
        if not isinstance(body, dict) or set(body) - known:
            return _error(422, "body", f"a JSON object with some of {sorted(known)}")
        try:
            self.chaos = Chaos(**{**asdict(self.chaos), **{k: float(v) for k, v in body.items()}})
        except (TypeError, ValueError):
            return _error(422, "body", "chaos values must be numbers")
        return JSONResponse(asdict(self.chaos))

    async def _sim_state(self, request: Request) -> JSONResponse:
        return JSONResponse(
            {
                "feed": len(self.feed),
                "requests": self.requests,
                "cases": {k: [asdict(r) for r in c.received] for k, c in self.cases.items()},
            }
        )


def _check_status(body: Any) -> tuple[str, str] | None:
    if not isinstance(body, dict):
        return "body", "the body must be a JSON object"
    for name in ("caseNumber", "status", "at", "idempotencyKey"):
        if not isinstance(body.get(name), str) or not body[name].strip():
            return name, f"{name} is required"
    if body["status"] not in PLATFORM_NAMES:
        return "status", f"unknown status {body['status']!r}"
    if body.get("note") is not None and not isinstance(body["note"], str):
        return "note", "note must be a string or null"
    try:
        at = datetime.fromisoformat(body["at"])
    except ValueError:
        return "at", "at is not an ISO 8601 time"
    if at.tzinfo is None:
        return "at", "at needs a UTC offset"
    return None


async def _json(request: Request) -> Any:
    try:
        return json.loads(await request.body() or b"{}")
    except ValueError:
        return None


def _error(status: int, name: str, message: str) -> JSONResponse:
    return JSONResponse({"errors": [{"field": name, "message": message}]}, status_code=status)


# --- running it -----------------------------------------------------------------------------


def loopback_socket(port: int = 0) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    return sock


@contextlib.asynccontextmanager
async def serving(sim: Simulator, port: int = 0) -> AsyncIterator[str]:
    """Serve ``sim`` on loopback on the running loop; yields its base URL."""
    import uvicorn

    sock = loopback_socket(port)
    config = uvicorn.Config(sim.app(), log_level="warning", lifespan="off", timeout_keep_alive=30)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        server.force_exit = True  # hung chaos answers must not hold the shutdown
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 5)
        sock.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="The city platform simulator (loopback).")
    parser.add_argument("--port", type=int, default=9300)
    parser.add_argument("--token", default=None, help="require this bearer token")
    parser.add_argument("--chaos", action="store_true", help="misbehave (500s, timeouts, ...)")
    parser.add_argument("--assign", type=int, default=0, help="assignments to start with")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if not 0 <= args.port <= 65535:
        parser.error("--port must be between 0 and 65535")
    if not 0 <= args.assign <= 100_000:
        parser.error("--assign must be between 0 and 100000")
    sim = Simulator(args.token, Chaos.wild() if args.chaos else None, args.seed)
    for _ in range(args.assign):
        sim.assign()

    async def run() -> None:
        async with serving(sim, args.port) as url:
            print(f"platform simulator at {url} ({len(sim.feed)} assignments)", flush=True)
            await asyncio.Event().wait()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())


if __name__ == "__main__":
    main()
