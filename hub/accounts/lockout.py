"""Lock-out after repeated failed sign-ins: per account and per address, a moving window.

limits' moving window (the library the hub already uses for registerCase) rather than a
hand-written counter. Counted per process and per database, like the registerCase limit: with
several web processes an attacker gets the limit once per process, still a handful of guesses.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

from limits import RateLimitItemPerSecond
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from hub.db import Database


@dataclass(frozen=True)
class Policy:
    account_failures: int
    address_failures: int
    window_seconds: int


_LIMITERS: weakref.WeakKeyDictionary[Database, MovingWindowRateLimiter] = (
    weakref.WeakKeyDictionary()
)


def _limiter(db: Database) -> MovingWindowRateLimiter:
    found = _LIMITERS.get(db)
    if found is None:
        found = _LIMITERS[db] = MovingWindowRateLimiter(MemoryStorage())
    return found


def _items(policy: Policy) -> tuple[RateLimitItemPerSecond, RateLimitItemPerSecond]:
    return (
        RateLimitItemPerSecond(policy.account_failures, policy.window_seconds),
        RateLimitItemPerSecond(policy.address_failures, policy.window_seconds),
    )


def locked(db: Database, policy: Policy, login: str, address: str) -> bool:
    """Whether this account or this address has used up its failures in the window."""
    per_account, per_address = _items(policy)
    limiter = _limiter(db)
    return not (
        limiter.test(per_account, "console-login-account", login.lower())
        and limiter.test(per_address, "console-login-address", address)
    )


def failed(db: Database, policy: Policy, login: str, address: str) -> None:
    """Count one failed sign-in against the account and the address."""
    per_account, per_address = _items(policy)
    limiter = _limiter(db)
    limiter.hit(per_account, "console-login-account", login.lower())
    limiter.hit(per_address, "console-login-address", address)
