"""The root GraphQL schema, assembled from the features' parts."""

from __future__ import annotations

import logging
import re

import strawberry
from strawberry.extensions import (
    AddValidationRules,
    MaskErrors,
    MaxTokensLimiter,
    ParserCache,
    ValidationCache,
)
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types
from strawberry.types import ExecutionContext

from graphql import ASTValidationRule, GraphQLError
from hub.audit.schema import Query as AuditQuery
from hub.briefings.schema import Mutation as BriefingMutation
from hub.briefings.schema import Query as BriefingQuery
from hub.cameras.schema import Mutation as CameraMutation
from hub.cameras.schema import Query as CameraQuery
from hub.cases.schema import Mutation as CaseMutation
from hub.cases.schema import Query as CaseQuery
from hub.cases.schema import Subscription as CaseSubscription
from hub.config import Settings
from hub.diaries.schema import Mutation as DiaryMutation
from hub.diaries.schema import Query as DiaryQuery
from hub.evaluation.schema import Mutation as EvaluationMutation
from hub.evaluation.schema import Query as EvaluationQuery
from hub.execution import HubExecutionContext
from hub.gql import should_mask
from hub.grid.schema import Mutation as GridMutation
from hub.grid.schema import Query as GridQuery
from hub.joint.schema import Mutation as JointMutation
from hub.ledgers.schema import Mutation as LedgerMutation
from hub.ledgers.schema import Query as LedgerQuery
from hub.monitoring.schema import Mutation as MonitoringMutation
from hub.monitoring.schema import Query as MonitoringQuery
from hub.outbox.schema import Mutation as OutboxMutation
from hub.outbox.schema import Query as OutboxQuery
from hub.patrols.schema import Mutation as PatrolMutation
from hub.patrols.schema import Query as PatrolQuery
from hub.reports.schema import Query as ReportQuery
from hub.shape import Limits, VariablesGuard, shape_rule
from hub.sources.schema import Mutation as SourceMutation
from hub.sources.schema import Query as SourceQuery
from hub.supervision.schema import Mutation as SupervisionMutation
from hub.supervision.schema import Query as SupervisionQuery
from hub.sync.schema import Query as SyncQuery
from hub.tenancy.schema import Query as TenancyQuery
from hub.web import overloaded

Query = merge_types(
    "Query",
    (
        TenancyQuery,
        GridQuery,
        CaseQuery,
        AuditQuery,
        SupervisionQuery,
        SyncQuery,
        OutboxQuery,
        MonitoringQuery,
        CameraQuery,
        SourceQuery,
        PatrolQuery,
        LedgerQuery,
        EvaluationQuery,
        DiaryQuery,
        ReportQuery,
        BriefingQuery,
    ),
)
Mutation = merge_types(
    "Mutation",
    (
        CaseMutation,
        SupervisionMutation,
        OutboxMutation,
        MonitoringMutation,
        CameraMutation,
        GridMutation,
        SourceMutation,
        PatrolMutation,
        LedgerMutation,
        JointMutation,
        EvaluationMutation,
        DiaryMutation,
        BriefingMutation,
    ),
)
Subscription = merge_types("Subscription", (CaseSubscription,))


log = logging.getLogger("hub.graphql")

# Values quoted in graphql's messages ("got invalid value '13700000002'", "Value '张三' does not
# exist") unless they read as a GraphQL name (a field, type or enum value), and runs of digits.
# Double quotes only ever hold a literal of the document; a variable's invalid value is dropped
# whole (it may be an object of several fields).
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"|\d{5,}")
_NAME = re.compile(r"'\$?[_A-Za-z][_0-9A-Za-z.]*'")
_INVALID_VALUE = re.compile(r"got invalid value .*?(?=; | at '|$)")


def _hide(match: re.Match[str]) -> str:
    return match.group() if _NAME.fullmatch(match.group()) else "'…'"


def redacted(message: str) -> str:
    """A client error's message fit for the log: one line, without the values the client sent."""
    message = _INVALID_VALUE.sub("got invalid value …", message)
    return _QUOTED.sub(_hide, message).replace("\n", " ")[:300]


class HubSchema(strawberry.Schema):
    """The schema, with the hub's own error log in place of strawberry's, which logs every error
    at ERROR with its traceback and the document's source line (and so the phone numbers,
    names and addresses typed into it)."""

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        operation = (execution_context.operation_name if execution_context else None) or "-"
        for error in errors:
            original = error.original_error
            if original is not None and overloaded(original):
                # Not a fault of the hub: the 503's cause, a line each (no traceback flood).
                log.warning("no database connection for operation %s: %s", operation, original)
            elif should_mask(error) and original is not None:
                # The hub's own failure: ERROR with the traceback, still no document.
                log.error(
                    "unexpected error in operation %s at %s",
                    operation,
                    error.path,
                    exc_info=(type(original), original, original.__traceback__),
                )
            else:
                code = (error.extensions or {}).get("code", "GRAPHQL_ERROR")
                log.info(
                    "refused (%s) in operation %s: %s", code, operation, redacted(error.message)
                )


def build_schema(settings: Settings | None = None) -> strawberry.Schema:
    settings = settings or Settings()
    # Extensions as factories: an instance would be shared by concurrent requests. The shape rule
    # (depth, aliases, fragment spreads; hub.shape, in place of strawberry's depth and alias
    # limiters, which walk a fragment once per spread) is built once, so that the validation
    # cache sees the same rules every time (parsing and validating a Cases request cost ~4.5 ms
    # of CPU; both caches are bounded LRUs). The token cap runs first, inside the parser.
    limits = Limits(
        depth=settings.graphql_max_depth,
        aliases=settings.graphql_max_aliases,
        spreads=settings.graphql_max_fragment_spreads,
        list_items=settings.graphql_max_list_items,
    )
    rules: list[type[ASTValidationRule]] = [shape_rule(limits)]  # the list AddValidationRules takes
    return HubSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        # Not sort_schema=True: it rebuilds the types and then union results fail to resolve
        # (strawberry 0.341); sdl() sorts when printing instead.
        config=StrawberryConfig(),
        execution_context_class=HubExecutionContext,
        extensions=[
            lambda: MaxTokensLimiter(max_token_count=settings.graphql_max_tokens),
            lambda: ParserCache(maxsize=256),
            lambda: AddValidationRules(rules),
            lambda: ValidationCache(maxsize=256),
            lambda: VariablesGuard(limits),
            lambda: MaskErrors(should_mask_error=should_mask),
        ],
    )


def sdl() -> str:
    """The SDL, sorted so that diffs stay small."""
    from graphql import lexicographic_sort_schema, print_schema

    return print_schema(lexicographic_sort_schema(build_schema()._schema)) + "\n"
