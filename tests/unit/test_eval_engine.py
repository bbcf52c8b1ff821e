"""`catts eval --engine`: the harness on an in-process transformers model, where the decode-form self-check runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from trainers.shapes.smoke import make_smoke_model


def test_eval_in_process_compares_both_self_check_forms(tmp_path: Path) -> None:
    model = make_smoke_model(tmp_path / "smoke", steps=20).out_dir
    for form in ("score", "decode"):
        out = tmp_path / form
        command = [sys.executable, "-m", "catts_graph", "eval", "--engine", str(model), "--benchmark", "shapes",
                   "--limit", "2", "--methods", "greedy,catts[sc+check]", "--n", "2", "--max-tokens", "16",
                   "--self-check-form", form, "--out", str(out)]  # fmt: skip
        result = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
        assert result.returncode == 0, result.stderr[-2000:]
        lines = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
        assert {(line["method"], line["n"]) for line in lines} == {("greedy", 1), ("catts[sc+check]", 2)}
        run = json.loads((out / "run.json").read_text())
        assert run["settings"]["config"]["self_check"]["form"] == form and run["model"].startswith("in-process")
