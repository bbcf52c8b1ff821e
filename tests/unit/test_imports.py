"""`import catts_graph` and `import nodes` stay light: no torch, and `nodes` never imports `catts_graph`."""

from __future__ import annotations

import subprocess
import sys


def _modules_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print('\\n'.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    return set(out.split())


def test_catts_graph_does_not_import_torch() -> None:
    modules = _modules_after("import catts_graph, catts_graph.cli")
    assert "torch" not in modules and "transformers" not in modules and "vllm" not in modules


def test_nodes_imports_neither_torch_nor_catts_graph() -> None:
    modules = _modules_after("import nodes")
    assert "torch" not in modules
    assert not any(m == "catts_graph" or m.startswith("catts_graph.") for m in modules)
