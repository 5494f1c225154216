"""`sanwang platform ...`: what hub/cli.py's platform block calls (imported lazily there)."""

from __future__ import annotations

import asyncio

import typer

from connectors.platform.adapter import PlatformError, make_platform
from connectors.platform.reconcile import Reconciliation, reconcile
from connectors.platform.settings import platform_settings
from hub.plugins import install_connectors
from hub.runtime import Runtime


def reconcile_command(runtime: Runtime, *, dry_run: bool) -> int:
    """Print each difference and what was done; 0 when the two sides agree now, 1 when
    something needs a person (or the platform cannot be reached), 2 without a platform URL."""
    settings, db = runtime.settings, runtime.db
    psettings = platform_settings(runtime)
    if not psettings.url:
        typer.secho(
            "SANWANG_PLATFORM_URL is not set: no platform to reconcile with",
            err=True,
            fg=typer.colors.RED,
        )
        return 2

    # Cases it registers must leave their statuses in the outbox like any others.
    install_connectors(runtime)

    async def run() -> Reconciliation:
        platform = make_platform(psettings)
        try:
            return await reconcile(db, settings, psettings, platform, repair=not dry_run)
        finally:
            await platform.aclose()
            await db.dispose()

    try:
        done = asyncio.run(run())
    except PlatformError as exc:
        typer.secho(f"the platform cannot be reached: {exc}", err=True, fg=typer.colors.RED)
        return 1
    for line in done.repaired:
        typer.echo(f"repaired: {line}" if not dry_run else f"differs: {line}")
    for line in done.waiting:
        typer.echo(f"in flight: {line}")
    for line in done.attention:
        typer.echo(f"needs attention: {line}")
    typer.echo(
        done.summary()
        if done.differences or done.waiting
        else f"{done.summary()}: nothing to repair"
    )
    return 1 if done.attention else 0
