"""The package's import structure, read with the ast module: no import circle among harmony_sim's
modules, and imports inside functions only for heavy optional dependencies."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "harmony_sim"
# Imported where they are used so a run without them (or a CLI call that needs none) still works.
LAZY_ALLOWED = {"ray", "torchvision", "mlxtend", "pynvml", "torch.utils.tensorboard"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imported_names(tree: ast.AST) -> Iterator[tuple[ast.AST, str]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from ((node, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node, node.module
            yield from ((node, f"{node.module}.{alias.name}") for alias in node.names)


def dependencies(module: str) -> set[str]:
    """Every harmony_sim module `module` makes Python run: the imported module and the package
    __init__ files above it (those of `module`'s own packages excepted), TYPE_CHECKING included."""
    found = set()
    for _, name in imported_names(ast.parse(MODULES[module].read_text())):
        if not name.startswith("harmony_sim"):
            continue
        parts = name.split(".")
        for end in range(2, len(parts) + 1):
            target = ".".join(parts[:end])
            if (target in MODULES and target != module
                    and not module.startswith(target + ".")):
                found.add(target)
    return found


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                item = stack.pop()
                on_stack.discard(item)
                component.append(item)
                if item == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


def test_finds_a_planted_cycle() -> None:
    assert import_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert import_cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_circle_among_harmony_sim_modules() -> None:
    graph = {module: dependencies(module) for module in MODULES}
    assert len(graph) > 50  # the walk found the package
    assert import_cycles(graph) == []


def test_imports_inside_functions_are_heavy_optional_dependencies_only() -> None:
    lazy = []
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text())
        for function in ast.walk(tree):
            if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node, name in imported_names(function):
                if isinstance(node, ast.ImportFrom) and name != node.module:
                    continue  # judged by the module it imports from
                if not any(name == allowed or name.startswith(allowed + ".")
                           for allowed in LAZY_ALLOWED):
                    lazy.append(f"{module}: {name}")
    assert lazy == []
