"""The package graph runs one way (ARCHITECTURE.md): no import cycle between modules or between
packages, counting every import, those inside functions included. So no function-level import
is there to dodge a cycle: each could move to the top of its module without making one.

`from moltgen.pkg import name` counts as importing the module `moltgen.pkg.name` when there is
one, else `moltgen.pkg`. The package's own `__init__` that Python runs first is not counted as
a dependency of each of its modules (as import linters count it)."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

from support import REPO

PACKAGE = REPO / "moltgen"


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(REPO).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def imports(known: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the moltgen modules it imports, anywhere in its body."""
    def owner(name: str) -> str | None:
        while name and name not in known:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = defaultdict(set)
    for module, path in known.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base
                           for a in node.names]
            else:
                continue
            for target in targets:
                found = owner(target) if target.startswith("moltgen") else None
                if found and found != module:
                    graph[module].add(found)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected sets of more than one node (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    nodes = sorted(set(graph) | {t for targets in graph.values() for t in targets})
    for root in nodes:
        if root in index:
            continue
        work = [(root, iter(sorted(graph.get(root, ()))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def package_of(module: str) -> str:
    """`moltgen.check.report.sarif` -> `moltgen.check`; a top-level module is its own."""
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 2 or (PACKAGE / parts[-1]).is_dir() else module


def test_no_module_imports_itself_round_a_cycle():
    assert cycles(imports(modules())) == []


def test_no_package_imports_itself_round_a_cycle():
    graph: dict[str, set[str]] = defaultdict(set)
    for module, targets in imports(modules()).items():
        for target in targets:
            if package_of(module) != package_of(target):
                graph[package_of(module)].add(package_of(target))
    assert cycles(graph) == []


# ARCHITECTURE.md's table, top to bottom: a package imports only those below it.
LAYERS = ["__main__", "cli", "pipeline", "review", "check", "project", "secrets", "render", "tree",
          "kustomize", "kube", "spec", "openclaw", "core"]


def test_every_import_points_down_the_layers():
    upward = []
    for module, targets in imports(modules()).items():
        for target in targets:
            here, there = (package_of(m).removeprefix("moltgen.") for m in (module, target))
            if here != there and LAYERS.index(here) >= LAYERS.index(there):
                upward.append(f"{module} -> {target}")
    assert upward == []


def test_the_cycle_finder_finds_cycles():
    """The two tests above could pass by finding nothing: this one shows they would not."""
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []
    graph = imports(modules())
    assert "moltgen.kustomize.kustomization" in graph["moltgen.kustomize.confine"]
    assert "moltgen.project" in graph["moltgen.cli.app"]  # imported inside a function
