"""The step-confidence trainer (MMBoundary: SFT on stated greedy responses, then GRPO with step rewards): a few real
steps on the tiny model state confidences in the warm-up targets, change the parameters, and log every reward."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from catts_graph.benchmarks import load_benchmark
from nodes.steps import STATEMENT, SUMMARY
from trainers.boundary.config import BoundaryGRPOConfig
from trainers.boundary.trainer import internal_scores, train_boundary
from trainers.cdrl.data import PairNoise, build_pairs

REWARDS = ("StepCorrectnessReward", "StatedCalibrationReward", "InternalAgreementReward")


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory, quick_smoke_model: Path) -> tuple[Path, Path]:
    root, model = tmp_path_factory.mktemp("boundary"), quick_smoke_model
    build_pairs(load_benchmark("shapes:100", limit=4).items, root / "pairs", PairNoise(level=1.0, region="objects"))
    return model, root / "pairs"


def config(out: Path, **overrides: object) -> BoundaryGRPOConfig:
    settings: dict = {"output_dir": str(out), "num_generations": 2, "per_device_train_batch_size": 2, "max_steps": 2,
                      "max_completion_length": 24, "learning_rate": 1e-3, "logging_steps": 1, "report_to": "none",
                      "save_strategy": "no", "use_cpu": True, "seed": 0, "sft_items": 4}  # fmt: skip
    return BoundaryGRPOConfig(**{**settings, **overrides})


def test_internal_scores_rank_an_unsure_step_below_a_sure_one() -> None:
    tokens = ["red", " circle,", " blue", " square.", " \\boxed{", "2", "}"]
    logprobs = [-0.01, -0.01, -2.0, -1.5, -0.01, -0.05, 0.0]
    top = [[lp, -6.0] for lp in logprobs]
    scores = internal_scores(tokens, logprobs, top, "clauses")
    assert len(scores) == 3 and scores[1] < scores[0] and all(0 <= s <= 1 for s in scores)


def test_warm_up_then_grpo_trains_and_logs_every_reward(setup: tuple[Path, Path], tmp_path: Path) -> None:
    model_dir, pairs = setup
    before = load_file(str(model_dir / "model.safetensors"))
    run = config(tmp_path / "run", sft_steps=2, eval_strategy="steps", eval_steps=2, per_device_eval_batch_size=2)
    out = train_boundary(model_dir, pairs, tmp_path / "out", run, dev_dir=pairs)
    assert (tmp_path / "out-sft" / "sft_log.jsonl").is_file()
    targets = [json.loads(line) for line in (tmp_path / "out-sft" / "stated_targets.jsonl").read_text().splitlines()]
    assert len(targets) == 4 and all(SUMMARY.search(t["target"]) for t in targets)  # statements after the answer
    assert not any(STATEMENT.search(t["target"]) for t in targets)
    warmed = load_file(str(tmp_path / "out-sft" / "model.safetensors"))  # the warm-up keeps the vision tower
    assert {k for k, v in before.items() if torch.equal(v, warmed[k])} == {k for k in before if "visual." in k}
    after = load_file(str(out / "model.safetensors"))
    assert [k for k, v in before.items() if torch.equal(v, after[k]) and "visual." not in k] == []
    logged = [json.loads(line) for line in (out / "boundary_log.jsonl").read_text().splitlines()]
    for name in REWARDS:
        values = [row[f"rewards/{name}/mean"] for row in logged if f"rewards/{name}/mean" in row]
        assert values and all(math.isfinite(v) and 0.0 <= v <= 1.0 for v in values), name
    dev = [row for row in logged if "eval_step_correctness" in row]
    assert dev and all(0.0 <= row["eval_stated_calibration"] <= 1.0 for row in dev)


BASE: dict = {"output_dir": "x", "num_generations": 2, "per_device_train_batch_size": 2, "use_cpu": True}


def test_config_checks_say_what_to_set() -> None:
    with pytest.raises(ValueError, match="step_splitter"):
        BoundaryGRPOConfig(**BASE, step_splitter="words")
    with pytest.raises(ValueError, match="sft_steps"):
        BoundaryGRPOConfig(**BASE, sft_steps=-1)
    with pytest.raises(ValueError, match="sft_items"):
        BoundaryGRPOConfig(**BASE, sft_items=0)
    with pytest.raises(ValueError, match="statement_placement"):
        BoundaryGRPOConfig(**BASE, statement_placement="middle")
    with pytest.raises(ValueError, match="sft_learning_rate"):
        BoundaryGRPOConfig(**BASE, sft_learning_rate=0.0)
