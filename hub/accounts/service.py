"""Console accounts: create, sign in, and the Principal an account stands for.

Passwords are hashed with argon2id (argon2-cffi's PasswordHasher: salted, slow, memory-hard,
with parameters kept in the hash so they can be raised later: `needs_rehash`). Hashing and
verifying run in a thread: about 50 ms of CPU each, which must not stall the event loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select

from hub.accounts.model import ConsoleAccount
from hub.auth import Principal, _bound_member
from hub.db import Database, utcnow
from hub.roles import CITY_WIDE_ROLES, Role, parse_role
from hub.tenancy.service import directory, forget_directory

HASHER = PasswordHasher()  # argon2id, the library's current defaults (RFC 9106 low-memory)
PASSWORD_MIN, PASSWORD_MAX = 10, 200
LOGIN_MAX, NAME_MAX = 64, 100
PRINCIPAL_PREFIX = "account:"
# A hash to verify against when the login does not exist, so that a wrong login takes as long
# as a wrong password (no telling which logins exist by timing).
_DUMMY_HASH = HASHER.hash("no such account: a password nobody has")


def check_password(password: str) -> str:
    """The password as given, or ValueError (Chinese) saying what is wrong with it."""
    if len(password) < PASSWORD_MIN:
        raise ValueError(f"密码至少 {PASSWORD_MIN} 个字符")
    if len(password) > PASSWORD_MAX:
        raise ValueError(f"密码不能超过 {PASSWORD_MAX} 个字符")
    if "\x00" in password:
        raise ValueError("密码含有空字符（NUL）")
    return password


def fingerprint(account: ConsoleAccount) -> str:
    """A short digest of the password hash, kept in the session: a new password ends every
    session signed in with the old one."""
    return hashlib.sha256(account.password_hash.encode()).hexdigest()[:16]


def principal_of(account: ConsoleAccount) -> Principal:
    """The same Principal an API token with these roles and towns would give: every page and
    action is checked by the one permissions table (hub.roles) exactly as GraphQL is."""
    return Principal(
        f"{PRINCIPAL_PREFIX}{account.id}",
        account.name,
        frozenset(Role(r) for r in account.roles),
        tuple(account.tenant_codes),
        account.member_id,
    )


async def create_account(
    db: Database,
    login: str,
    password: str,
    roles: list[str],
    tenant_codes: list[str],
    member_external_id: str | None = None,
    display_name: str | None = None,
) -> ConsoleAccount:
    """A new account (ValueError naming what is wrong: nothing is written then)."""
    login = login.strip()
    if not login or len(login) > LOGIN_MAX or any(c.isspace() for c in login):
        raise ValueError(f"--name（登录名）须为 1 到 {LOGIN_MAX} 个字符，不含空格")
    name = (display_name or login).strip()
    if not name or len(name) > NAME_MAX:
        raise ValueError(f"--display-name 须为 1 到 {NAME_MAX} 个字符")
    check_password(password)
    parsed = sorted({parse_role(r) for r in roles})
    if not parsed:
        raise ValueError("至少给一个 --role")
    forget_directory(db)
    found = await directory(db)
    unknown = [c for c in tenant_codes if c not in found.by_code]
    if unknown:
        raise ValueError(
            f"未知的乡镇编码: {', '.join(unknown)}（可用：{', '.join(found.by_code)}）"
        )
    if not tenant_codes and not set(parsed) <= CITY_WIDE_ROLES:
        town_roles = ", ".join(r.value for r in parsed if r not in CITY_WIDE_ROLES)
        raise ValueError(f"角色 {town_roles} 属于一个乡镇：请给 --tenant CODE")
    member_id = None
    if member_external_id is not None:
        member_id = await _bound_member(db, found, parsed, tenant_codes, member_external_id)
    hashed = await asyncio.to_thread(HASHER.hash, password)
    async with db.session((), write=True) as session, session.begin():
        taken = await session.scalar(select(ConsoleAccount.id).where(ConsoleAccount.login == login))
        if taken is not None:
            raise ValueError(f"登录名 {login!r} 已存在")
        account = ConsoleAccount(
            login=login,
            name=name,
            password_hash=hashed,
            roles=[r.value for r in parsed],
            tenant_codes=list(tenant_codes),
            member_id=member_id,
        )
        session.add(account)
    return account


async def set_password(db: Database, login: str, password: str) -> bool:
    """A new password for an existing account (its sessions end); False if there is none."""
    check_password(password)
    hashed = await asyncio.to_thread(HASHER.hash, password)
    async with db.session((), write=True) as session, session.begin():
        account = await session.scalar(
            select(ConsoleAccount).where(ConsoleAccount.login == login.strip())
        )
        if account is None:
            return False
        account.password_hash, account.password_changed_at = hashed, utcnow()
    return True


@dataclass(frozen=True)
class SignedIn:
    account_id: uuid.UUID
    fingerprint: str
    principal: Principal


async def sign_in(db: Database, login: str, password: str) -> SignedIn | None:
    """The account if the password is right and the account active; None otherwise (the
    caller does not learn which). A hash made with weaker parameters is upgraded on the way."""
    async with db.session(()) as session:
        account = await session.scalar(
            select(ConsoleAccount).where(ConsoleAccount.login == login.strip())
        )
    stored = account.password_hash if account is not None else _DUMMY_HASH
    try:
        await asyncio.to_thread(HASHER.verify, stored, password)
    except (VerificationError, InvalidHashError):
        return None
    if account is None or account.disabled_at is not None:
        return None
    if HASHER.check_needs_rehash(stored):
        await set_password(db, account.login, password)
        return await sign_in(db, login, password)
    return SignedIn(account.id, fingerprint(account), principal_of(account))


async def account_principal(
    db: Database, account_id: uuid.UUID, expected_fingerprint: str
) -> Principal | None:
    """The principal of a signed-in session, re-read on every request: a disabled account or a
    changed password ends the session at once."""
    async with db.session(()) as session:
        account = await session.get(ConsoleAccount, account_id)
    if (
        account is None
        or account.disabled_at is not None
        or fingerprint(account) != expected_fingerprint
    ):
        return None
    return principal_of(account)


async def ensure_account(
    db: Database,
    login: str,
    password: str,
    name: str,
    roles: list[Role],
    tenant_codes: list[str],
    member_id: uuid.UUID | None = None,
) -> None:
    """Create the account, or give an existing one this password, name, roles and towns
    (the demo's accounts: new passwords at every `serve --demo`)."""
    hashed = await asyncio.to_thread(HASHER.hash, password)
    async with db.session((), write=True) as session, session.begin():
        account = await session.scalar(select(ConsoleAccount).where(ConsoleAccount.login == login))
        if account is None:
            account = ConsoleAccount(login=login)
            session.add(account)
        account.name, account.password_hash = name, hashed
        account.roles, account.tenant_codes = [r.value for r in roles], list(tenant_codes)
        account.member_id, account.disabled_at = member_id, None
        account.password_changed_at = utcnow()
