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
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    Undefined,
)

# A field's plan, worked out once per field of the schema (None: the normal way):
#   (LEAF, attribute, scalar or enum type, non-null)
#   (OBJECT, attribute, object type, non-null)
#   (LIST, attribute, (item plan kind, item type, item non-null), non-null)
LEAF, OBJECT, LIST = 0, 1, 2
Plan = tuple[int, str, Any, bool] | None
_PLAN = "_hub_field_plan"
_TYPENAME = "__typename"


def field_plan(field_def: GraphQLField) -> Plan:
    """How to read this field directly, worked out once per field of the schema."""
    plan = getattr(field_def, _PLAN, Undefined)
    if plan is Undefined:
        plan = _make_plan(field_def)
        setattr(field_def, _PLAN, plan)
    return plan  # type: ignore[return-value]


def _unwrap(kind: Any) -> tuple[Any, bool]:
    if isinstance(kind, GraphQLNonNull):
        return kind.of_type, True
    return kind, False


def _plain_object(kind: Any) -> bool:
    """An object type completed by reading attributes: no is_type_of check, no interfaces."""
    return isinstance(kind, GraphQLObjectType) and kind.is_type_of is None and not kind.interfaces


def _make_plan(field_def: GraphQLField) -> Plan:
    strawberry_field = (field_def.extensions or {}).get("strawberry-definition")
    is_default = getattr(field_def.resolve, "_is_default", False)
    if not isinstance(strawberry_field, StrawberryField) or not is_default or field_def.args:
        return None
    if strawberry_field.default_resolver is not getattr:
        return None
    attribute = strawberry_field.python_name
    kind, non_null = _unwrap(field_def.type)
    if isinstance(kind, (GraphQLScalarType, GraphQLEnumType)):
        return LEAF, attribute, kind, non_null
    if _plain_object(kind):
        return OBJECT, attribute, kind, non_null
    if isinstance(kind, GraphQLList):
        item, item_non_null = _unwrap(kind.of_type)
        if isinstance(item, (GraphQLScalarType, GraphQLEnumType)):
            return LIST, attribute, (LEAF, item, item_non_null), non_null
        if _plain_object(item):
            return LIST, attribute, (OBJECT, item, item_non_null), non_null
    return None


class HubExecutionContext(StrawberryGraphQLCoreExecutionContext):
    """Fields with a plan are completed here; a whole sub-selection of plain objects and lists
    (a page's edges, nodes, tenants, ...) is completed without graphql-core's per-field work.
    Whatever does not complete cleanly (a null in a non-null field, a failing coercion, a
    field with a resolver) is left to graphql-core from that field down."""

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
        for response_name, details, plan in self._plans(parent_type, grouped_field_set)[1]:
            value: Any
            if plan is None:
                value = Undefined
            elif plan is _TYPENAME:
                value = parent_type.name
            else:
                value = self._complete(plan, source_value, details)
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

    def _plans(self, parent_type: GraphQLObjectType, grouped_field_set: Any) -> tuple[bool, Any]:
        """(every field has a plan, [(response name, field details, plan)]) of a grouped field
        set; kept with the set itself for this execution (graphql-core memoizes the sets of
        sub-selections per execution, so a list's items share one)."""
        cache: dict[int, Any] = self.__dict__.setdefault("_hub_plans", {})
        key = id(grouped_field_set)
        found = cache.get(key)
        if found is not None and found[0] is grouped_field_set:
            return found[1]
        get_field = self.schema.get_field
        entries = []
        for response_name, details in grouped_field_set.items():
            node = details[0].node
            name = node.name.value
            plan: Any = None
            if name == _TYPENAME:
                plan = _TYPENAME
            elif not node.arguments:
                field_def = get_field(parent_type, name)
                plan = field_plan(field_def) if field_def is not None else None
            entries.append((response_name, details, plan))
        planned = (all(e[2] is not None for e in entries), entries)
        cache[key] = (grouped_field_set, planned)
        return planned

    def _complete(self, plan: tuple[int, str, Any, bool], source: Any, details: Any) -> Any:
        """The field's completed value, or Undefined for "take the normal way"."""
        kind, attribute, of, non_null = plan
        try:
            value = getattr(source, attribute)
        except Exception:  # the normal way raises it again, located, as graphql-core reports it
            return Undefined
        if value is None:
            return Undefined if non_null else None
        if kind == LEAF:
            return _coerce(of, value)
        if kind == OBJECT:
            return self._object(of, value, details)
        if type(value) is not list and type(value) is not tuple:
            return Undefined  # iterators, async iterables, non-lists: graphql-core's way
        item_kind, item_type, item_non_null = of
        out: list[Any] = []
        append = out.append
        for item in value:
            if item is None:
                if item_non_null:
                    return Undefined
                append(None)
                continue
            if item_kind == LEAF:
                completed = _coerce(item_type, item)
            else:
                completed = self._object(item_type, item, details)
            if completed is Undefined:
                return Undefined
            append(completed)
        return out

    def _object(self, object_type: GraphQLObjectType, value: Any, details: Any) -> Any:
        """A plain object's sub-selection completed whole here, or Undefined."""
        if isinstance(value, Exception):
            return Undefined
        grouped, defers, _forbidden = self.collect_subfields(object_type, details)
        if defers:
            return Undefined
        complete, entries = self._plans(object_type, grouped)
        if not complete:
            return Undefined
        results: dict[str, Any] = {}
        for response_name, sub_details, plan in entries:
            if plan is _TYPENAME:
                results[response_name] = object_type.name
                continue
            completed = self._complete(plan, value, sub_details)
            if completed is Undefined:
                return Undefined
            results[response_name] = completed
        return results


def _has_middleware(context: Any) -> bool:
    """strawberry always passes a manager; one without middlewares wraps no resolver."""
    manager = context.middleware_manager
    return manager is not None and bool(manager.middlewares)


def _coerce(leaf: Any, value: Any) -> Any:
    if isinstance(value, Exception):
        return Undefined
    try:
        coerced = leaf.coerce_output_value(value)
    except Exception:  # the normal way raises it again, located, as graphql-core reports it
        return Undefined
    return Undefined if coerced is None or coerced is Undefined else coerced


def _merge(results: dict[str, Any], slow: dict[str, Any]) -> dict[str, Any]:
    for name, value in slow.items():
        results[name] = value
    # a field the normal way left out (an unknown field) is left out here too
    return {k: v for k, v in results.items() if v is not Undefined}
