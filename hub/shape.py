"""What one GraphQL document may weigh: depth, aliases and fragment spreads, each fragment
measured once.

strawberry's QueryDepthLimiter and MaxAliasesLimiter walk a fragment again at every spread, so
`fragment F0 { ...F1 ...F1 } ... fragment F20 { me { id } }` (823 bytes) cost 2^21 walks: 6.6 s
of a blocked event loop at 20 levels, minutes at 40. This rule measures every fragment once
(memoised) and adds up what its spreads expand to, so the cost is linear in the document and a
fan-out is refused by its expanded size before anything walks it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from strawberry.extensions import SchemaExtension

from graphql import (
    ArgumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    ListValueNode,
    ObjectFieldNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
    ValidationRule,
)

LIMIT_CODE = "QUERY_TOO_COMPLEX"


@dataclass(frozen=True)
class Limits:
    depth: int
    aliases: int
    spreads: int  # fragment spreads after expansion: a spread of F counts F's own spreads again
    list_items: int  # items of one list argument, written in the document or in the variables


@dataclass(frozen=True)
class Weight:
    """A selection set measured: its field depth (capped just past the limit), its aliases and
    its fragment spreads, both counted as often as execution would meet them."""

    depth: int = 0
    aliases: int = 0
    spreads: int = 0

    def beside(self, other: Weight) -> Weight:
        return Weight(
            max(self.depth, other.depth),
            self.aliases + other.aliases,
            self.spreads + other.spreads,
        )


def static_fragments(document: Any) -> int:
    """Spreads and inline fragments as written (no expansion), counted without recursion."""
    count, stack = 0, list(document.definitions)
    while stack:
        node = stack.pop()
        if isinstance(node, (FragmentSpreadNode, InlineFragmentNode)):
            count += 1
        selection_set = getattr(node, "selection_set", None)
        if isinstance(selection_set, SelectionSetNode):
            stack.extend(selection_set.selections)
    return count


class _Measure:
    """Weights of selection sets; each named fragment is measured once and remembered."""

    def __init__(self, fragments: dict[str, FragmentDefinitionNode], limits: Limits) -> None:
        self.fragments, self.limits = fragments, limits
        self.known: dict[str, Weight] = {}
        self.visiting: set[str] = set()

    def selection_set(self, node: SelectionSetNode) -> Weight:
        total = Weight()
        for selection in node.selections:
            total = total.beside(self.selection(selection))
        return total

    def selection(self, node: Any) -> Weight:
        if isinstance(node, FieldNode):
            return self.field(node)
        if isinstance(node, InlineFragmentNode):
            return self.selection_set(node.selection_set)
        if isinstance(node, FragmentSpreadNode):
            inner = self.fragment(node.name.value)
            return Weight(inner.depth, inner.aliases, inner.spreads + 1)
        return Weight()

    def field(self, node: FieldNode) -> Weight:
        alias = 1 if node.alias else 0
        if node.selection_set is None:
            return Weight(0, alias, 0)
        inner = self.selection_set(node.selection_set)
        # Introspection (__schema, __type) does not count towards depth, as in strawberry's rule:
        # GraphiQL's own introspection query is 13 levels deep.
        capped = min(inner.depth + 1, self.limits.depth + 1)
        depth = 0 if node.name.value.startswith("__") else capped
        return Weight(depth, inner.aliases + alias, inner.spreads)

    def fragment(self, name: str) -> Weight:
        if name in self.known:
            return self.known[name]
        definition = self.fragments.get(name)
        # Unknown fragments and cycles are reported by graphql's own rules; weigh them nothing.
        if definition is None or name in self.visiting:
            return Weight()
        self.visiting.add(name)
        weight = self.selection_set(definition.selection_set)
        self.visiting.discard(name)
        self.known[name] = weight
        return weight


def _refusal(message: str, limit: str, node: Any = None) -> GraphQLError:
    return GraphQLError(message, node, extensions={"code": LIMIT_CODE, "limit": limit})


def shape_rule(limits: Limits) -> type[ValidationRule]:
    """A validation rule refusing documents over the limits, in time linear in their size."""

    class ShapeRule(ValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            self.names: list[str] = []  # the argument and input fields being visited
            for error in _document_errors(context.document, limits):
                context.report_error(error)

        def enter_argument(self, node: ArgumentNode, *_: Any) -> None:
            self.names.append(node.name.value)

        def leave_argument(self, node: ArgumentNode, *_: Any) -> None:
            self.names.pop()

        def enter_object_field(self, node: ObjectFieldNode, *_: Any) -> None:
            self.names.append(node.name.value)

        def leave_object_field(self, node: ObjectFieldNode, *_: Any) -> None:
            self.names.pop()

        def enter_list_value(self, node: ListValueNode, *_: Any) -> None:
            if len(node.values) > limits.list_items:
                name = ".".join(self.names) or "list"
                self.report_error(
                    bad_input(f"{name} 的列表超过 {limits.list_items} 项", name, node)
                )

    return ShapeRule


def bad_input(message: str, field: str, node: Any = None) -> GraphQLError:
    return GraphQLError(message, node, extensions={"code": "BAD_USER_INPUT", "field": field})


def _document_errors(document: Any, limits: Limits) -> list[GraphQLError]:
    # Written fragments first: this bounds the recursion of the measure below.
    if static_fragments(document) > limits.spreads:
        return [_refusal(f"查询的片段超过 {limits.spreads} 个", "spreads")]
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    measure = _Measure(fragments, limits)
    errors: list[GraphQLError] = []
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            name = definition.name.value if definition.name else "anonymous"
            weight = measure.selection_set(definition.selection_set)
            errors.extend(_over_limits(name, weight, limits, definition))
    return errors


def _over_limits(
    name: str, weight: Weight, limits: Limits, node: OperationDefinitionNode
) -> list[GraphQLError]:
    errors = []
    if weight.spreads > limits.spreads:
        errors.append(
            _refusal(f"操作 '{name}' 展开后的片段超过 {limits.spreads} 个", "spreads", node)
        )
    if weight.depth > limits.depth:
        errors.append(_refusal(f"操作 '{name}' 的嵌套深度超过 {limits.depth} 层", "depth", node))
    if weight.aliases > limits.aliases:
        errors.append(_refusal(f"操作 '{name}' 的别名超过 {limits.aliases} 个", "aliases", node))
    return errors


# --- variables --------------------------------------------------------------------------------


def lone_surrogate(text: str) -> bool:
    """True if the text holds half of a UTF-16 pair (JSON's "\\ud800"): no database, log or
    JSON encoder downstream can write it."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def variable_errors(variables: dict[str, Any], limits: Limits) -> list[GraphQLError]:
    """Variables a request may not carry, each named by its path (`filter.tenantCodes`): lists
    longer than the limit, and texts (or keys) with a lone surrogate. Walked without
    recursion: JSON may nest as deep as its decoder let it."""
    errors: list[GraphQLError] = []
    stack: list[tuple[str, Any]] = [(str(k), v) for k, v in variables.items()]
    while stack:
        path, value = stack.pop()
        if lone_surrogate(path):
            errors.append(bad_input("变量名含有无效的 Unicode 字符（孤立的代理项）", "variables"))
        elif isinstance(value, str) and lone_surrogate(value):
            message = f"变量 ${path} 含有无效的 Unicode 字符（孤立的代理项）"
            errors.append(bad_input(message, path))
        elif isinstance(value, list):
            if len(value) > limits.list_items:
                message = f"变量 ${path} 的列表超过 {limits.list_items} 项"
                errors.append(bad_input(message, path))
                continue
            stack.extend((f"{path}.{i}", item) for i, item in enumerate(value))
        elif isinstance(value, dict):
            stack.extend((f"{path}.{key}", item) for key, item in value.items())
    return errors


class VariablesGuard(SchemaExtension):
    """Refuses a request whose variables break the limits before anything coerces or runs them.
    At validation, so that HTTP and WebSocket operations are refused alike, as request errors;
    placed after ValidationCache, whose own errors (already set) are answered first."""

    def __init__(self, limits: Limits) -> None:
        super().__init__()
        self.limits = limits

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        if not context.pre_execution_errors:
            errors = variable_errors(context.variables or {}, self.limits)
            if errors:
                context.pre_execution_errors = errors
        yield
