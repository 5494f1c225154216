"""`sanwang serve --demo` restarted on its existing database (issue 11 item 2).

The demo's air stations upload their last 48 hours again on every connection, so a restarted
hub sees the same episodes start at the same seconds: that was 66 failed batches in 4.5
minutes ("a batch of N uploads could not be written ... was received before with other
content"), and devices dropped. After the restart every batch must be written and the
readings keep arriving.
"""

from __future__ import annotations

import asyncio
import os
import time
from datetime import datetime
from pathlib import Path

import httpx
from sqlalchemy import func, select

from hub.auth import system_scope
from hub.db import Database, utcnow
from hub.monitoring.model import Reading
from tests.processes import Proc, free_port, processes, sanwang

RUN_SECONDS = 20.0


def serve_demo(db_url: str, tmp_path: Path, port: int, hj212_port: int) -> Proc:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SANWANG_")}
    env.update(SANWANG_DATABASE_URL=db_url, SANWANG_SECRET_KEY="e2e-demo-restart")
    return sanwang(f"serve --demo --port {port} --hj212-port {hj212_port}", env, tmp_path)


async def ready(base: str, timeout: float = 90) -> None:
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


async def readings_since(db: Database, since: datetime) -> int:
    scope = await system_scope(db)
    async with db.session(scope.tenant_ids) as session:
        query = select(func.count()).select_from(Reading).where(Reading.at >= since)
        return int(await session.scalar(query) or 0)


async def test_a_demo_restarted_on_its_database_writes_every_batch(
    db: Database, db_url: str, tmp_path: Path
) -> None:
    port, hj212_port = free_port(), free_port()
    async with processes() as started:
        first = serve_demo(db_url, tmp_path, port, hj212_port)
        started.append(first)
        await ready(f"http://127.0.0.1:{port}")
        await asyncio.sleep(RUN_SECONDS)
        await first.stop()

        restarted = utcnow().replace(microsecond=0)
        second = serve_demo(db_url, tmp_path, port, hj212_port)
        started.append(second)
        await ready(f"http://127.0.0.1:{port}")
        await asyncio.sleep(RUN_SECONDS)
        live = await readings_since(db, restarted)
        await second.stop()
        log = second.output()

    assert "could not be written" not in log, log[-3000:]
    assert "alarm bookkeeping" not in log, log[-3000:]
    # 20 flue-gas and wastewater points send every 10 s: readings keep arriving after the restart
    assert live >= 20 * 3, live
