"""The GraphQL executor with a fast path for plain leaf fields.

A page of 50 cases completes ~1,200 fields, most of them a scalar or an enum read straight off
an attribute (strawberry's "basic" fields, resolved with ``getattr``). graphql-core does the same
work for each of them as for a field with a resolver: a ``Path``, a ``GraphQLResolveInfo``, the
argument values, the resolver call through strawberry's wrappers, the awaitable check and the
value's completion through NonNull. Here such a field, when it has no arguments, is read and
coerced directly. Anything out of the ordinary (a null in a non-null field, a coercion that
fails, a missing attribute) goes the normal way, so results and errors are exactly those of
graphql-core (tests/integration/test_execution.py compares both on the contract's operations).
"""

from __future__ import annotations

from typing import Any

from graphql.pyutils import Path
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.types.field import StrawberryField

from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    Undefined,
)

# A field's plan: (attribute name, leaf type, non-null), or None for the normal way.
LeafPlan = tuple[str, GraphQLScalarType | GraphQLEnumType, bool] | None
_PLAN = "_hub_leaf_plan"


def leaf_plan(field_def: GraphQLField) -> LeafPlan:
    """How to read this field directly, worked out once per field of the schema."""
    plan = getattr(field_def, _PLAN, Undefined)
    if plan is Undefined:
        plan = _make_plan(field_def)
        setattr(field_def, _PLAN, plan)
    return plan  # type: ignore[return-value]


def _make_plan(field_def: GraphQLField) -> LeafPlan:
    strawberry_field = (field_def.extensions or {}).get("strawberry-definition")
    is_default = getattr(field_def.resolve, "_is_default", False)
    if not isinstance(strawberry_field, StrawberryField) or not is_default or field_def.args:
        return None
    if strawberry_field.default_resolver is not getattr:
        return None
    kind, non_null = field_def.type, False
    if isinstance(kind, GraphQLNonNull):
        kind, non_null = kind.of_type, True
    if not isinstance(kind, (GraphQLScalarType, GraphQLEnumType)):
        return None
    return strawberry_field.python_name, kind, non_null


class HubExecutionContext(StrawberryGraphQLCoreExecutionContext):
    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        grouped_field_set: Any,
        position_context: Any,
    ) -> Any:
        if _has_middleware(self):
            return super().execute_fields(
                parent_type, source_value, path, grouped_field_set, position_context
            )
        results: dict[str, Any] = {}
        rest: dict[str, Any] = {}
        get_field = self.schema.get_field
        for response_name, details in grouped_field_set.items():
            node = details[0].node
            field_def = get_field(parent_type, node.name.value)
            plan = leaf_plan(field_def) if field_def is not None and not node.arguments else None
            value = _read(source_value, plan) if plan is not None else Undefined
            if value is Undefined:
                rest[response_name] = details
                results[response_name] = Undefined  # keeps the response's field order
            else:
                results[response_name] = value
        if not rest:
            return results
        slow = super().execute_fields(parent_type, source_value, path, rest, position_context)
        if self.is_awaitable(slow):

            async def merged() -> dict[str, Any]:
                return _merge(results, await slow)

            return merged()
        return _merge(results, slow)  # type: ignore[arg-type]


def _has_middleware(context: Any) -> bool:
    """strawberry always passes a manager; one without middlewares wraps no resolver."""
    manager = context.middleware_manager
    return manager is not None and bool(manager.middlewares)


def _read(source: Any, plan: tuple[str, Any, bool]) -> Any:
    """The field's coerced value, or Undefined for "take the normal way"."""
    attribute, leaf, non_null = plan
    try:
        value = getattr(source, attribute)
        if value is None:
            return Undefined if non_null else None
        coerced = leaf.coerce_output_value(value)
    except Exception:  # the normal way raises it again, located, as graphql-core reports it
        return Undefined
    return Undefined if coerced is None or coerced is Undefined else coerced


def _merge(results: dict[str, Any], slow: dict[str, Any]) -> dict[str, Any]:
    for name, value in slow.items():
        results[name] = value
    # a field the normal way left out (an unknown field) is left out here too
    return {k: v for k, v in results.items() if v is not Undefined}
