"""The platform round trip under chaos, for real: the simulator on a loopback socket answering
500s, timing out after taking effect, answering slowly, delivering items twice and shuffling
pages; `sanwang scheduler` (relay + pull) and `sanwang worker` (push) processes on Redis; the
worker SIGKILLed in the middle and replaced. Afterwards every assignment is exactly one case,
the platform holds every status of every case in order, each once, and reconcile finds
nothing to repair."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import func, select

from connectors.platform import install
from connectors.platform.adapter import HttpPlatform
from connectors.platform.demo import advance_platform_cases
from connectors.platform.protocol import STATUSES
from connectors.platform.reconcile import reconcile
from connectors.platform.settings import PlatformSettings
from connectors.platform.simulator import Chaos, Simulator, serving
from hub.auth import system_scope
from hub.cases.enums import Channel
from hub.cases.model import Case, Event, ExternalRef, Report
from hub.config import Settings
from hub.db import Database
from hub.outbox.model import OutboxMessage, SendState
from hub.runtime import Runtime
from tests.helpers import eventually
from tests.processes import MACHINE_REDIS, processes, sanwang

ASSIGNMENTS = 200
STEPS = 4  # REGISTERED + 4 moves: 5 statuses per case, 1,000 in all
TOKEN = "chaos-token"
CHAOS = Chaos(
    error_rate=0.1,
    timeout_rate=0.04,
    hang_seconds=3.0,
    slow_rate=0.1,
    slow_seconds=0.2,
    duplicate_rate=0.3,
    shuffle_rate=0.5,
)


def env_for(db_url: str, namespace: str, platform_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SANWANG_")}
    # The children import hub and connectors from this checkout, whatever is installed.
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    env.update(
        SANWANG_DATABASE_URL=db_url,
        SANWANG_BROKER_URL=MACHINE_REDIS,
        SANWANG_BROKER_NAMESPACE=namespace,
        SANWANG_SECRET_KEY="e2e-platform",
        SANWANG_RELAY_INTERVAL_SECONDS="0.2",
        SANWANG_OUTBOX_BACKOFF_SECONDS="0.1",
        SANWANG_OUTBOX_BACKOFF_MAX_SECONDS="0.5",
        SANWANG_OUTBOX_MAX_ATTEMPTS="50",
        SANWANG_OUTBOX_VISIBILITY_SECONDS="4",
        SANWANG_PLATFORM_URL=platform_url,
        SANWANG_PLATFORM_TOKEN=TOKEN,
        SANWANG_PLATFORM_READ_TIMEOUT_SECONDS="1",
        SANWANG_PLATFORM_POLL_INTERVAL_SECONDS="0.3",
        SANWANG_PLATFORM_PAGE_SIZE="40",
        SANWANG_PLATFORM_BACKOFF_SECONDS="0.1",
        SANWANG_PLATFORM_BACKOFF_MAX_SECONDS="0.5",
        SANWANG_PLATFORM_PAUSE_AFTER_FAILURES="30",
    )
    return env


async def count(db: Database, stmt) -> int:
    scope = await system_scope(db)
    async with db.session(scope.tenant_ids) as session:
        return int(await session.scalar(stmt) or 0)


def undelivered() -> object:
    return (
        select(func.count())
        .select_from(OutboxMessage)
        .where(OutboxMessage.state != SendState.DELIVERED)
    )


async def hub_statuses(db: Database) -> dict[str, list[str]]:
    """platformCaseId -> the platform's names of its case's statuses, in the hub's order."""
    scope = await system_scope(db)
    async with db.session(scope.tenant_ids) as session:
        rows = await session.execute(
            select(ExternalRef.external_id, Event.to_status)
            .join(Event, Event.case_id == ExternalRef.case_id)
            .where(ExternalRef.system == "platform", Event.to_status.is_not(None))
            .order_by(ExternalRef.external_id, Event.at, Event.id)
        )
        found: dict[str, list[str]] = {}
        for external_id, status in rows:
            found.setdefault(external_id, []).append(STATUSES[status])
        return found


@pytest.mark.slow  # about a minute: a thousand statuses through chaos, a visibility timeout
async def test_chaos_with_a_killed_worker_keeps_platform_and_hub_in_step(
    db: Database, db_url: str, settings: Settings, tmp_path: Path, namespace: str
) -> None:
    runtime = Runtime.start(settings, db)
    install(runtime)  # this process changes cases too: its changes must reach the outbox
    sim = Simulator(token=TOKEN, chaos=CHAOS, seed=2026)
    for _ in range(ASSIGNMENTS):
        sim.assign()
    async with serving(sim) as url, processes() as procs:
        env = env_for(db_url, namespace, url)
        procs.append(scheduler := sanwang("scheduler", env, tmp_path))
        procs.append(first := sanwang("worker", env, tmp_path))

        async def all_assigned() -> bool:
            return await count(db, select(func.count()).select_from(ExternalRef)) >= ASSIGNMENTS

        await eventually(all_assigned, 120, interval=0.2)
        for _ in range(STEPS // 2):
            await advance_platform_cases(db, ASSIGNMENTS, sim.cases.keys(), runtime.tz)
        late = sim.assign()  # the platform keeps assigning meanwhile
        sim.update(sim.feed[0]["platformCaseId"], "URGED", note="请加快办理")

        async def some_delivered() -> bool:
            return sum(len(c.received) for c in sim.cases.values()) >= ASSIGNMENTS

        await eventually(some_delivered, 120, interval=0.2)
        first.kill()  # in the middle of deliveries: what it held comes back after 4 s
        for _ in range(STEPS - STEPS // 2):
            await advance_platform_cases(db, ASSIGNMENTS + 1, sim.cases.keys(), runtime.tz)
        procs.append(second := sanwang("worker", env, tmp_path))

        async def settled() -> bool:
            refs = await count(db, select(func.count()).select_from(ExternalRef))
            return refs == ASSIGNMENTS + 1 and await count(db, undelivered()) == 0

        await eventually(settled, 240, interval=0.2)
        assert await second.stop() == 0
        assert await scheduler.stop() == 0

        # Every assignment is exactly one case.
        platform_reports = (
            select(func.count()).select_from(Report).where(Report.channel == Channel.PLATFORM)
        )
        assert await count(db, platform_reports) == ASSIGNMENTS + 1
        assert await count(db, select(func.count(func.distinct(ExternalRef.case_id)))) == (
            ASSIGNMENTS + 1
        )
        assert await count(db, select(func.count()).select_from(Case)) >= ASSIGNMENTS + 1
        # The platform holds every status of every case, in order, each once in effect.
        expected = await hub_statuses(db)
        assert set(expected) == set(sim.cases)
        for platform_case_id, statuses in expected.items():
            assert sim.statuses(platform_case_id) == statuses, platform_case_id
        assert sum(map(len, expected.values())) >= ASSIGNMENTS * (STEPS + 1)
        assert late["platformCaseId"] in expected
        deliveries = sum(c.deliveries for c in sim.cases.values())
        received = sum(len(c.received) for c in sim.cases.values())
        assert deliveries > received  # chaos made the hub deliver some twice: no effect

        # And reconciliation, through the same chaos, finds nothing to repair.
        psettings = PlatformSettings(url=url, token=TOKEN, read_timeout_seconds=1.0, _env_file=None)
        platform = HttpPlatform(psettings)
        try:
            done = await reconcile(db, settings, psettings, platform)
        finally:
            await platform.aclose()
        assert (done.repaired, done.attention, done.waiting) == ([], [], [])
        assert done.checked_cases == ASSIGNMENTS + 1
