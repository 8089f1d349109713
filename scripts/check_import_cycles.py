"""Fail when first-party modules import each other in a cycle, counting every import.

import-linter's layers contract (pyproject.toml) keeps packages in order; this check covers what
it does not: a loop inside one package, or one held apart by an import placed inside a function
or under TYPE_CHECKING. grimp (import-linter's own graph builder) sees all of them.

    .venv/bin/python scripts/check_import_cycles.py [package ...]      (default: platform_monitoring localdev)
"""

from __future__ import annotations

import sys
from collections.abc import Mapping

import grimp


def reachable(graph: Mapping[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    todo = list(graph.get(start, ()))
    while todo:
        module = todo.pop()
        if module not in seen:
            seen.add(module)
            todo.extend(graph.get(module, ()))
    return seen


def cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """The groups of modules that import one another, directly or not (a few hundred modules: the
    plain reachability of each is fast enough and easier to read than Tarjan's algorithm)."""
    reach = {module: reachable(graph, module) for module in graph}
    groups: dict[frozenset[str], None] = {}
    for module in sorted(graph):
        if module in reach[module]:
            groups[frozenset(other for other in reach[module] if module in reach[other])] = None
    return [sorted(group) for group in groups]


def import_graph(packages: list[str]) -> dict[str, set[str]]:
    built = grimp.build_graph(*packages, include_external_packages=False, cache_dir=None)
    return {module: set(built.find_modules_directly_imported_by(module)) for module in built.modules}


def main(argv: list[str]) -> int:
    packages = argv or ["platform_monitoring", "localdev"]
    graph = import_graph(packages)
    found = cycles(graph)
    for cycle in found:
        print("import cycle: " + " <-> ".join(cycle), file=sys.stderr)
    print(f"check-import-cycles: {len(graph)} modules, {sum(map(len, graph.values()))} imports, {len(found)} cycles")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
