"""CPU per request of the executor's fast paths (hub/execution.py), A/B in one process.

    python -m tests.perf.bench_executor \
        --url postgresql+asyncpg://postgres@127.0.0.1:5432/sanwang_perf [--rounds 4] [--runs 40]

The same app (create_app, httpx's ASGITransport) answers the contract's Cases(first: 50), the
same without totalCount and CaseDetail as a DISPATCHER, in blocks of ``--runs`` requests that
alternate between three executors: graphql-core alone (no plans), leaf fields only, and whole
plain sub-selections (the hub's). Prints the median over ``--rounds`` of this process's CPU
time per request (the app, httpx and asyncpg), which other load disturbs less than wall time.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any

import httpx

from hub import execution
from hub.app import create_app
from hub.auth import issue_jwt
from hub.config import Settings
from hub.db import Database
from hub.runtime import Runtime
from tests.perf.bench_cases import CASE_DETAIL, CASES, CASES_NO_TOTAL, SECRET


def variants() -> dict[str, Any]:
    full = execution.field_plan

    def leaf_only(field_def: Any) -> Any:
        plan = full(field_def)
        return plan if plan is not None and plan[0] == execution.LEAF else None

    return {"graphql-core alone": lambda field_def: None, "leaf fields": leaf_only,
            "whole sub-selections": full}  # fmt: skip


async def run(url: str, rounds: int, runs: int) -> None:
    settings = Settings(database_url=url, secret_key=SECRET, _env_file=None)
    db = Database(url, app_role=settings.app_role, pool_size=4)
    app = create_app(Runtime.start(settings, db))
    token = issue_jwt(settings.signing_key(), "perf-dispatcher", ["DISPATCHER"], [])
    headers = {"Authorization": f"Bearer {token}"}
    plans = variants()
    original = execution.field_plan
    cpu: dict[tuple[str, str], list[float]] = {}
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://hub.perf") as http:

            async def post(query: str, variables: dict[str, Any]) -> None:
                answer = await http.post(
                    "/graphql", json={"query": query, "variables": variables}, headers=headers
                )
                assert answer.status_code == 200 and "errors" not in answer.json(), answer.text

            page = await http.post(
                "/graphql", json={"query": CASES, "variables": {"first": 50}}, headers=headers
            )
            case_id = page.json()["data"]["cases"]["edges"][3]["node"]["id"]
            operations = {
                "Cases(first:50)": (CASES, {"first": 50}),
                "no totalCount": (CASES_NO_TOTAL, {"first": 50}),
                "CaseDetail": (CASE_DETAIL, {"id": case_id}),
            }
            for _ in range(rounds):
                for name, plan in plans.items():
                    execution.field_plan = plan
                    for op_name, (query, variables) in operations.items():
                        for _ in range(5):
                            await post(query, variables)
                        started = time.process_time()
                        for _ in range(runs):
                            await post(query, variables)
                        per = (time.process_time() - started) / runs * 1000
                        cpu.setdefault((name, op_name), []).append(per)
    finally:
        execution.field_plan = original
        await db.dispose()
    print(f"{'executor':<24}" + "".join(f"{op:>18}" for op in operations))
    for name in plans:
        print(
            f"{name:<24}"
            + "".join(f"{statistics.median(cpu[(name, op)]):>15.2f} ms" for op in operations)
        )
    print("(CPU of this process per request, median of the rounds)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--runs", type=int, default=40)
    args = parser.parse_args()
    asyncio.run(run(args.url, args.rounds, args.runs))


if __name__ == "__main__":
    main()
