"""The client operations of graphql/operations/, by name."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from graphql import OperationDefinitionNode, parse, print_ast

OPERATIONS_DIR = Path(__file__).resolve().parents[1] / "graphql" / "operations"


@cache
def operations() -> dict[str, str]:
    found: dict[str, str] = {}
    for path in sorted(OPERATIONS_DIR.glob("*.graphql")):
        for node in parse(path.read_text()).definitions:
            if isinstance(node, OperationDefinitionNode) and node.name:
                found[node.name.value] = print_ast(node)
    return found


def op(name: str) -> str:
    return operations()[name]
