"""Dependencies run one way, nodes <- catts_graph <- trainers, with no import cycle between modules or packages.

Read from the source (every `import` and `from ... import`, at module level or inside functions alike: a lazy import
is still a dependency), so a cycle or a wrong-way import fails here before it fails at run time. The one exception:
`catts_graph` may reach `trainers` inside functions of `catts_graph.cli` (the commands that train). Imports under
`if TYPE_CHECKING:` are annotations, not dependencies. Cycles are checked between modules and between subpackages.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("nodes", "catts_graph", "trainers")
LAYER = {name: rank for rank, name in enumerate(PACKAGES)}  # a package may import only from ranks <= its own


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def sources() -> dict[str, Path]:
    return {module_name(p): p for package in PACKAGES for p in sorted((ROOT / package).rglob("*.py"))}


def imports(path: Path, module: str) -> Iterator[tuple[str, int, bool]]:
    """(imported module, line, at module level) for every project import in `path` outside `if TYPE_CHECKING:`."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    top_level = {id(node) for node in tree.body}
    typing_only = {
        id(n)
        for node in tree.body
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for n in ast.walk(node)
    }
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names = [base] + [f"{base}.{alias.name}" for alias in node.names]
        for name in names:
            if name.split(".")[0] in LAYER:
                yield name, node.lineno, id(node) in top_level


def resolve(name: str, known: dict[str, Path]) -> str | None:
    """The project module `name` refers to (a `from pkg import symbol` names the package)."""
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


def test_packages_import_only_downward() -> None:
    known, wrong = sources(), []
    for module, path in known.items():
        own = LAYER[module.split(".")[0]]
        for name, line, at_top in imports(path, module):
            other = LAYER[name.split(".")[0]]
            lazy_training = module.startswith("catts_graph.cli") and name.startswith("trainers") and not at_top
            if other > own and not lazy_training:
                wrong.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    assert wrong == [], "imports against nodes <- catts_graph <- trainers:\n" + "\n".join(wrong)


def dependency_graph(depth: int | None) -> dict[str, set[str]]:
    """Module -> the project modules it imports (depth None), or the same between names cut to `depth` parts
    (``catts_graph.graph.builder`` -> ``catts_graph.graph`` at depth 2)."""
    known = sources()

    def cut(name: str) -> str:
        return ".".join(name.split(".")[:depth]) if depth else name

    graph: dict[str, set[str]] = {cut(m): set() for m in known}
    for module, path in known.items():
        for name, _, _ in imports(path, module):
            target = resolve(name, known)
            if target is None or (module.startswith("catts_graph.cli") and target.startswith("trainers")):
                continue  # the commands that train: the one allowed upward edge
            source, target = cut(module), cut(target)
            if target != source and not source.startswith(f"{target}."):  # a package re-exporting its own modules
                graph[source].add(target)
    return graph


@pytest.mark.parametrize("depth", [None, 2], ids=["modules", "subpackages"])
def test_no_import_cycles(depth: int | None) -> None:
    cycle = find_cycle(dependency_graph(depth))
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


@pytest.mark.parametrize(
    ("graph", "cycle"),
    [({"a": {"b"}, "b": {"a"}}, ["a", "b", "a"]), ({"a": {"b"}, "b": {"c"}, "c": set()}, None)],
)
def test_the_cycle_finder_finds_cycles(graph: dict[str, set[str]], cycle: list[str] | None) -> None:
    assert find_cycle(graph) == cycle
