"""`catts eval --engine`: the harness on an in-process transformers model, where the decode-form self-check runs."""

from __future__ import annotations

import json
from pathlib import Path

from in_process import catts


def test_eval_in_process_compares_both_self_check_forms(tiny_model_dir: Path, tmp_path: Path) -> None:
    for form in ("score", "decode"):
        out = tmp_path / form
        result = catts("eval", "--engine", str(tiny_model_dir), "--benchmark", "shapes", "--limit", "2",
                       "--methods", "greedy,catts[sc+check]", "--n", "2", "--max-tokens", "16",
                       "--self-check-form", form, "--out", str(out))  # fmt: skip
        assert result.returncode == 0, result.stderr[-2000:]
        lines = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
        assert {(line["method"], line["n"]) for line in lines} == {("greedy", 1), ("catts[sc+check]", 2)}
        run = json.loads((out / "run.json").read_text())
        assert run["settings"]["config"]["self_check"]["form"] == form and run["model"].startswith("in-process")
