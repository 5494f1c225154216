"""Roles and what they may do: the one permissions table of the hub (pure, no I/O)."""

from __future__ import annotations

import enum
from typing import Protocol

from hub.errors import DomainError, ErrorCode


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
    INGEST_HOTLINE = "ingest.hotline"
    INGEST_PLATFORM = "ingest.platform"
    INGEST_MONITORING = "ingest.monitoring"
    CASE_SPLIT = "case.split"
    CASE_URGE = "case.urge"
    CASE_SUSPEND = "case.suspend"  # stop the case's clock
    CASE_RESUME = "case.resume"
    CARD_ISSUE = "card.issue"
    EXTENSION_REQUEST = "extension.request"
    EXTENSION_DECIDE = "extension.decide"
    TIMELIMIT_ADMIN = "timelimit.admin"
    CALENDAR_ADMIN = "calendar.admin"
    OUTBOX_ADMIN = "outbox.admin"
    MONITORING_REGISTER = "monitoring.register"
    QUARANTINE_READ = "quarantine.read"
    # Outfall and smokestack cameras (registerCamera; a town-scoped token for its town only).
    CAMERA_REGISTER = "camera.register"
    # Registering under a network's channel (its external ids are that network's to give).
    CHANNEL_HOTLINE = "channel.hotline"
    CHANNEL_PLATFORM = "channel.platform"
    CHANNEL_MONITORING = "channel.monitoring"
    # Grid cells, members and enterprises (saveGridCell, saveMember, saveEnterprise, import).
    MASTER_DATA_ADMIN = "masterdata.admin"
    # The workflow's steps (hub/cases/workflow.py maps each action to one of these).
    CASE_DISPATCH = "case.dispatch"  # 转办
    CASE_HANDLE = "case.handle"  # 签收, 进展, 提交审核
    CASE_REVIEW = "case.review"  # 审核通过, 退回
    CASE_FEEDBACK = "case.feedback"  # 反馈 (satisfied or not)
    CASE_CLOSE = "case.close"  # 结案
    CASE_MERGE = "case.merge"  # 合并
    CASE_REJECT = "case.reject"  # 不予受理
    CASE_REOPEN = "case.reopen"  # 重新办理
    CASE_RECALL = "case.recall"  # 收回 (the sweep, or the command centre)
    CASE_HAND_BACK = "case.hand_back"  # 退回指挥中心
    # Patrols (巡查): a member records their own; who reads them.
    PATROL_RECORD = "patrol.record"
    PATROL_READ = "patrol.read"
    # 现场解决: register a patrol's finding and close it at once (the workflow's RESOLVE_ON_SITE).
    CASE_RESOLVE_ON_SITE = "case.resolve_on_site"
    # Ledgers (台账): who reads, opens, records progress on and closes (销号) an item.
    LEDGER_READ = "ledger.read"
    LEDGER_OPEN = "ledger.open"
    LEDGER_PROGRESS = "ledger.progress"
    LEDGER_CLOSE = "ledger.close"
    # 联合执法: record a joint action on cases the caller sees.
    JOINT_RECORD = "joint.record"
    # The monthly evaluation (考核): who reads it (a MEMBER their own row), downloads it,
    # publishes (freezes) a month, and changes the method's rules.
    EVALUATION_READ = "evaluation.read"
    EVALUATION_EXPORT = "evaluation.export"
    EVALUATION_PUBLISH = "evaluation.publish"
    EVALUATION_RULES = "evaluation.rules"
    ATTACHMENT_UPLOAD = "attachment.upload"  # POST /attachments
    # Work diaries (工作日记): a member writes their own; who reads a day; who spot-checks (抽查).
    DIARY_WRITE = "diary.write"
    DIARY_READ = "diary.read"
    DIARY_SPOT_CHECK = "diary.spot_check"
    # The town's members with neither diary nor patrol on a working day.
    DIARY_MISSING = "diary.missing"
    # 信息简报: the bureau's briefings reported up (the command centre and supervision keep them).
    BRIEFING_WRITE = "briefing.write"
    BRIEFING_READ = "briefing.read"
    # 季度通报: the quarterly bulletin of the towns and its downloads.
    BULLETIN_READ = "bulletin.read"


_EVERYONE = frozenset(Role)
_ADMIN = frozenset({Role.ADMIN})
# The command centre and supervision: who urges cases and decides extensions.
_SUPERVISING = frozenset({Role.ADMIN, Role.DISPATCHER, Role.SUPERVISOR})
_COMMAND = frozenset({Role.ADMIN, Role.DISPATCHER})  # the command centre
_ROUTING = _COMMAND | {Role.OPERATOR}  # who routes and runs cases: the centre and town offices

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
    Permission.INGEST_HOTLINE: frozenset({Role.HOTLINE, Role.ADMIN}),
    Permission.INGEST_PLATFORM: frozenset({Role.PLATFORM, Role.ADMIN}),
    Permission.INGEST_MONITORING: frozenset({Role.MONITOR, Role.ADMIN}),
    Permission.CASE_SPLIT: frozenset({Role.ADMIN, Role.DISPATCHER}),
    Permission.CASE_URGE: _SUPERVISING,
    Permission.CASE_SUSPEND: _SUPERVISING | {Role.OPERATOR},
    Permission.CASE_RESUME: _SUPERVISING | {Role.OPERATOR},
    Permission.CARD_ISSUE: _SUPERVISING | {Role.OPERATOR},
    Permission.EXTENSION_REQUEST: frozenset(
        {Role.ADMIN, Role.DISPATCHER, Role.OPERATOR, Role.MEMBER}
    ),
    Permission.EXTENSION_DECIDE: _SUPERVISING,
    Permission.TIMELIMIT_ADMIN: _ADMIN,
    Permission.CALENDAR_ADMIN: _ADMIN,
    Permission.OUTBOX_ADMIN: _ADMIN,
    # Town offices see their towns' points but do not register devices.
    Permission.MONITORING_REGISTER: frozenset({Role.ADMIN, Role.MONITOR, Role.DISPATCHER}),
    Permission.QUARANTINE_READ: frozenset({Role.ADMIN, Role.MONITOR}),
    Permission.CAMERA_REGISTER: frozenset({Role.ADMIN, Role.MONITOR}),
    # A town office registering as "the platform" linked its case to another town's platform
    # case and pre-claimed ids the real delivery then hit as a conflict.
    Permission.CHANNEL_HOTLINE: frozenset({Role.ADMIN, Role.HOTLINE}),
    Permission.CHANNEL_PLATFORM: frozenset({Role.ADMIN, Role.PLATFORM}),
    Permission.CHANNEL_MONITORING: frozenset({Role.ADMIN, Role.MONITOR}),
    # ADMIN city-wide, a town's grid office (OPERATOR) for its own town: the scope decides which.
    Permission.MASTER_DATA_ADMIN: frozenset({Role.ADMIN, Role.OPERATOR}),
    Permission.CASE_DISPATCH: _ROUTING,
    Permission.CASE_HANDLE: _ROUTING | {Role.MEMBER},
    Permission.CASE_REVIEW: _ROUTING | {Role.SUPERVISOR},
    Permission.CASE_FEEDBACK: _ROUTING | {Role.HOTLINE, Role.PLATFORM},
    Permission.CASE_CLOSE: _ROUTING,
    Permission.CASE_MERGE: _COMMAND,
    Permission.CASE_REJECT: _COMMAND,
    Permission.CASE_REOPEN: _COMMAND,
    Permission.CASE_RECALL: _COMMAND,
    # The town office holding the case (steps.hand_back checks it is a town's).
    Permission.CASE_HAND_BACK: frozenset({Role.ADMIN, Role.OPERATOR}),
    # A patrol is a member's own: the caller must be bound to a member (hub/patrols checks).
    Permission.PATROL_RECORD: frozenset({Role.MEMBER}),
    Permission.PATROL_READ: frozenset(
        {Role.ADMIN, Role.DISPATCHER, Role.SUPERVISOR, Role.OPERATOR, Role.MEMBER, Role.VIEWER}
    ),
    Permission.CASE_RESOLVE_ON_SITE: frozenset({Role.ADMIN, Role.OPERATOR, Role.MEMBER}),
    # A MEMBER reads the items they are responsible for (hub/ledgers/service.py narrows it).
    Permission.LEDGER_READ: frozenset(
        {Role.ADMIN, Role.DISPATCHER, Role.SUPERVISOR, Role.OPERATOR, Role.MEMBER, Role.VIEWER}
    ),
    # The town office (its own town: the scope), supervision, and the command centre, which
    # meets the complex problems first in the cases it routes.
    Permission.LEDGER_OPEN: frozenset(
        {Role.ADMIN, Role.DISPATCHER, Role.SUPERVISOR, Role.OPERATOR}
    ),
    # A MEMBER on their own items only (the responsible member; the service checks).
    Permission.LEDGER_PROGRESS: frozenset(
        {Role.ADMIN, Role.DISPATCHER, Role.SUPERVISOR, Role.OPERATOR, Role.MEMBER}
    ),
    # 销号: never a MEMBER, and never the responsible member themselves (the service checks).
    Permission.LEDGER_CLOSE: frozenset({Role.ADMIN, Role.SUPERVISOR, Role.OPERATOR}),
    # An OPERATOR on its own town's cases (it sees no other town's).
    Permission.JOINT_RECORD: frozenset(
        {Role.ADMIN, Role.DISPATCHER, Role.SUPERVISOR, Role.OPERATOR}
    ),
    # Staff evaluation is supervision's and the town office's business (the scope gives a town
    # office its own town); a member reads their own row only (hub/evaluation checks).
    Permission.EVALUATION_READ: frozenset(
        {Role.ADMIN, Role.SUPERVISOR, Role.OPERATOR, Role.MEMBER}
    ),
    Permission.EVALUATION_EXPORT: frozenset({Role.ADMIN, Role.SUPERVISOR, Role.OPERATOR}),
    Permission.EVALUATION_PUBLISH: frozenset({Role.ADMIN, Role.SUPERVISOR}),
    Permission.EVALUATION_RULES: _ADMIN,
    # Any role that may change cases or patrols (every role but VIEWER); reading one is decided
    # by what it is attached to (hub/attachments/service.py).
    Permission.ATTACHMENT_UPLOAD: _EVERYONE - {Role.VIEWER},
    # A diary is its member's own words (the caller must be bound to that member).
    Permission.DIARY_WRITE: frozenset({Role.MEMBER}),
    # A MEMBER reads their own day only, a town's OPERATOR its town's (hub/diaries checks).
    Permission.DIARY_READ: _SUPERVISING | {Role.OPERATOR, Role.MEMBER, Role.VIEWER},
    # A check counts in the monthly evaluation: supervision (督查) and the town's grid office
    # judge; the command centre routes cases and ADMIN runs the system, neither judges people.
    Permission.DIARY_SPOT_CHECK: frozenset({Role.SUPERVISOR, Role.OPERATOR}),
    Permission.DIARY_MISSING: _SUPERVISING | {Role.OPERATOR, Role.VIEWER},
    Permission.BRIEFING_WRITE: _SUPERVISING,
    Permission.BRIEFING_READ: _SUPERVISING | {Role.VIEWER},
    Permission.BULLETIN_READ: _SUPERVISING,
}

# What a refused caller reads; the rest read "您的角色无权执行此操作（<permission>）".
_REFUSALS: dict[Permission, str] = {
    Permission.CASE_SPLIT: "只有管理员或指挥中心调度员可以拆分举报",
    Permission.CASE_URGE: "您的角色无权督办案件",
    Permission.CASE_SUSPEND: "您的角色无权挂起案件",
    Permission.CASE_RESUME: "您的角色无权解挂案件",
    Permission.CARD_ISSUE: "您的角色无权亮牌",
    Permission.EXTENSION_REQUEST: "您的角色无权申请延期",
    Permission.EXTENSION_DECIDE: "您的角色无权审批延期",
    Permission.TIMELIMIT_ADMIN: "只有管理员可以修改办理时限",
    Permission.CALENDAR_ADMIN: "只有管理员可以编辑工作日历",
    Permission.OUTBOX_ADMIN: "只有管理员可以查看或重试外发消息",
    Permission.MONITORING_REGISTER: "只有管理员、在线监测或调度员可以登记监测点",
    Permission.QUARANTINE_READ: "只有在线监测或管理员可以查看隔离的报文",
    Permission.CHANNEL_HOTLINE: "只有 12369 热线 (HOTLINE) 或 ADMIN 可以登记热线渠道的来件",
    Permission.CHANNEL_PLATFORM: "只有社会治理平台 (PLATFORM) 或 ADMIN 可以登记平台渠道的来件",
    Permission.CHANNEL_MONITORING: "只有在线监测 (MONITOR) 或 ADMIN 可以登记监测渠道的来件",
    Permission.MASTER_DATA_ADMIN: "只有 ADMIN 或本镇网格办 (OPERATOR) 可以维护网格、人员和企业",
    Permission.PATROL_RECORD: "只有网格人员 (MEMBER) 可以记录自己的巡查",
    Permission.PATROL_READ: "你的角色不能查看巡查记录",
    Permission.CASE_RESOLVE_ON_SITE: "只有网格人员、本镇网格办 (OPERATOR) 或 ADMIN 可以现场解决",
    Permission.LEDGER_READ: "你的角色不能查看台账",
    Permission.LEDGER_OPEN: "只有本镇网格办 (OPERATOR)、督查、指挥中心或 ADMIN 可以建立台账",
    Permission.LEDGER_PROGRESS: "你的角色不能记录台账进展",
    Permission.LEDGER_CLOSE: "只有本镇网格办 (OPERATOR)、督查 (SUPERVISOR) 或 ADMIN 可以销号",
    Permission.JOINT_RECORD: "只有指挥中心、督查、本镇网格办 (OPERATOR) 或 ADMIN 可以记录联合执法",
    Permission.EVALUATION_READ: "只有管理员、督查、乡镇网格办或网格人员本人可以查看月度考核",
    Permission.EVALUATION_EXPORT: "只有管理员、督查或乡镇网格办可以下载月度考核表",
    Permission.EVALUATION_PUBLISH: "只有管理员或督查可以发布月度考核",
    Permission.EVALUATION_RULES: "只有管理员可以修改考核办法",
    Permission.ATTACHMENT_UPLOAD: "只读角色 (VIEWER) 不能上传附件",
    Permission.DIARY_WRITE: "只有网格人员 (MEMBER) 可以填写自己的工作日记",
    Permission.DIARY_READ: "你的角色不能查看工作日记",
    Permission.DIARY_SPOT_CHECK: "只有督查 (SUPERVISOR) 或本镇网格办 (OPERATOR) 可以抽查工作日记",
    Permission.DIARY_MISSING: "你的角色不能查看未填写工作日记的人员",
    Permission.BRIEFING_WRITE: "只有管理员、指挥中心调度员或督查人员可以登记信息简报",
    Permission.BRIEFING_READ: "您的角色无权查看信息简报",
    Permission.BULLETIN_READ: "只有管理员、指挥中心调度员或督查人员可以查看季度通报",
}


class HasRoles(Protocol):
    """A scope or a principal: anything that carries the caller's roles."""

    @property
    def roles(self) -> frozenset[Role]: ...


Roles = HasRoles | frozenset[Role] | set[Role]


def _roles_of(who: Roles) -> frozenset[Role] | set[Role]:
    return who if isinstance(who, (frozenset, set)) else who.roles


def allows(who: Roles, permission: Permission) -> bool:
    """Whether any of the caller's roles holds the permission."""
    return not PERMISSIONS[permission].isdisjoint(_roles_of(who))


def refusal(permission: Permission) -> str:
    """The message a caller without the permission reads."""
    return _REFUSALS.get(permission, f"您的角色无权执行此操作（{permission.value}）")


def require(who: Roles, permission: Permission) -> None:
    """The one permission check of the hub: FORBIDDEN unless a role of the caller holds it."""
    if not allows(who, permission):
        raise DomainError(ErrorCode.FORBIDDEN, refusal(permission))


def parse_role(text: str) -> Role:
    """A role from user input, lower or upper case."""
    try:
        return Role(text.strip().upper())
    except ValueError:
        known = ", ".join(r.value for r in Role)
        raise ValueError(f"未知的角色 {text!r}（可用：{known}）") from None
