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

import math
from collections.abc import Callable
from datetime import datetime
from typing import Any

from graphql.pyutils import Path
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.types.field import StrawberryField

from graphql import (
    GraphQLBoolean,
    GraphQLEnumType,
    GraphQLField,
    GraphQLFloat,
    GraphQLID,
    GraphQLInt,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLString,
    Undefined,
)

# A field's plan, worked out once per field of the schema (None: the normal way):
#   (LEAF, attribute, the leaf's coercer (see coercer), non-null)
#   (OBJECT, attribute, object type, non-null)
#   (LIST, attribute, (item plan kind, item coercer or object type, item non-null), non-null)
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
        return LEAF, attribute, coercer(kind), non_null
    if _plain_object(kind):
        return OBJECT, attribute, kind, non_null
    if isinstance(kind, GraphQLList):
        item, item_non_null = _unwrap(kind.of_type)
        if isinstance(item, (GraphQLScalarType, GraphQLEnumType)):
            return LIST, attribute, (LEAF, coercer(item), item_non_null), non_null
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
            return of(value)
        if kind == OBJECT:
            entries = self._object_entries(of, details)
            return Undefined if entries is None else self._fill(of, entries, value)
        if type(value) is not list and type(value) is not tuple:
            return Undefined  # iterators, async iterables, non-lists: graphql-core's way
        item_kind, item_of, item_non_null = of
        if item_kind == OBJECT:  # the sub-selection's plans once for the whole list
            entries = self._object_entries(item_of, details)
            if entries is None:
                return Undefined
        out: list[Any] = []
        append = out.append
        for item in value:
            if item is None:
                if item_non_null:
                    return Undefined
                append(None)
                continue
            completed = item_of(item) if item_kind == LEAF else self._fill(item_of, entries, item)
            if completed is Undefined:
                return Undefined
            append(completed)
        return out

    def _object_entries(self, object_type: GraphQLObjectType, details: Any) -> Any:
        """The plans of a plain object's sub-selection, or None if some field has none; kept
        per (type, field details) for this execution: every item of a list asks again."""
        cache: dict[int, Any] | None = self.__dict__.get("_hub_entries")
        if cache is None:
            cache = self.__dict__["_hub_entries"] = {}
        found = cache.get(id(details))
        if found is not None and found[0] is details and found[1] is object_type:
            return found[2]
        grouped, defers, _forbidden = self.collect_subfields(object_type, details)
        complete, entries = self._plans(object_type, grouped)
        result = _flat(object_type, entries) if complete and not defers else None
        cache[id(details)] = (details, object_type, result)  # held: its id is not reused
        return result

    def _fill(self, object_type: GraphQLObjectType, entries: Any, value: Any) -> Any:
        """A plain object's sub-selection completed whole here, or Undefined. Leaves are
        completed inline (the same steps as _complete): a page has about a thousand."""
        if isinstance(value, Exception):
            return Undefined
        results: dict[str, Any] = {}
        for response_name, sub_details, kind, attribute, of, non_null, plan in entries:
            if kind != LEAF:
                completed = (
                    of if kind == _TYPENAME_KIND else self._complete(plan, value, sub_details)
                )
            else:
                try:
                    completed = getattr(value, attribute)
                except Exception:  # the normal way raises it again, located
                    return Undefined
                if completed is None:
                    if non_null:
                        return Undefined
                else:
                    completed = of(completed)
            if completed is Undefined:
                return Undefined
            results[response_name] = completed
        return results


_TYPENAME_KIND = -1


def _flat(object_type: GraphQLObjectType, entries: Any) -> list[tuple[Any, ...]]:
    """A sub-selection's entries for _fill: (response name, details, kind, attribute, leaf
    coercer / object type / the type's name for __typename, non-null, plan)."""
    flat: list[tuple[Any, ...]] = []
    for response_name, details, plan in entries:
        if plan is _TYPENAME:
            flat.append((response_name, details, _TYPENAME_KIND, "", object_type.name, True, plan))
        else:
            flat.append((response_name, details, *plan, plan))
    return flat


def _has_middleware(context: Any) -> bool:
    """strawberry always passes a manager; one without middlewares wraps no resolver."""
    manager = context.middleware_manager
    return manager is not None and bool(manager.middlewares)


Coercer = Callable[[Any], Any]


def _general(leaf: Any) -> Coercer:
    """The leaf's own coercion; Undefined where graphql-core would fail or give null."""

    def coerce(value: Any) -> Any:
        if isinstance(value, Exception):
            return Undefined
        try:
            coerced = leaf.coerce_output_value(value)
        except Exception:  # the normal way raises it again, located, as graphql-core reports it
            return Undefined
        return Undefined if coerced is None or coerced is Undefined else coerced

    return coerce


def _exact(kind: type, general: Coercer) -> Coercer:
    """A value of exactly this type is its own output (graphql-core's serialize_string, _id,
    _boolean return it unchanged); anything else goes the leaf's general way."""
    return lambda value: value if type(value) is kind else general(value)


def _int(general: Coercer) -> Coercer:
    return lambda value: (
        value if type(value) is int and -(2**31) <= value < 2**31 else general(value)
    )


def _float(general: Coercer) -> Coercer:
    return lambda value: value if type(value) is float and math.isfinite(value) else general(value)


def _datetime(general: Coercer) -> Coercer:
    return lambda value: value.isoformat() if type(value) is datetime else general(value)


def _enum(leaf: Any, general: Coercer) -> Coercer:
    """strawberry's enum coercion compares the value with each member's value in turn; a
    member of exactly the enum's class is looked up by identity here, to the same name."""
    cls = leaf.wrapped_cls
    names = {}
    for member in cls:
        name = general(member)
        if name is not Undefined:
            names[member] = name

    def coerce(value: Any) -> Any:
        name = names.get(value) if type(value) is cls else None
        return name if name is not None else general(value)

    return coerce


def coercer(leaf: Any) -> Coercer:
    """What completes a leaf's value: its exact, common types first (a str for String, a
    member for an enum), the leaf's own coercion otherwise (same output, same failures)."""
    general = _general(leaf)
    exact = {GraphQLString: str, GraphQLID: str, GraphQLBoolean: bool}
    if leaf in exact:
        return _exact(exact[leaf], general)
    if leaf is GraphQLInt:
        return _int(general)
    if leaf is GraphQLFloat:
        return _float(general)
    if isinstance(leaf, GraphQLScalarType) and _is_isoformat(leaf.coerce_output_value):
        return _datetime(general)
    if isinstance(leaf, GraphQLEnumType) and isinstance(getattr(leaf, "wrapped_cls", None), type):
        return _enum(leaf, general)
    return general


def _is_isoformat(serialize: Any) -> bool:
    """strawberry's DateTime (and Date, Time) serialize with methodcaller("isoformat")."""
    return repr(serialize) == "operator.methodcaller('isoformat')"


def _merge(results: dict[str, Any], slow: dict[str, Any]) -> dict[str, Any]:
    for name, value in slow.items():
        results[name] = value
    # a field the normal way left out (an unknown field) is left out here too
    return {k: v for k, v in results.items() if v is not Undefined}
