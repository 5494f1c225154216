"""serve --demo: the platform simulator in the API process, the pull pointed at it, an
assignment now and then, and the cases of the simulator's own assignments moved one step at a
time so that their statuses go back up (visible at the simulator's GET /_sim/state). Cases the
real platform or a person brought in are never moved: the simulator keeps to its own. The
steps are taken as the demo's named town office (OPERATOR of its towns) and reviewer
(hub.demo.principals), never as ADMIN."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Collection
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from connectors.platform.settings import platform_settings, use
from connectors.platform.simulator import Simulator, serving
from hub.auth import Scope, scope_for, system_scope
from hub.cases import inputs, loaders, steps
from hub.cases.enums import OPEN_STATUSES, CaseStatus, Satisfaction
from hub.cases.intake import PLATFORM_SYSTEM
from hub.cases.model import Case, ExternalRef
from hub.db import Database
from hub.demo.principals import OFFICE, REVIEWER
from hub.runtime import Runtime

log = logging.getLogger("connectors.platform")

DEMO_POLL_SECONDS = 3.0
_managed = False  # True when the demo (not the environment) decides where the platform is


def prepare(runtime: Runtime) -> None:
    """At install: without SANWANG_PLATFORM_URL the demo runs its own platform, pulled often
    (the scheduler reads the poll interval when it starts, before the lifespan runs)."""
    global _managed
    current = platform_settings(runtime)
    if _managed or current.url:
        return
    _managed = True
    interval = min(current.poll_interval_seconds, DEMO_POLL_SECONDS)
    use(runtime, current.model_copy(update={"poll_interval_seconds": interval}))


@contextlib.asynccontextmanager
async def running(state: dict[str, Any]) -> AsyncIterator[None]:
    runtime: Runtime = state["runtime"]
    if not _managed:
        log.info("platform: pulling from %s (SANWANG_PLATFORM_URL)", platform_settings(runtime).url)
        yield
        return
    sim = Simulator(seed=2026)
    async with serving(sim) as url:
        settings = platform_settings(runtime)
        use(runtime, settings.model_copy(update={"url": url}))
        every = settings.demo_assignment_seconds
        message = (
            f"platform simulator at {url}: an assignment every {every:.0f} s, pulled every "
            f"{settings.poll_interval_seconds:.0f} s; what went back: {url}/_sim/state"
        )
        print(message, flush=True)
        log.info(message)
        for _ in range(3):
            sim.assign()
        feeder = asyncio.create_task(_feed(sim, runtime, every))
        try:
            yield
        finally:
            feeder.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await feeder
            use(runtime, settings.model_copy(update={"url": None}))


async def _feed(sim: Simulator, runtime: Runtime, every: float) -> None:
    while True:
        await asyncio.sleep(every)
        sim.assign()
        try:
            await advance_platform_cases(runtime.db, 3, sim.cases.keys(), runtime.tz)
        except Exception:  # the demo goes on; say why in the log
            log.exception("demo: moving platform cases failed")


async def advance_platform_cases(
    db: Database, how_many: int, own: Collection[str], tz: ZoneInfo
) -> int:
    """Move the least recently changed open cases of the simulator's own assignments (``own``:
    platform case ids) one workflow step each."""
    directory = (await system_scope(db)).directory
    office, reviewer = scope_for(OFFICE, directory), scope_for(REVIEWER, directory)
    moving = [*OPEN_STATUSES, CaseStatus.RESOLVED, CaseStatus.FEEDBACK_GIVEN]
    async with db.session(office.tenant_ids) as session:
        ids = list(
            await session.scalars(
                select(Case.id)
                .join(ExternalRef, ExternalRef.case_id == Case.id)
                .where(ExternalRef.system == PLATFORM_SYSTEM)
                .where(ExternalRef.external_id.in_(list(own)))
                .where(Case.status.in_(moving))
                .order_by(Case.updated_at)
                .limit(how_many)
            )
        )
    for case_id in ids:
        async with db.session(office.tenant_ids, write=True) as session:
            await step(session, office, reviewer, str(case_id), tz)
            await session.commit()
    return len(ids)


async def step(session: Any, office: Scope, reviewer: Scope, case_id: str, tz: ZoneInfo) -> None:
    case = await loaders.case_for_change(session, case_id)
    status = CaseStatus(case.status)
    if status == CaseStatus.REGISTERED:
        town = office.directory.by_id[case.tenant_id].code
        await steps.dispatch(
            session, office, case_id, inputs.DispatchInput(town, note="演示：转办"), tz=tz
        )
    elif status == CaseStatus.DISPATCHED:
        await steps.accept(session, office, case_id, "演示：已签收", tz=tz)
    elif status == CaseStatus.HANDLING:
        await steps.submit_result(session, office, case_id, "已现场核查，责令整改完毕", None, tz=tz)
    elif status == CaseStatus.UNDER_REVIEW:  # 督查: someone other than the office checks
        await steps.review(session, reviewer, case_id, True, "审核通过", tz=tz)
    elif status == CaseStatus.RESOLVED:
        await steps.record_feedback(
            session, office, case_id, Satisfaction.SATISFIED, "已回访", tz=tz
        )
    elif status == CaseStatus.FEEDBACK_GIVEN:
        await steps.close(session, office, case_id, "结案")
