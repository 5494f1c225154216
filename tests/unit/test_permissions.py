"""The one permissions table: who holds each permission, that each is checked somewhere, that the
docs show it, and that the one check refuses with FORBIDDEN and the message callers read."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hub.errors import DomainError, ErrorCode
from hub.roles import PERMISSIONS, Permission, Role, allows, require

ROOT = Path(__file__).resolve().parents[2]
R = Role
EVERYONE = frozenset(Role)

# Spelled out role by role on purpose: changing who may do what must change this table too.
EXPECTED: dict[Permission, frozenset[Role]] = {
    Permission.CASE_READ: EVERYONE,
    Permission.GRID_READ: EVERYONE,
    Permission.CASE_REGISTER: frozenset(
        {R.ADMIN, R.DISPATCHER, R.OPERATOR, R.MEMBER, R.HOTLINE, R.PLATFORM, R.MONITOR}
    ),
    Permission.AUDIT_READ: frozenset({R.ADMIN, R.DISPATCHER, R.SUPERVISOR}),
    Permission.INGEST_HOTLINE: frozenset({R.ADMIN, R.HOTLINE}),
    Permission.INGEST_PLATFORM: frozenset({R.ADMIN, R.PLATFORM}),
    Permission.INGEST_MONITORING: frozenset({R.ADMIN, R.MONITOR}),
    Permission.CASE_SPLIT: frozenset({R.ADMIN, R.DISPATCHER}),
    Permission.CASE_URGE: frozenset({R.ADMIN, R.DISPATCHER, R.SUPERVISOR}),
    Permission.CASE_SUSPEND: frozenset({R.ADMIN, R.DISPATCHER, R.SUPERVISOR, R.OPERATOR}),
    Permission.CASE_RESUME: frozenset({R.ADMIN, R.DISPATCHER, R.SUPERVISOR, R.OPERATOR}),
    Permission.CARD_ISSUE: frozenset({R.ADMIN, R.DISPATCHER, R.SUPERVISOR, R.OPERATOR}),
    Permission.EXTENSION_REQUEST: frozenset({R.ADMIN, R.DISPATCHER, R.OPERATOR, R.MEMBER}),
    Permission.EXTENSION_DECIDE: frozenset({R.ADMIN, R.DISPATCHER, R.SUPERVISOR}),
    Permission.TIMELIMIT_ADMIN: frozenset({R.ADMIN}),
    Permission.CALENDAR_ADMIN: frozenset({R.ADMIN}),
    Permission.OUTBOX_ADMIN: frozenset({R.ADMIN}),
    Permission.MONITORING_REGISTER: frozenset({R.ADMIN, R.MONITOR, R.DISPATCHER}),
    Permission.QUARANTINE_READ: frozenset({R.ADMIN, R.MONITOR}),
    Permission.CAMERA_REGISTER: frozenset({R.ADMIN, R.MONITOR}),
    Permission.CHANNEL_HOTLINE: frozenset({R.ADMIN, R.HOTLINE}),
    Permission.CHANNEL_PLATFORM: frozenset({R.ADMIN, R.PLATFORM}),
    Permission.CHANNEL_MONITORING: frozenset({R.ADMIN, R.MONITOR}),
    Permission.MASTER_DATA_ADMIN: frozenset({R.ADMIN, R.OPERATOR}),
    Permission.CASE_DISPATCH: frozenset({R.ADMIN, R.DISPATCHER, R.OPERATOR}),
    Permission.CASE_HANDLE: frozenset({R.ADMIN, R.DISPATCHER, R.OPERATOR, R.MEMBER}),
    Permission.CASE_REVIEW: frozenset({R.ADMIN, R.DISPATCHER, R.OPERATOR, R.SUPERVISOR}),
    Permission.CASE_FEEDBACK: frozenset({R.ADMIN, R.DISPATCHER, R.OPERATOR, R.HOTLINE, R.PLATFORM}),
    Permission.CASE_CLOSE: frozenset({R.ADMIN, R.DISPATCHER, R.OPERATOR}),
    Permission.CASE_MERGE: frozenset({R.ADMIN, R.DISPATCHER}),
    Permission.CASE_REJECT: frozenset({R.ADMIN, R.DISPATCHER}),
    Permission.CASE_REOPEN: frozenset({R.ADMIN, R.DISPATCHER}),
    Permission.CASE_RECALL: frozenset({R.ADMIN, R.DISPATCHER}),
    Permission.CASE_HAND_BACK: frozenset({R.ADMIN, R.OPERATOR}),
    Permission.PATROL_RECORD: frozenset({R.MEMBER}),
    Permission.PATROL_READ: frozenset(
        {R.ADMIN, R.DISPATCHER, R.SUPERVISOR, R.OPERATOR, R.MEMBER, R.VIEWER}
    ),
    Permission.CASE_RESOLVE_ON_SITE: frozenset({R.ADMIN, R.OPERATOR, R.MEMBER}),
    Permission.LEDGER_READ: frozenset(
        {R.ADMIN, R.DISPATCHER, R.SUPERVISOR, R.OPERATOR, R.MEMBER, R.VIEWER}
    ),
    Permission.LEDGER_OPEN: frozenset({R.ADMIN, R.DISPATCHER, R.SUPERVISOR, R.OPERATOR}),
    Permission.LEDGER_PROGRESS: frozenset(
        {R.ADMIN, R.DISPATCHER, R.SUPERVISOR, R.OPERATOR, R.MEMBER}
    ),
    Permission.LEDGER_CLOSE: frozenset({R.ADMIN, R.SUPERVISOR, R.OPERATOR}),
    Permission.JOINT_RECORD: frozenset({R.ADMIN, R.DISPATCHER, R.SUPERVISOR, R.OPERATOR}),
    Permission.EVALUATION_READ: frozenset({R.ADMIN, R.SUPERVISOR, R.OPERATOR, R.MEMBER}),
    Permission.EVALUATION_EXPORT: frozenset({R.ADMIN, R.SUPERVISOR, R.OPERATOR}),
    Permission.EVALUATION_PUBLISH: frozenset({R.ADMIN, R.SUPERVISOR}),
    Permission.EVALUATION_RULES: frozenset({R.ADMIN}),
    Permission.ATTACHMENT_UPLOAD: frozenset(R) - {R.VIEWER},
    Permission.DIARY_WRITE: frozenset({R.MEMBER}),
    Permission.DIARY_READ: frozenset(
        {R.ADMIN, R.DISPATCHER, R.SUPERVISOR, R.OPERATOR, R.MEMBER, R.VIEWER}
    ),
    Permission.DIARY_SPOT_CHECK: frozenset({R.SUPERVISOR, R.OPERATOR}),
    Permission.DIARY_MISSING: frozenset(
        {R.ADMIN, R.DISPATCHER, R.SUPERVISOR, R.OPERATOR, R.VIEWER}
    ),
    Permission.BRIEFING_WRITE: frozenset({R.ADMIN, R.DISPATCHER, R.SUPERVISOR}),
    Permission.BRIEFING_READ: frozenset({R.ADMIN, R.DISPATCHER, R.SUPERVISOR, R.VIEWER}),
    Permission.BULLETIN_READ: frozenset({R.ADMIN, R.DISPATCHER, R.SUPERVISOR}),
}


def test_every_permission_and_exactly_its_roles() -> None:
    assert set(EXPECTED) == set(Permission)
    for permission in Permission:
        assert PERMISSIONS[permission] == EXPECTED[permission], permission


def _source() -> str:
    files = [*(ROOT / "hub").rglob("*.py"), *(ROOT / "connectors").rglob("*.py")]
    return "\n".join(p.read_text() for p in files if p != ROOT / "hub" / "roles.py")


def test_every_permission_is_checked_somewhere() -> None:
    source = _source()
    unused = {p for p in Permission if f"Permission.{p.name}" not in source}
    assert not unused


def _documented() -> dict[str, frozenset[Role]]:
    """The docs' table: permission value -> roles."""
    text = (ROOT / "docs" / "permissions.md").read_text()
    rows = re.findall(r"^\| `([a-z0-9_.]+)` \| [^|]+ \| ([^|]+) \|$", text, re.MULTILINE)
    found = {}
    for value, roles in rows:
        names = roles.strip()
        found[value] = (
            EVERYONE
            if names == "every role"
            else frozenset(Role(n.strip()) for n in names.split(","))
        )
    return found


def test_the_docs_show_the_table() -> None:
    assert _documented() == {p.value: roles for p, roles in PERMISSIONS.items()}


@pytest.mark.parametrize("permission", list(Permission))
def test_require_refuses_exactly_the_roles_without_the_permission(permission: Permission) -> None:
    for role in Role:
        holds = role in EXPECTED[permission]
        assert allows(frozenset({role}), permission) is holds
        if holds:
            require({role}, permission)
            continue
        with pytest.raises(DomainError) as refused:
            require({role}, permission)
        assert refused.value.code == ErrorCode.FORBIDDEN


def test_any_held_role_suffices_and_no_role_holds_nothing() -> None:
    require({R.VIEWER, R.MONITOR}, Permission.QUARANTINE_READ)
    assert not allows(frozenset(), Permission.CASE_READ)


@pytest.mark.parametrize(
    ("permission", "message"),
    [
        (Permission.CASE_READ, "您的角色无权执行此操作（case.read）"),
        (Permission.CARD_ISSUE, "您的角色无权亮牌"),
        (Permission.CASE_SUSPEND, "您的角色无权挂起案件"),
        (Permission.TIMELIMIT_ADMIN, "只有管理员可以修改办理时限"),
        (Permission.CALENDAR_ADMIN, "只有管理员可以编辑工作日历"),
        (Permission.OUTBOX_ADMIN, "只有管理员可以查看或重试外发消息"),
        (Permission.MONITORING_REGISTER, "只有管理员、在线监测或调度员可以登记监测点"),
        (Permission.QUARANTINE_READ, "只有在线监测或管理员可以查看隔离的报文"),
        (
            Permission.CHANNEL_PLATFORM,
            "只有社会治理平台 (PLATFORM) 或 ADMIN 可以登记平台渠道的来件",
        ),
        (
            Permission.DIARY_SPOT_CHECK,
            "只有督查 (SUPERVISOR) 或本镇网格办 (OPERATOR) 可以抽查工作日记",
        ),
        (Permission.DIARY_WRITE, "只有网格人员 (MEMBER) 可以填写自己的工作日记"),
    ],
)
def test_refusals_keep_the_messages_callers_read(permission: Permission, message: str) -> None:
    with pytest.raises(DomainError, match=f"^{re.escape(message)}$"):
        require(frozenset(), permission)
