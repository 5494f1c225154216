"""The outbox under failure, for real: `sanwang worker` and `sanwang scheduler` processes on
Redis, a private redis-server that goes down, and a loopback webhook that fails and hangs.

Each test uses its own Redis namespace on the machine's Redis (127.0.0.1:6379), and the outage
test its own redis-server on a free port: the machine's own services are never stopped.
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from hub import jobs
from hub.auth import system_scope
from hub.config import Settings
from hub.db import Database
from hub.notify import notify
from hub.outbox.model import OutboxMessage, SendState
from hub.outbox.relay import relay_all, relay_once
from hub.runtime import Runtime
from tests.helpers import eventually
from tests.processes import (
    MACHINE_REDIS,
    free_port,
    job_env,
    processes,
    redis_server,
    sanwang,
)
from tests.sinks import webhook_sink

# --- the database -------------------------------------------------------------------------------


async def write_notification(db: Database, key: str, case: str) -> OutboxMessage:
    scope = await system_scope(db)
    town = scope.directory.by_code["laiji"].id
    async with db.session(scope.tenant_ids, write=True) as session, session.begin():
        return await notify(session, town, "case.status", f"案件 {case} 状态变更", {}, key, case)


async def states(db: Database) -> dict[str, tuple[str, int]]:
    scope = await system_scope(db)
    async with db.session(scope.tenant_ids) as session:
        rows = (await session.scalars(select(OutboxMessage))).all()
    return {r.idempotency_key: (r.state, r.attempts) for r in rows}


async def all_delivered(db: Database) -> bool:
    return all(state == SendState.DELIVERED for state, _ in (await states(db)).values())


# --- (a) a worker killed mid-delivery -----------------------------------------------------------


@pytest.mark.slow  # the visibility timeout has to pass (about 10 s)
async def test_a_worker_killed_mid_delivery_is_replaced_and_the_effect_happens_once(
    db: Database, db_url: str, tmp_path: Path, namespace: str
) -> None:
    async with webhook_sink() as sink, processes() as procs:
        # The sink takes the first request in (its effect happens) and never answers.
        sink.hang(1, seconds=120)
        env = job_env(db_url, MACHINE_REDIS, namespace, sink, outbox_visibility_seconds=4)
        await write_notification(db, "kill-1", "case-1")
        procs.append(scheduler := sanwang("scheduler", env, tmp_path))
        procs.append(first := sanwang("worker", env, tmp_path))

        await sink.wait_for(lambda s: len(s.received) == 1, timeout=30)
        first.kill()
        assert (await states(db))["kill-1"] == (SendState.ENQUEUED, 0)

        procs.append(second := sanwang("worker", env, tmp_path))
        await eventually(lambda: all_delivered(db), interval=0.1)
        assert await second.stop() == 0
        assert await scheduler.stop() == 0

    assert [r.answer for r in sink.requests_for("kill-1")] == ["hang", "duplicate"]
    assert list(sink.effects) == ["kill-1"]


async def test_a_worker_stopped_by_sigterm_finishes_the_delivery_in_flight(
    db: Database, db_url: str, tmp_path: Path, namespace: str
) -> None:
    async with webhook_sink() as sink, processes() as procs:
        sink.hang(1, seconds=1.5)  # answers, late
        env = job_env(db_url, MACHINE_REDIS, namespace, sink)
        await write_notification(db, "term-1", "case-1")
        procs.append(scheduler := sanwang("scheduler", env, tmp_path))
        procs.append(worker := sanwang("worker", env, tmp_path))
        await sink.wait_for(lambda s: len(s.received) == 1, timeout=30)

        assert await worker.stop() == 0  # waits for the answer, records it, then exits
        assert (await states(db))["term-1"] == (SendState.DELIVERED, 0)
        assert await scheduler.stop() == 0
    assert len(sink.received) == 1


# --- (b) the broker is down while cases change --------------------------------------------------


async def test_nothing_is_lost_while_the_broker_is_down_and_the_outbox_drains_after(
    db: Database, db_url: str, tmp_path: Path, namespace: str
) -> None:
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    broker = jobs.make_broker(Settings(broker_url=url, broker_namespace=namespace, _env_file=None))
    async with webhook_sink() as sink, processes() as procs:
        procs.append(private := redis_server(port, tmp_path))
        await write_notification(db, "case-1/1", "case-1")
        await write_notification(db, "case-2/1", "case-2")
        private.kill()

        assert await relay_once(db, broker) == 0  # refused, quietly
        await write_notification(db, "case-1/2", "case-1")  # cases keep changing
        await write_notification(db, "case-3/1", "case-3")
        assert await relay_all(db, broker) == 0
        assert set((await states(db)).values()) == {(SendState.PENDING, 0)}

        procs.append(redis_server(port, tmp_path))  # back, on the same port
        env = job_env(db_url, url, namespace, sink)
        procs.append(worker := sanwang("worker", env, tmp_path))

        async def drained() -> bool:
            await relay_all(db, broker)
            return await all_delivered(db)

        await eventually(drained, interval=0.1)
        assert await worker.stop() == 0

    assert sorted(sink.effects) == ["case-1/1", "case-1/2", "case-2/1", "case-3/1"]
    case_1 = [r.key for r in sink.received if r.key.startswith("case-1/")]
    assert case_1 == ["case-1/1", "case-1/2"]  # a later status never overtakes an earlier one
    assert all(r.answer == "ok" for r in sink.received)


# --- (c) the endpoint fails for a while ----------------------------------------------------------

RETRY = """mutation($id: ID!) { retryOutboxMessage(id: $id) {
  ... on OutboxMessageResult { outboxMessage { state attempts } }
  ... on UserError { code message } } }"""


async def test_an_endpoint_failing_for_a_while_gets_retries_then_a_dead_letter_then_a_retry(
    hub: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    db = hub.db
    async with webhook_sink() as sink:
        settings = hub.settings.model_copy(
            update={
                "notify_url": sink.url,
                "notify_timeout_seconds": 0.3,
                "outbox_backoff_seconds": 0.05,
                "outbox_backoff_max_seconds": 0.2,
                "outbox_max_attempts": 4,
                "relay_interval_seconds": 0.05,
                "outbox_visibility_seconds": 5.0,
            }
        )
        runtime = await jobs.start_embedded(Runtime.start(settings, db))
        try:
            # 500, a timeout (it took effect, the answer never came), 500, then it works.
            sink.fail(1)
            sink.hang(1, seconds=3)
            sink.fail(1)
            await write_notification(db, "flaky-1", "case-1")
            await eventually(lambda: all_delivered(db), interval=0.1)
            assert (await states(db))["flaky-1"] == (SendState.DELIVERED, 3)
            answers = [r.answer for r in sink.requests_for("flaky-1")]
            assert answers == ["500", "hang", "500", "duplicate"]

            # Failing past the limit: a dead letter, one alert.
            sink.fail(4, status=503)
            dead = await write_notification(db, "down-1", "case-2")

            async def is_dead() -> bool:
                return (await states(db))["down-1"][0] == SendState.DEAD

            await eventually(is_dead, interval=0.1)
            assert (await states(db))["down-1"] == (SendState.DEAD, 4)
            await asyncio.sleep(0.3)  # nothing more happens to it
            assert len(sink.requests_for("down-1")) == 4

            # ADMIN retries it over GraphQL: delivered.
            done = (await hub.gql(RETRY, {"id": str(dead.id)}))["retryOutboxMessage"]
            assert done["outboxMessage"] == {"state": "PENDING", "attempts": 0}
            await eventually(lambda: all_delivered(db), interval=0.1)
        finally:
            await jobs.stop(runtime)

    assert [r.answer for r in sink.requests_for("down-1")] == ["503"] * 4 + ["ok"]
    assert sorted(sink.effects) == ["down-1", "flaky-1"]
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    alerts = [r for r in caplog.records if "outbox.dead" in r.getMessage()]
    assert len(alerts) == 1 and len(errors) == 1 and str(dead.id) in errors[0].getMessage()


# --- the commands refuse the embedded broker ----------------------------------------------------


@pytest.mark.parametrize("command", ["worker", "scheduler"])
def test_job_commands_need_a_real_broker(command: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SANWANG_")}
    done = subprocess.run(
        [sys.executable, "-m", "hub.cli", command],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "needs a real broker" in done.stderr and "SANWANG_BROKER_URL" in done.stderr
