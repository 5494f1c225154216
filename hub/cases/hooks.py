"""Work that other features do inside the transaction of a case change.

A connector that must tell the outside world about a change (the city platform wants every
status of its cases, the hotline wants the result of its calls) registers a hook here when it
is installed; ``hub.cases.timeline.record`` runs every hook after writing the change, in the
same transaction, so an outbox message leaves with the change or not at all.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession

from hub.cases.model import Case, Event

CaseChangeHook = Callable[[AsyncSession, Case, Event], Awaitable[None]]

_hooks: dict[str, CaseChangeHook] = {}


def on_case_change(name: str, hook: CaseChangeHook) -> None:
    """Register (or replace) the hook called ``name``: installing twice is harmless."""
    _hooks[name] = hook


async def run_hooks(session: AsyncSession, case: Case, event: Event) -> None:
    for hook in list(_hooks.values()):
        await hook(session, case, event)
