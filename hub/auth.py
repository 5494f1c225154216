"""Principals, tokens (API keys stored hashed, and HS256 JWTs), and what a request may see."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from cachetools import LRUCache
from sqlalchemy import select

from hub.db import Database
from hub.grid.model import Member
from hub.roles import CITY_WIDE_ROLES, Permission, Role, parse_role, require
from hub.tenancy.model import Principal as PrincipalRow
from hub.tenancy.service import Directory, directory, forget_directory

TOKEN_PREFIX = "sw_"
JWT_ALGORITHM = "HS256"


class AuthError(Exception):
    """The request carries no valid credentials (HTTP 401)."""


@dataclass(frozen=True)
class Principal:
    id: str
    name: str
    roles: frozenset[Role]
    tenant_codes: tuple[str, ...]  # empty on a city-wide role: every tenant
    member_id: uuid.UUID | None = None
    expires_at: datetime | None = None  # a JWT's exp
    api_token: bool = False  # an API token stored in the database (so it can be revoked)


SYSTEM = Principal("system", "系统", frozenset({Role.ADMIN}), ())


@dataclass(frozen=True)
class Scope:
    """Who is asking and which tenants they see: the input of every use case."""

    principal: Principal
    tenant_ids: tuple[uuid.UUID, ...]
    directory: Directory

    @property
    def roles(self) -> frozenset[Role]:
        return self.principal.roles

    def require(self, permission: Permission) -> None:
        require(self.roles, permission)

    def sees(self, tenant_id: uuid.UUID) -> bool:
        return tenant_id in self.tenant_ids


def scope_for(principal: Principal, found: Directory) -> Scope:
    return Scope(principal, found.visible(principal.roles, principal.tenant_codes), found)


async def system_scope(db: Database) -> Scope:
    return scope_for(SYSTEM, await directory(db))


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def looks_like_jwt(token: str) -> bool:
    return not token.startswith(TOKEN_PREFIX) and token.count(".") == 2


def _strings(claims: dict[str, Any], name: str) -> list[str]:
    """A claim that must be a list of strings (absent: empty); AuthError naming it otherwise."""
    value = claims.get(name) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise AuthError(f"令牌无效：声明 {name!r} 须为字符串列表")
    return value


def _text(claims: dict[str, Any], name: str) -> str | None:
    value = claims.get(name)
    if value is not None and not isinstance(value, str):
        raise AuthError(f"令牌无效：声明 {name!r} 须为字符串")
    return value


# Verified JWTs: (token, key) -> (principal, exp or None). A client sends the same token with
# every request; checking its signature and claims again cost ~0.2 ms of CPU each time. Only
# tokens that passed every check are kept, and a kept one is served only while PyJWT would still
# accept it (before its exp; nbf and iat only become truer with time). Bounded, least recently
# used first out; a lock because sibling event loops in threads authenticate too.
_VERIFIED: LRUCache[tuple[str, str], tuple[Principal, float | None]] = LRUCache(maxsize=4096)
_VERIFIED_LOCK = threading.Lock()


def principal_from_jwt(token: str, key: str) -> Principal:
    """The principal a signed JWT names, from the cache of verified tokens while it is valid."""
    with _VERIFIED_LOCK:
        found = _VERIFIED.get((token, key))
    if found is not None:
        principal, exp = found
        if exp is None or time.time() < exp:  # PyJWT refuses exp <= now
            return principal
    principal, exp = _verify_jwt(token, key)
    with _VERIFIED_LOCK:
        _VERIFIED[(token, key)] = (principal, exp)
    return principal


def _verify_jwt(token: str, key: str) -> tuple[Principal, float | None]:
    """The principal a signed JWT names, and its exp. A signature proves who issued the claims,
    not their shape: every claim is checked for its type (`roles: [1]` was a 500)."""
    try:
        claims = jwt.decode(token, key, algorithms=[JWT_ALGORITHM], options={"require": ["sub"]})
    except jwt.PyJWTError as exc:
        raise AuthError(f"令牌无效（{exc}）") from None  # PyJWT's reason, as it says it
    sub, name = _text(claims, "sub"), _text(claims, "name")
    tenants = tuple(_strings(claims, "tenants"))
    try:
        roles = frozenset(parse_role(r) for r in _strings(claims, "roles"))
    except ValueError as exc:
        raise AuthError(f"令牌无效：{exc}") from None
    if not sub:
        raise AuthError("令牌无效：声明 'sub' 不能为空")
    if not roles:
        raise AuthError("令牌无效：没有角色")
    member = _member_claim(claims)
    principal = Principal(
        f"jwt:{sub}", name or sub, roles, tenants, member, expires_at=_expiry(claims)
    )
    exp = claims.get("exp")
    return principal, float(exp) if exp is not None else None


def _member_claim(claims: dict[str, Any]) -> uuid.UUID | None:
    """The optional `member` claim: the id of the grid member a MEMBER login stands for."""
    text = _text(claims, "member")
    if text is None:
        return None
    try:
        return uuid.UUID(text)
    except ValueError:
        raise AuthError("令牌无效：member 声明须为网格人员的编号") from None


def _expiry(claims: dict[str, Any]) -> datetime | None:
    """The exp claim as a time (PyJWT checked it is a number in the future when present); one
    past the calendar's end never comes."""
    exp = claims.get("exp")
    try:
        return datetime.fromtimestamp(exp, UTC) if exp is not None else None
    except (OverflowError, ValueError, OSError):
        return None


def issue_jwt(
    key: str,
    sub: str,
    roles: list[str],
    tenants: list[str],
    *,
    hours: float = 12,
    name: str | None = None,
    member: uuid.UUID | None = None,
) -> str:
    """A signed token; ``name`` is what people read for its holder (on the timeline, in
    notifications), else they read ``sub``."""
    now = datetime.now(UTC)
    claims: dict[str, Any] = {
        "sub": sub,
        "roles": roles,
        "tenants": tenants,
        "iat": now,
        "exp": now + timedelta(hours=hours),
    }
    if name:
        claims["name"] = name
    if member is not None:
        claims["member"] = str(member)
    return jwt.encode(claims, key, algorithm=JWT_ALGORITHM)


async def authenticate(db: Database, authorization: str | None, key: str) -> Scope:
    """The request's scope from its Authorization header; AuthError if there is none valid."""
    if not authorization:
        raise AuthError("缺少令牌：请在 Authorization 头中提供 Bearer 令牌")
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise AuthError("授权头格式应为 'Authorization: Bearer TOKEN'")
    if looks_like_jwt(token):
        principal = principal_from_jwt(token, key)
    else:
        principal = await _principal_for_api_token(db, token)
    return scope_for(principal, await directory(db))


async def _principal_for_api_token(db: Database, token: str) -> Principal:
    async with db.session(()) as session:
        row = await session.scalar(
            select(PrincipalRow).where(PrincipalRow.token_hash == hash_token(token))
        )
    if row is None or row.revoked_at is not None:
        raise AuthError("令牌不存在或已被吊销")
    return Principal(
        str(row.id),
        row.name,
        frozenset(Role(r) for r in row.roles),
        tuple(row.tenant_codes),
        row.member_id,
        api_token=True,
    )


async def until_invalid(db: Database, principal: Principal, recheck_seconds: float) -> None:
    """Return once the principal's token stops being valid: at a JWT's exp, or when an API
    token is found revoked (checked every ``recheck_seconds``). A long-lived socket holds on
    to the token it opened with; HTTP checks it on every request, this is the socket's check."""
    while True:
        wait = recheck_seconds if principal.api_token else None
        if principal.expires_at is not None:
            left = (principal.expires_at - datetime.now(UTC)).total_seconds()
            if left <= 0:
                return
            wait = left if wait is None else min(wait, left)
        if wait is None:
            await asyncio.Future()  # never expires, never revoked: until the socket closes
            return
        await asyncio.sleep(wait)
        if principal.api_token and await _revoked(db, principal.id):
            return


async def _revoked(db: Database, principal_id: str) -> bool:
    async with db.session(()) as session:
        row = (
            await session.execute(
                select(PrincipalRow.revoked_at).where(PrincipalRow.id == uuid.UUID(principal_id))
            )
        ).first()
    return row is None or row.revoked_at is not None  # a deleted principal is revoked too


async def create_token(
    db: Database,
    name: str,
    roles: list[str],
    tenant_codes: list[str],
    member_external_id: str | None = None,
) -> tuple[PrincipalRow, str]:
    """A new principal and its token (shown once; only its hash is stored). With
    ``member_external_id`` (a staff number) the token is a MEMBER's, bound to that person."""
    parsed = sorted({parse_role(r) for r in roles})
    if not parsed:
        raise ValueError("at least one --role is needed")
    if not name.strip() or len(name) > 100:
        raise ValueError("--name must be 1 to 100 characters")
    forget_directory(db)
    found = await directory(db)
    unknown = [c for c in tenant_codes if c not in found.by_code]
    if unknown:
        raise ValueError(
            f"unknown tenant(s): {', '.join(unknown)}; known: {', '.join(found.by_code)}"
        )
    if not tenant_codes and not set(parsed) <= CITY_WIDE_ROLES:
        town_roles = ", ".join(r.value for r in parsed if r not in CITY_WIDE_ROLES)
        raise ValueError(f"role(s) {town_roles} belong to a town: give --tenant CODE")
    member_id = None
    if member_external_id is not None:
        member_id = await _bound_member(db, found, parsed, tenant_codes, member_external_id)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = PrincipalRow(
        name=name.strip(),
        roles=[r.value for r in parsed],
        tenant_codes=list(tenant_codes),
        token_hash=hash_token(token),
        member_id=member_id,
    )
    async with db.session((), write=True) as session, session.begin():
        session.add(row)
    return row, token


async def _bound_member(
    db: Database, found: Directory, roles: list[Role], tenant_codes: list[str], external_id: str
) -> uuid.UUID:
    """The active member of the token's one town with that staff number (ValueError, in
    Chinese, otherwise): a person works in one town, so the token names exactly that town."""
    if roles != [Role.MEMBER]:
        raise ValueError("--member 只能用于 MEMBER 角色的令牌 (--member needs --role member alone)")
    if len(tenant_codes) != 1:
        raise ValueError("--member 需要且只能给一个 --tenant (the member's town)")
    tenant = found.by_code[tenant_codes[0]]
    async with db.session((tenant.id,)) as session:
        member = await session.scalar(
            select(Member).where(Member.tenant_id == tenant.id, Member.external_id == external_id)
        )
    if member is None:
        raise ValueError(f"{tenant.code} 没有工号为 {external_id!r} 的人员 (--member)")
    if not member.active:
        raise ValueError(f"工号 {external_id!r} 的人员已离岗，不能发令牌 (--member)")
    return member.id


async def revoke_token(db: Database, principal_id: uuid.UUID) -> bool:
    async with db.session((), write=True) as session, session.begin():
        row = await session.get(PrincipalRow, principal_id)
        if row is None or row.revoked_at is not None:
            return False
        row.revoked_at = datetime.now(UTC)
    return True
