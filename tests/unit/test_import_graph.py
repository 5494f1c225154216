"""The hub package's modules import each other without a circle.

A circle works only as long as the modules happen to be first imported in a lucky order (or one
import is hidden inside a function), and it says two modules are one concept cut in two. The
graph is read from the source with `ast`, so imports inside functions count as well; imports
under `if TYPE_CHECKING:` do not (they never run).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

HUB = Path(__file__).resolve().parents[2] / "hub"

Graph = dict[str, set[str]]


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(node: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement under node, at any depth, except under `if TYPE_CHECKING:`."""
    found: list[ast.Import | ast.ImportFrom] = []
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child):
            for other in child.orelse:  # the else branch does run
                found += _imports_of(other)
            continue
        found += _imports_of(child)
    return found


def _imports_of(node: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    if isinstance(node, ast.Import | ast.ImportFrom):
        return [node]
    return _imports(node)


def _absolute(node: ast.ImportFrom, importer: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = importer.split(".")
    base = base[: len(base) - node.level + (1 if is_package else 0)]
    return ".".join(base + ([node.module] if node.module else []))


def targets(node: ast.Import | ast.ImportFrom, importer: str, is_package: bool, known: set[str]):
    """The hub modules one import statement loads: `from hub.x import y` loads hub.x.y when y
    is a module, else hub.x."""
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names if alias.name in known}
    base = _absolute(node, importer, is_package)
    found = {f"{base}.{alias.name}" for alias in node.names} & known
    named_only = [a for a in node.names if f"{base}.{a.name}" not in known]
    if named_only and base in known:
        found.add(base)
    return found


def import_graph(root: Path) -> Graph:
    files = {module_name(p, root): p for p in sorted(root.rglob("*.py"))}
    known = set(files)
    graph: Graph = {}
    for name, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        is_package = path.name == "__init__.py"
        graph[name] = {
            target
            for node in _imports(tree)
            for target in targets(node, name, is_package, known)
            if target != name
        }
    return graph


def cycles(graph: Graph) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm), each
    sorted, plus one concrete circle through each so the failure message can be followed."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def circle(graph: Graph, component: list[str]) -> list[str]:
    """One path that starts and ends at the component's first module, for the message."""
    members, start = set(component), component[0]
    paths: dict[str, list[str]] = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for nxt in sorted(graph[node] & members):
            if nxt == start:
                return paths[node] + [start]
            if nxt not in paths:
                paths[nxt] = paths[node] + [nxt]
                queue.append(nxt)
    raise AssertionError(f"{component} is not a cycle")


def test_the_hub_package_has_no_import_cycle() -> None:
    graph = import_graph(HUB)
    assert "hub.cases.workflow" in graph and "hub.app" in graph  # the walk found the package
    found = [" -> ".join(circle(graph, c)) for c in cycles(graph)]
    assert not found, "import cycles in hub/:\n" + "\n".join(found)


# --- the walker itself, on a small made-up package -------------------------------------------


def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "hub"
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def test_a_cycle_hidden_in_a_function_is_found(tmp_path: Path) -> None:
    root = _package(
        tmp_path,
        {
            "__init__.py": "",
            "a/__init__.py": "",
            "a/service.py": "from hub.b.service import feed\n",
            "b/__init__.py": "",
            "b/service.py": "def feed():\n    from hub.a import service\n",
            "c.py": "import hub.a.service\n",
        },
    )
    graph = import_graph(root)
    assert graph["hub.b.service"] == {"hub.a.service"}
    assert cycles(graph) == [["hub.a.service", "hub.b.service"]]
    assert circle(graph, ["hub.a.service", "hub.b.service"]) == [
        "hub.a.service",
        "hub.b.service",
        "hub.a.service",
    ]


@pytest.mark.parametrize(
    "guarded",
    [
        "if TYPE_CHECKING:\n    from hub.a import service\n",
        "if typing.TYPE_CHECKING:\n    from hub.a.service import feed\n",
    ],
)
def test_imports_only_for_the_type_checker_are_not_edges(tmp_path: Path, guarded: str) -> None:
    root = _package(
        tmp_path,
        {
            "__init__.py": "",
            "a/__init__.py": "",
            "a/service.py": "from hub.b import service\n",
            "b/__init__.py": "",
            "b/service.py": "import typing\nfrom typing import TYPE_CHECKING\n" + guarded,
        },
    )
    graph = import_graph(root)
    assert graph["hub.b.service"] == set()
    assert cycles(graph) == []


def test_a_name_from_a_package_is_an_edge_to_the_package(tmp_path: Path) -> None:
    root = _package(
        tmp_path,
        {
            "__init__.py": "",
            "x.py": "from hub import y, helper\nfrom .z import thing\n",
            "y.py": "",
            "z.py": "",
        },
    )
    assert import_graph(root)["hub.x"] == {"hub", "hub.y", "hub.z"}
