"""The repository's shape, read from the source with `ast` (nothing is imported).

    python -m pytest tests/test_structure.py -q

- packages sit on layers, core < registry < builders | distill < evaluate: a module imports only from
  its own package or a lower layer (function-level imports count too), so builders and distill never
  import each other and nothing imports evaluate;
- no import cycle between modules;
- no product function longer than `MAX_FUNCTION_LINES`, except those listed with a reason;
- every entry point (`python -m <package>`) says in its module docstring how to run it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYER = {"core": 0, "registry": 1, "builders": 2, "distill": 2, "evaluate": 3}
MAX_FUNCTION_LINES = 80
def _modules() -> dict[str, Path]:
    out = {}
    for package in LAYER:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


MODULES = _modules()
TREES = {name: ast.parse(path.read_text(), str(path)) for name, path in MODULES.items()}


def _imports(name: str) -> set[str]:
    """Every module of ours that `name` imports, at any depth of its code (`from a import b` names `a` and,
    when it is a module, `a.b`)."""
    is_package = MODULES[name].name == "__init__.py"
    found = set()
    for node in ast.walk(TREES[name]):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = name.split(".")[: len(name.split(".")) - node.level + is_package]
                base = ".".join(parts + ([node.module] if node.module else []))
            targets = [base] + [f"{base}.{a.name}" for a in node.names]
        else:
            continue
        found.update(t for t in targets if t in MODULES and t != name)
    return found


GRAPH = {name: _imports(name) for name in MODULES}


def test_every_package_is_read():
    assert {name.split(".")[0] for name in MODULES} == set(LAYER)
    assert len(MODULES) > 50


def test_imports_only_go_down_the_layers():
    upward = []
    for name, targets in GRAPH.items():
        package = name.split(".")[0]
        for target in targets:
            other = target.split(".")[0]
            if other != package and LAYER[other] >= LAYER[package]:
                upward.append(f"{name} -> {target}")
    assert upward == [], f"imports that run up or sideways ({' < '.join(LAYER)}): {sorted(upward)}"


def test_no_import_cycles():
    # Tarjan's strongly connected components: any component of more than one module is a cycle.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in GRAPH[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in GRAPH:
        if v not in index:
            visit(v)
    assert cycles == []


def test_functions_are_short():
    long = {}
    for name, tree in TREES.items():
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long[(name, node.name)] = lines
    assert long == {}, f"split these (no product function over {MAX_FUNCTION_LINES} lines): {long}"


@pytest.mark.parametrize("package", ["builders", "registry", "distill", "evaluate"])
def test_entry_points_say_how_to_run(package):
    doc = ast.get_docstring(TREES[f"{package}.__main__"]) or ""
    assert f"python -m {package} " in doc, f"{package}/__main__.py: the docstring shows no command"
