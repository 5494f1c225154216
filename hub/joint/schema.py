"""GraphQL: recording a joint enforcement action (联合执法)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from hub.cases.nodes import Case, case_node
from hub.cases.schema import view_of
from hub.errors import DomainError
from hub.gql import Context, UserError, selected, utc_arg
from hub.joint import service
from hub.joint.model import JointAction as JointActionRow

Info = strawberry.Info[Context, None]


@strawberry.type(description="A joint enforcement action (联合执法) and the cases it acted on.")
class JointAction:
    id: strawberry.ID
    at: datetime
    departments: list[str]
    note: str
    recorded_by: str
    cases: list[Case] = strawberry.field(description="The cases the caller sees, by number.")


@strawberry.type
class JointActionResult:
    action: JointAction


JointActionMutationResult = Annotated[
    JointActionResult | UserError, strawberry.union("JointActionMutationResult")
]


@strawberry.input(description="联合执法: the cases, the departments, when (not in the future).")
class JointActionInput:
    case_ids: list[strawberry.ID]
    departments: list[str]
    at: datetime
    note: str


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="联合执法: the cases are linked JOINT and the action goes on each case's "
        "timeline (DISPATCHER, SUPERVISOR, ADMIN; OPERATOR on its own town's cases)."
    )
    async def record_joint_action(
        self, info: Info, input: JointActionInput
    ) -> JointActionMutationResult:
        ctx = info.context
        try:
            at = utc_arg(input.at, "at") or input.at
        except DomainError as exc:
            return UserError.of(exc)
        spec = service.JointSpec(
            case_ids=tuple(input.case_ids),
            departments=tuple(input.departments),
            at=at,
            note=input.note,
        )
        done = await ctx.write(service.record_joint_action, spec)
        if isinstance(done, UserError):
            return done
        return JointActionResult(action=await _action(info, done))


async def _action(info: Info, row: JointActionRow) -> JointAction:
    include = selected(info.selected_fields, info.field_name, "action", "cases")
    action, cases = await info.context.read(service.action_with_cases, row.id, include)
    view = view_of(info.context)
    return JointAction(
        id=strawberry.ID(str(action.id)),
        at=action.at,
        departments=list(action.departments),
        note=action.note,
        recorded_by=action.recorded_by,
        cases=[case_node(c, view) for c in cases],
    )
