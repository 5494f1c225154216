"""The root GraphQL schema, assembled from the features' parts."""

from __future__ import annotations

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

from hub.audit.schema import Query as AuditQuery
from hub.cases.schema import Mutation as CaseMutation
from hub.cases.schema import Query as CaseQuery
from hub.cases.schema import Subscription as CaseSubscription
from hub.config import Settings
from hub.gql import should_mask
from hub.grid.schema import Query as GridQuery
from hub.monitoring.schema import Mutation as MonitoringMutation
from hub.monitoring.schema import Query as MonitoringQuery
from hub.outbox.schema import Mutation as OutboxMutation
from hub.outbox.schema import Query as OutboxQuery
from hub.shape import Limits, VariablesGuard, shape_rule
from hub.supervision.schema import Mutation as SupervisionMutation
from hub.supervision.schema import Query as SupervisionQuery
from hub.sync.schema import Query as SyncQuery
from hub.tenancy.schema import Query as TenancyQuery

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
    ),
)
Mutation = merge_types(
    "Mutation", (CaseMutation, SupervisionMutation, OutboxMutation, MonitoringMutation)
)
Subscription = merge_types("Subscription", (CaseSubscription,))


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
    rules = [shape_rule(limits)]
    return strawberry.Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        # Not sort_schema=True: it rebuilds the types and then union results fail to resolve
        # (strawberry 0.341); sdl() sorts when printing instead.
        config=StrawberryConfig(),
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
