"""The case workflow state machine, checked against an independently written table."""

from __future__ import annotations

import itertools
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.cases.enums import CaseStatus
from hub.cases.workflow import Action, Refusal, allowed_actions, decide, refuse_other_member
from hub.roles import Role

# ---------------------------------------------------------------------------
# The expected behaviour, written out by hand (deliberately not imported).
# ---------------------------------------------------------------------------

_COMMON: dict[tuple[CaseStatus, Action], CaseStatus] = {
    (CaseStatus.REGISTERED, Action.DISPATCH): CaseStatus.DISPATCHED,
    (CaseStatus.DISPATCHED, Action.DISPATCH): CaseStatus.DISPATCHED,
    (CaseStatus.DISPATCHED, Action.ACCEPT): CaseStatus.HANDLING,
    (CaseStatus.HANDLING, Action.PROGRESS): CaseStatus.HANDLING,
    (CaseStatus.HANDLING, Action.SUBMIT): CaseStatus.UNDER_REVIEW,
    (CaseStatus.UNDER_REVIEW, Action.APPROVE): CaseStatus.RESOLVED,
    (CaseStatus.UNDER_REVIEW, Action.RETURN): CaseStatus.HANDLING,
    (CaseStatus.FEEDBACK_GIVEN, Action.CLOSE): CaseStatus.CLOSED,
    (CaseStatus.REGISTERED, Action.MERGE): CaseStatus.MERGED,
    (CaseStatus.DISPATCHED, Action.MERGE): CaseStatus.MERGED,
    (CaseStatus.REGISTERED, Action.REJECT): CaseStatus.REJECTED,
    (CaseStatus.DISPATCHED, Action.REJECT): CaseStatus.REJECTED,
    (CaseStatus.CLOSED, Action.REOPEN): CaseStatus.DISPATCHED,
    (CaseStatus.DISPATCHED, Action.RECALL): CaseStatus.REGISTERED,
    (CaseStatus.REGISTERED, Action.HAND_BACK): CaseStatus.REGISTERED,
    (CaseStatus.DISPATCHED, Action.HAND_BACK): CaseStatus.REGISTERED,
    (CaseStatus.HANDLING, Action.HAND_BACK): CaseStatus.REGISTERED,
    # 现场解决: a patrol's finding registered and closed at once.
    (CaseStatus.REGISTERED, Action.RESOLVE_ON_SITE): CaseStatus.CLOSED,
}

EXPECTED: dict[bool, dict[tuple[CaseStatus, Action], CaseStatus]] = {
    # needs_feedback=True: a complainant must hear back before the case closes.
    # An unsatisfied complainant sends the case back to supervision, never to CLOSED.
    True: {
        **_COMMON,
        (CaseStatus.RESOLVED, Action.FEEDBACK): CaseStatus.FEEDBACK_GIVEN,
        (CaseStatus.RESOLVED, Action.FEEDBACK_UNSATISFIED): CaseStatus.UNDER_REVIEW,
    },
    # needs_feedback=False: monitoring cases close straight from RESOLVED.
    False: {**_COMMON, (CaseStatus.RESOLVED, Action.CLOSE): CaseStatus.CLOSED},
}

R = Role
EXPECTED_ROLES: dict[Action, set[Role]] = {
    Action.DISPATCH: {R.ADMIN, R.DISPATCHER, R.OPERATOR},
    Action.ACCEPT: {R.ADMIN, R.DISPATCHER, R.OPERATOR, R.MEMBER},
    Action.PROGRESS: {R.ADMIN, R.DISPATCHER, R.OPERATOR, R.MEMBER},
    Action.SUBMIT: {R.ADMIN, R.DISPATCHER, R.OPERATOR, R.MEMBER},
    Action.APPROVE: {R.ADMIN, R.DISPATCHER, R.SUPERVISOR, R.OPERATOR},
    Action.RETURN: {R.ADMIN, R.DISPATCHER, R.SUPERVISOR, R.OPERATOR},
    Action.FEEDBACK: {R.ADMIN, R.DISPATCHER, R.OPERATOR, R.HOTLINE, R.PLATFORM},
    Action.FEEDBACK_UNSATISFIED: {R.ADMIN, R.DISPATCHER, R.OPERATOR, R.HOTLINE, R.PLATFORM},
    Action.CLOSE: {R.ADMIN, R.DISPATCHER, R.OPERATOR},
    Action.MERGE: {R.ADMIN, R.DISPATCHER},
    Action.REJECT: {R.ADMIN, R.DISPATCHER},
    Action.REOPEN: {R.ADMIN, R.DISPATCHER},
    Action.RECALL: {R.ADMIN, R.DISPATCHER},
    Action.HAND_BACK: {R.ADMIN, R.OPERATOR},
    Action.RESOLVE_ON_SITE: {R.ADMIN, R.OPERATOR, R.MEMBER},
}

TRIPLES = list(itertools.product(CaseStatus, Action, Role, [True, False]))


def _expected(
    status: CaseStatus, action: Action, role: Role, needs_feedback: bool
) -> CaseStatus | str:
    """The new status, or the refusal code."""
    if role not in EXPECTED_ROLES[action]:
        return "FORBIDDEN"
    return EXPECTED[needs_feedback].get((status, action), "INVALID_TRANSITION")


def _outcome(result: CaseStatus | Refusal) -> CaseStatus | str:
    return result.code if isinstance(result, Refusal) else result


# ---------------------------------------------------------------------------
# Exhaustive table test
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "action", "role", "needs_feedback"),
    TRIPLES,
    ids=[f"{s}-{a}-{r}-fb={f}" for s, a, r, f in TRIPLES],
)
def test_decide_matches_table(
    status: CaseStatus, action: Action, role: Role, needs_feedback: bool
) -> None:
    got = decide(status, action, [role], needs_feedback=needs_feedback)
    want = _expected(status, action, role, needs_feedback)
    assert _outcome(got) == want, (
        f"decide({status}, {action}, [{role}], needs_feedback={needs_feedback}) "
        f"returned {got!r}, expected {want!r}"
    )


def test_table_covers_every_enum_member() -> None:
    assert len(TRIPLES) == len(CaseStatus) * len(Action) * len(Role) * 2
    assert set(EXPECTED_ROLES) == set(Action)


def test_refusal_reasons_are_chinese_and_name_status_and_action() -> None:
    r = decide(CaseStatus.CLOSED, Action.DISPATCH, [Role.ADMIN])
    assert r == Refusal("INVALID_TRANSITION", "案件状态为结案，不能转办")
    forbidden = decide(CaseStatus.REGISTERED, Action.DISPATCH, [Role.VIEWER])
    assert forbidden == Refusal("FORBIDDEN", "您的角色无权转办该案件")


@pytest.mark.parametrize("status", list(CaseStatus))
@pytest.mark.parametrize("action", list(Action))
def test_no_refusal_reason_shows_a_code_or_english(status: CaseStatus, action: Action) -> None:
    for needs_feedback in (True, False):
        r = decide(status, action, [Role.ADMIN], needs_feedback=needs_feedback)
        if isinstance(r, Refusal):
            assert not re.search(r"[A-Za-z]", r.reason), r.reason


def test_feedback_without_complainant_says_why() -> None:
    r = decide(CaseStatus.RESOLVED, Action.FEEDBACK, [Role.ADMIN], needs_feedback=False)
    assert isinstance(r, Refusal)
    assert r.code == "INVALID_TRANSITION"
    assert r.reason == "案件状态为办结，无反馈对象，不能反馈，请直接结案"


def test_role_check_comes_before_transition_check() -> None:
    r = decide(CaseStatus.MERGED, Action.REOPEN, [Role.MEMBER])
    assert isinstance(r, Refusal) and r.code == "FORBIDDEN"


def test_any_allowed_role_suffices_and_empty_roles_are_forbidden() -> None:
    assert decide(CaseStatus.REGISTERED, Action.MERGE, [Role.VIEWER, Role.DISPATCHER]) == (
        CaseStatus.MERGED
    )
    r = decide(CaseStatus.REGISTERED, Action.DISPATCH, [])
    assert isinstance(r, Refusal) and r.code == "FORBIDDEN"


# ---------------------------------------------------------------------------
# Properties
# ---------------------------------------------------------------------------

statuses = st.sampled_from(CaseStatus)
actions = st.sampled_from(Action)
role_lists = st.lists(st.sampled_from(Role), max_size=len(Role) + 2)


@given(statuses, actions, role_lists, st.booleans())
def test_decide_never_raises(
    status: CaseStatus, action: Action, roles: list[Role], needs_feedback: bool
) -> None:
    result = decide(status, action, roles, needs_feedback=needs_feedback)
    if isinstance(result, Refusal):
        assert result.code in {"FORBIDDEN", "INVALID_TRANSITION"}
        assert result.reason
    else:
        assert result in CaseStatus


@given(st.lists(actions, max_size=40), st.booleans())
def test_admin_walks_stay_in_bounds_and_merge_reject_are_final(
    steps: list[Action], needs_feedback: bool
) -> None:
    status = CaseStatus.REGISTERED
    for action in steps:
        before = status
        result = decide(status, action, [Role.ADMIN], needs_feedback=needs_feedback)
        if not isinstance(result, Refusal):
            status = result
        assert isinstance(status, CaseStatus)
        assert status in CaseStatus
        if before in (CaseStatus.MERGED, CaseStatus.REJECTED):
            assert status == before
            assert allowed_actions(status, Role, needs_feedback=needs_feedback) == []


HAPPY_PATH: list[tuple[Action, list[Role], CaseStatus]] = [
    (Action.DISPATCH, [R.ADMIN, R.DISPATCHER, R.OPERATOR], CaseStatus.DISPATCHED),
    (Action.ACCEPT, [R.OPERATOR, R.MEMBER], CaseStatus.HANDLING),
    (Action.PROGRESS, [R.OPERATOR, R.MEMBER], CaseStatus.HANDLING),
    (Action.SUBMIT, [R.OPERATOR, R.MEMBER], CaseStatus.UNDER_REVIEW),
    (Action.APPROVE, [R.SUPERVISOR, R.DISPATCHER], CaseStatus.RESOLVED),
    (Action.FEEDBACK, [R.HOTLINE, R.PLATFORM, R.OPERATOR], CaseStatus.FEEDBACK_GIVEN),
    (Action.CLOSE, [R.DISPATCHER, R.OPERATOR], CaseStatus.CLOSED),
]


@given(st.data())
def test_happy_path(data: st.DataObject) -> None:
    status = CaseStatus.REGISTERED
    for action, suitable, want in HAPPY_PATH:
        role = data.draw(st.sampled_from(suitable), label=f"{action} by")
        status_or_refusal = decide(status, action, [role])
        assert status_or_refusal == want, f"{action} by {role} from {status}"
        status = want
    assert status == CaseStatus.CLOSED


@given(st.sampled_from([R.ADMIN, R.DISPATCHER, R.OPERATOR]))
def test_monitoring_case_closes_without_feedback(role: Role) -> None:
    assert decide(CaseStatus.RESOLVED, Action.CLOSE, [role], needs_feedback=False) == (
        CaseStatus.CLOSED
    )
    refused = decide(CaseStatus.RESOLVED, Action.CLOSE, [role], needs_feedback=True)
    assert isinstance(refused, Refusal) and refused.code == "INVALID_TRANSITION"


@given(statuses, st.frozensets(st.sampled_from(Role)), st.booleans())
def test_allowed_actions_agrees_with_decide(
    status: CaseStatus, roles: frozenset[Role], needs_feedback: bool
) -> None:
    allowed = allowed_actions(status, roles, needs_feedback=needs_feedback)
    assert allowed == [
        a
        for a in Action
        if not isinstance(decide(status, a, roles, needs_feedback=needs_feedback), Refusal)
    ]
    assert allowed == sorted(allowed, key=list(Action).index)


@pytest.mark.parametrize(
    ("action", "roles", "member", "assignee", "refused"),
    [
        (Action.ACCEPT, {R.MEMBER}, "a", "b", True),
        (Action.SUBMIT, {R.MEMBER}, None, "b", True),
        (Action.PROGRESS, {R.MEMBER}, "b", "b", False),
        (Action.ACCEPT, {R.MEMBER}, "a", None, False),  # assigned to an office, not a person
        (Action.ACCEPT, {R.MEMBER, R.OPERATOR}, "a", "b", False),
        (Action.ACCEPT, {R.OPERATOR}, None, "b", False),
        (Action.DISPATCH, {R.MEMBER}, "a", "b", False),  # not a personal step
    ],
)
def test_only_the_assignee_takes_personal_steps(
    action: Action, roles: set[Role], member: str | None, assignee: str | None, refused: bool
) -> None:
    found = refuse_other_member(action, roles, member, assignee)
    assert (found is not None) == refused
    if found is not None:
        assert found.code == "FORBIDDEN" and "被指派人" in found.reason
