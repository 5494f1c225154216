"""Roles and what they may do: the one permissions table of the hub (pure, no I/O)."""

from __future__ import annotations

import enum


class Role(enum.StrEnum):
    ADMIN = "ADMIN"
    DISPATCHER = "DISPATCHER"  # the command centre (指挥中心) that routes cases
    SUPERVISOR = "SUPERVISOR"  # 督查
    OPERATOR = "OPERATOR"  # a township grid office
    MEMBER = "MEMBER"  # a grid member (下沉人员)
    HOTLINE = "HOTLINE"  # 12369 operators and the call system
    PLATFORM = "PLATFORM"  # the city social-management platform
    MONITOR = "MONITOR"  # online-monitoring devices and their operators
    VIEWER = "VIEWER"


# Roles that may span the whole city: without an explicit tenant they see every town.
CITY_WIDE_ROLES = frozenset(
    {
        Role.ADMIN,
        Role.DISPATCHER,
        Role.SUPERVISOR,
        Role.HOTLINE,
        Role.PLATFORM,
        Role.MONITOR,
        Role.VIEWER,
    }
)

# Who sees reporters' phone numbers unmasked (each unmasked read is audited).
UNMASKED_PHONE_ROLES = frozenset({Role.HOTLINE, Role.DISPATCHER, Role.ADMIN})


class Permission(enum.StrEnum):
    CASE_READ = "case.read"
    CASE_REGISTER = "case.register"
    AUDIT_READ = "audit.read"
    GRID_READ = "grid.read"
    TOKEN_ADMIN = "token.admin"
    INGEST_HOTLINE = "ingest.hotline"
    INGEST_PLATFORM = "ingest.platform"
    INGEST_MONITORING = "ingest.monitoring"
    CASE_SPLIT = "case.split"


_EVERYONE = frozenset(Role)

PERMISSIONS: dict[Permission, frozenset[Role]] = {
    Permission.CASE_READ: _EVERYONE,
    Permission.GRID_READ: _EVERYONE,
    Permission.CASE_REGISTER: frozenset(
        {
            Role.ADMIN,
            Role.DISPATCHER,
            Role.OPERATOR,
            Role.MEMBER,
            Role.HOTLINE,
            Role.PLATFORM,
            Role.MONITOR,
        }
    ),
    Permission.AUDIT_READ: frozenset({Role.ADMIN, Role.SUPERVISOR, Role.DISPATCHER}),
    Permission.TOKEN_ADMIN: frozenset({Role.ADMIN}),
    Permission.INGEST_HOTLINE: frozenset({Role.HOTLINE, Role.ADMIN}),
    Permission.INGEST_PLATFORM: frozenset({Role.PLATFORM, Role.ADMIN}),
    Permission.INGEST_MONITORING: frozenset({Role.MONITOR, Role.ADMIN}),
    Permission.CASE_SPLIT: frozenset({Role.ADMIN, Role.DISPATCHER}),  # who merges may undo it
}


def allows(roles: frozenset[Role] | set[Role], permission: Permission) -> bool:
    return not PERMISSIONS[permission].isdisjoint(roles)


def parse_role(text: str) -> Role:
    """A role from user input, lower or upper case."""
    try:
        return Role(text.strip().upper())
    except ValueError:
        known = ", ".join(r.value for r in Role)
        raise ValueError(f"unknown role {text!r}; known roles: {known}") from None
