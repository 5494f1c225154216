"""The production topology, natively: two `sanwang serve` replicas, a `sanwang worker` and a
`sanwang scheduler` as separate processes on PostgreSQL and Redis. A case driven past its
accept limit earns exactly one card and exactly one delivered notification, however many
replicas run the scheduler's tick."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest

from hub.auth import issue_jwt, system_scope
from hub.db import Database
from hub.supervision import clocks
from tests.conftest import Backend
from tests.processes import MACHINE_REDIS, free_port, job_env, processes, sanwang
from tests.sinks import webhook_sink

SECRET = "e2e-outbox"  # job_env's key: the API replicas sign and check JWTs with it
REGISTER = """mutation($i: RegisterCaseInput!) { registerCase(input: $i) {
  ... on CaseResult { case { id } } } }"""
DISPATCH = """mutation($id: ID!) { dispatchCase(caseId: $id, input: {tenantCode: "laiji"}) {
  ... on CaseResult { case { status } } } }"""
CARDS = """query($id: ID!) { caseCards(caseId: $id) { level automatic }
  case(id: $id) { card status } }"""


async def short_accept_limit(db: Database) -> None:
    """Accept within 3.6 seconds at a town, red after an hour."""
    scope = await system_scope(db)
    async with db.session(scope.tenant_ids, write=True) as session:
        await clocks.set_rule(
            session,
            {
                "level": "TOWN",
                "phase": "ACCEPT",
                "category": None,
                "priority": None,
                "channel": None,
                "unit": "HOURS",
                "yellow_after": 0.001,
                "red_after": 1.0,
            },
        )
        await session.commit()


async def healthy(base: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            try:
                if (await client.get(f"{base}/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)
    raise AssertionError(f"{base} did not become ready")


async def gql(base: str, query: str, **variables: object) -> dict:
    token = issue_jwt(SECRET, "e2e-dispatcher", ["DISPATCHER"], [])
    async with httpx.AsyncClient(timeout=30) as client:
        answer = await client.post(
            f"{base}/graphql",
            json={"query": query, "variables": variables},
            headers={"Authorization": f"Bearer {token}"},
        )
    body = answer.json()
    assert answer.status_code == 200 and not body.get("errors"), body
    return body["data"]


@pytest.mark.slow
async def test_two_replicas_a_worker_and_a_scheduler_card_once_and_notify_once(
    backend: Backend, db: Database, db_url: str, tmp_path: Path, namespace: str
) -> None:
    if backend.name != "postgres":
        pytest.skip("the multi-process topology runs on PostgreSQL")
    await short_accept_limit(db)
    async with webhook_sink() as sink, processes() as started:
        env = job_env(
            db_url, MACHINE_REDIS, namespace, sink, sweep_interval_seconds=1, auto_migrate="false"
        )
        ports = [free_port(), free_port()]
        for port in ports:
            started.append(
                sanwang(f"serve --port {port} --hj212-port {free_port()}", env, tmp_path)
            )
        started.append(sanwang("worker", env, tmp_path))
        started.append(sanwang("scheduler", env, tmp_path))
        bases = [f"http://127.0.0.1:{p}" for p in ports]
        for base in bases:
            await healthy(base)

        case = (
            await gql(
                bases[0],
                REGISTER,
                i={
                    "channel": "OTHER",  # HOTLINE is the 12369 network's, not the centre's
                    "title": "夜间扬尘",
                    "description": "料场夜间扬尘",
                    "category": "DUST",
                    "tenantCode": "laiji",
                },
            )
        )["registerCase"]["case"]
        dispatched = await gql(bases[1], DISPATCH, id=case["id"])
        assert dispatched["dispatchCase"]["case"]["status"] == "DISPATCHED"

        await sink.wait_for(
            lambda s: any(b.get("kind") == "case.carded" for b in s.effects.values()), timeout=60
        )
        await asyncio.sleep(4)  # several more sweeps on every replica: nothing new
        state = await gql(bases[0], CARDS, id=case["id"])
        assert state["caseCards"] == [{"level": "YELLOW", "automatic": True}]
        assert state["case"]["card"] == "YELLOW"
        carded = [b for b in sink.effects.values() if b.get("kind") == "case.carded"]
        assert len(carded) == 1, sink.received
        assert "黄牌" in carded[0]["text"]
        for proc in started:
            code = await proc.stop()
            # uvicorn re-raises SIGTERM once it has shut down, so a clean `serve` ends -15.
            clean = code == 0 or ("Application shutdown complete" in proc.output() and code == -15)
            assert clean, f"exit {code}:\n{proc.output()}"
