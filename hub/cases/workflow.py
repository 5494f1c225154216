"""The case workflow as a pure state machine: (status, action, roles) -> new status or a refusal.

Pure: no I/O, no clock, no database. The tables below are the single source of truth for
which status each action leads to; who may take it is a permission in hub/roles.py.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

from hub.cases.enums import STATUS_LABELS, CaseStatus
from hub.roles import Permission, Role, allows


class Action(enum.StrEnum):
    DISPATCH = "DISPATCH"  # 转办
    ACCEPT = "ACCEPT"  # 签收
    PROGRESS = "PROGRESS"  # 进展
    SUBMIT = "SUBMIT"  # 提交审核
    APPROVE = "APPROVE"  # 审核通过
    RETURN = "RETURN"  # 退回
    FEEDBACK = "FEEDBACK"  # 反馈
    # 反馈不满意: the complainant is not satisfied, the case goes back to supervision (督查)
    FEEDBACK_UNSATISFIED = "FEEDBACK_UNSATISFIED"
    CLOSE = "CLOSE"  # 结案
    MERGE = "MERGE"  # 合并
    REJECT = "REJECT"  # 不予受理
    REOPEN = "REOPEN"  # 重新办理
    RECALL = "RECALL"  # 收回: not accepted in time, back to the dispatcher's queue
    HAND_BACK = "HAND_BACK"  # 退回指挥中心: a town returns a case that is not its own
    # 现场解决: a patrol found the problem and solved it there and then; registered and closed
    RESOLVE_ON_SITE = "RESOLVE_ON_SITE"


FORBIDDEN = "FORBIDDEN"
INVALID_TRANSITION = "INVALID_TRANSITION"


@dataclass(frozen=True)
class Refusal:
    code: str  # FORBIDDEN or INVALID_TRANSITION
    reason: str  # Chinese, then English in parentheses


_S = CaseStatus
_A = Action

# Transitions that hold whether or not the case needs feedback to a complainant.
TRANSITIONS: dict[tuple[CaseStatus, Action], CaseStatus] = {
    (_S.REGISTERED, _A.DISPATCH): _S.DISPATCHED,
    (_S.DISPATCHED, _A.DISPATCH): _S.DISPATCHED,  # re-dispatch to another office
    (_S.DISPATCHED, _A.ACCEPT): _S.HANDLING,
    (_S.HANDLING, _A.PROGRESS): _S.HANDLING,
    (_S.HANDLING, _A.SUBMIT): _S.UNDER_REVIEW,
    (_S.UNDER_REVIEW, _A.APPROVE): _S.RESOLVED,
    (_S.UNDER_REVIEW, _A.RETURN): _S.HANDLING,
    (_S.FEEDBACK_GIVEN, _A.CLOSE): _S.CLOSED,
    (_S.REGISTERED, _A.MERGE): _S.MERGED,
    (_S.DISPATCHED, _A.MERGE): _S.MERGED,
    (_S.REGISTERED, _A.REJECT): _S.REJECTED,
    (_S.DISPATCHED, _A.REJECT): _S.REJECTED,
    (_S.CLOSED, _A.REOPEN): _S.DISPATCHED,
    (_S.DISPATCHED, _A.RECALL): _S.REGISTERED,
    (_S.REGISTERED, _A.HAND_BACK): _S.REGISTERED,
    (_S.DISPATCHED, _A.HAND_BACK): _S.REGISTERED,
    (_S.HANDLING, _A.HAND_BACK): _S.REGISTERED,
    (_S.REGISTERED, _A.RESOLVE_ON_SITE): _S.CLOSED,
}
# Only when there is someone to feed back to (needs_feedback=True).
FEEDBACK_TRANSITIONS: dict[tuple[CaseStatus, Action], CaseStatus] = {
    (_S.RESOLVED, _A.FEEDBACK): _S.FEEDBACK_GIVEN,
    # Not closed on an unsatisfied caller: supervision looks again (approve, or return it).
    (_S.RESOLVED, _A.FEEDBACK_UNSATISFIED): _S.UNDER_REVIEW,
}
# Only when there is no one to feed back to, e.g. monitoring cases (needs_feedback=False).
NO_FEEDBACK_TRANSITIONS: dict[tuple[CaseStatus, Action], CaseStatus] = {
    (_S.RESOLVED, _A.CLOSE): _S.CLOSED,
}

# Who may take each step: one permission each, held by roles in the one table (hub/roles.py).
ACTION_PERMISSIONS: dict[Action, Permission] = {
    _A.DISPATCH: Permission.CASE_DISPATCH,
    _A.ACCEPT: Permission.CASE_HANDLE,
    _A.PROGRESS: Permission.CASE_HANDLE,
    _A.SUBMIT: Permission.CASE_HANDLE,
    _A.APPROVE: Permission.CASE_REVIEW,
    _A.RETURN: Permission.CASE_REVIEW,
    _A.FEEDBACK: Permission.CASE_FEEDBACK,
    _A.FEEDBACK_UNSATISFIED: Permission.CASE_FEEDBACK,
    _A.CLOSE: Permission.CASE_CLOSE,
    _A.MERGE: Permission.CASE_MERGE,
    _A.REJECT: Permission.CASE_REJECT,
    _A.REOPEN: Permission.CASE_REOPEN,
    _A.RECALL: Permission.CASE_RECALL,
    _A.HAND_BACK: Permission.CASE_HAND_BACK,
    # The member on patrol (or the town office recording for them); hub/patrols checks the rest.
    _A.RESOLVE_ON_SITE: Permission.CASE_RESOLVE_ON_SITE,
}

# The Chinese verb of each action, for refusal messages.
_VERBS: dict[Action, str] = {
    _A.DISPATCH: "转办",
    _A.ACCEPT: "签收",
    _A.PROGRESS: "填报进展",
    _A.SUBMIT: "提交审核",
    _A.APPROVE: "审核通过",
    _A.RETURN: "退回",
    _A.FEEDBACK: "反馈",
    _A.FEEDBACK_UNSATISFIED: "反馈不满意",
    _A.CLOSE: "结案",
    _A.MERGE: "合并",
    _A.REJECT: "不予受理",
    _A.REOPEN: "重新办理",
    _A.RECALL: "收回",
    _A.HAND_BACK: "退回指挥中心",
    _A.RESOLVE_ON_SITE: "现场解决",
}

_TABLES: dict[bool, dict[tuple[CaseStatus, Action], CaseStatus]] = {
    True: {**TRANSITIONS, **FEEDBACK_TRANSITIONS},
    False: {**TRANSITIONS, **NO_FEEDBACK_TRANSITIONS},
}


def _invalid(status: CaseStatus, action: Action, needs_feedback: bool) -> Refusal:
    verb, state = _VERBS[action], STATUS_LABELS[status]
    if (status, action) in FEEDBACK_TRANSITIONS and not needs_feedback:
        reason = f"案件状态为{state}，无反馈对象，不能{verb}，请直接结案"
    elif (status, action) in NO_FEEDBACK_TRANSITIONS and needs_feedback:
        reason = f"案件状态为{state}，须先反馈才能{verb}"
    else:
        reason = f"案件状态为{state}，不能{verb}"
    return Refusal(INVALID_TRANSITION, reason)


def decide(
    status: CaseStatus,
    action: Action,
    roles: Iterable[Role],
    *,
    needs_feedback: bool = True,
) -> CaseStatus | Refusal:
    """The status after `action`, or why it is refused (role check first, then status)."""
    held = frozenset(roles)
    if not allows(held, ACTION_PERMISSIONS[action]):
        return Refusal(FORBIDDEN, f"您的角色无权{_VERBS[action]}该案件")
    new = _TABLES[needs_feedback].get((status, action))
    return new if new is not None else _invalid(status, action, needs_feedback)


# Steps only the person a case is assigned to takes, when the caller is a grid member (a town's
# OPERATOR and the city roles still act on any case of theirs).
PERSONAL_ACTIONS = frozenset({_A.ACCEPT, _A.PROGRESS, _A.SUBMIT})
_OVER_MEMBERS = frozenset(Role) - {Role.MEMBER}


def refuse_other_member(
    action: Action, roles: Iterable[Role], member_id: object, assignee_id: object
) -> Refusal | None:
    """Why a MEMBER who is not the case's assignee may not take a personal step, or None."""
    held = frozenset(roles)
    if action not in PERSONAL_ACTIONS or assignee_id is None or not held.isdisjoint(_OVER_MEMBERS):
        return None
    if member_id == assignee_id:
        return None
    return Refusal(
        FORBIDDEN,
        f"本案件已指派给其他网格员，只有被指派人、本镇网格办或市级角色可以{_VERBS[action]}",
    )


def allowed_actions(
    status: CaseStatus, roles: Iterable[Role], *, needs_feedback: bool = True
) -> list[Action]:
    """The actions `roles` may take on a case in `status`, in Action order."""
    held = frozenset(roles)
    return [
        a
        for a in Action
        if not isinstance(decide(status, a, held, needs_feedback=needs_feedback), Refusal)
    ]
