"""The grounding trainer (SFT warm-up, then GRPO on the CDRL trainer's code path): a few real steps on the tiny
model change the parameters, log every grounding reward finite, add the dev box IoU, and can add CDRL's rewards."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from catts_graph.benchmarks import load_benchmark
from catts_graph.shapes.bundled import BUNDLED_BOX_FRAME, bundled_model
from nodes.errors import InvalidInputError
from nodes.grounding import BoxFrame
from trainers.cdrl.data import PairNoise, build_pairs
from trainers.grounding.config import GroundingGRPOConfig
from trainers.grounding.trainer import grounded_examples, processor_frame, train_grounding
from trainers.shapes.location import add_location_tokens

REWARDS = ("grounded_format_reward", "caption_reward", "BoxReward", "accuracy_reward")


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory, quick_smoke_model: Path) -> tuple[Path, Path]:
    root, model = tmp_path_factory.mktemp("grounding"), quick_smoke_model
    build_pairs(load_benchmark("shapes:100", limit=4).items, root / "pairs", PairNoise(level=1.0, region="objects"))
    return model, root / "pairs"


def config(out: Path, **overrides: object) -> GroundingGRPOConfig:
    settings: dict = {"output_dir": str(out), "num_generations": 2, "per_device_train_batch_size": 2, "max_steps": 2,
                      "max_completion_length": 24, "learning_rate": 1e-3, "logging_steps": 1, "report_to": "none",
                      "save_strategy": "no", "use_cpu": True, "seed": 0}  # fmt: skip
    return GroundingGRPOConfig(**{**settings, **overrides})


def test_warm_up_then_grpo_trains_and_logs_every_reward(setup: tuple[Path, Path], tmp_path: Path) -> None:
    model_dir, pairs = setup
    before = load_file(str(model_dir / "model.safetensors"))
    run = config(tmp_path / "run", sft_steps=2, eval_strategy="steps", eval_steps=2, per_device_eval_batch_size=2)
    out = train_grounding(model_dir, pairs, tmp_path / "out", run, dev_dir=pairs)
    assert (tmp_path / "out-sft" / "sft_log.jsonl").is_file()
    after = load_file(str(out / "model.safetensors"))
    assert [k for k, v in before.items() if torch.equal(v, after[k])] == []
    logged = [json.loads(line) for line in (out / "grounding_log.jsonl").read_text().splitlines()]
    for name in REWARDS:
        values = [row[f"rewards/{name}/mean"] for row in logged if f"rewards/{name}/mean" in row]
        assert values and all(math.isfinite(v) and 0.0 <= v <= 1.0 for v in values), name
    assert not any("cdrl/clean_confidence" in row for row in logged)  # no reward reads C: none computed
    dev = [row for row in logged if "eval_iou" in row]
    assert dev and all(0.0 <= row["eval_iou"] <= 1.0 and 0.0 <= row["eval_well_formed"] <= 1.0 for row in dev)


def test_a_run_can_add_the_cdrl_rewards(setup: tuple[Path, Path], tmp_path: Path) -> None:
    model_dir, pairs = setup
    out = train_grounding(model_dir, pairs, tmp_path / "out", config(tmp_path / "run", with_cdrl_rewards=True))
    logged = [json.loads(line) for line in (out / "grounding_log.jsonl").read_text().splitlines()]
    keys = set().union(*logged)
    assert {"rewards/PerceptionReward/mean", "rewards/CalibrationReward/mean", "cdrl/confidence_drop"} <= keys
    assert {f"rewards/{name}/mean" for name in REWARDS} <= keys


def test_the_box_frame_is_read_from_the_processor(setup: tuple[Path, Path]) -> None:
    model_dir, _ = setup
    assert processor_frame(model_dir, "resized").input_size(112, 112) == (112, 112)  # the smoke model reads 112 px
    bundled = processor_frame(bundled_model("shapes-base"), "resized")
    assert bundled == BUNDLED_BOX_FRAME and bundled.input_size(112, 112) == (224, 224)  # the bundled ones, 224 px
    assert processor_frame(model_dir, "normalized").input_size(112, 112) == (1000, 1000)


def test_a_location_token_model_warms_up_and_trains_on_its_own_bins(setup: tuple[Path, Path], tmp_path: Path) -> None:
    model_dir, pairs = setup
    located = add_location_tokens(model_dir, tmp_path / "located", bins=8)
    assert processor_frame(located, "location") == BoxFrame.location_bins(8)
    with pytest.raises(ValueError, match="no location tokens"):
        processor_frame(model_dir, "location")
    examples = grounded_examples(pairs, BoxFrame.location_bins(8), location_tokens=True)(random.Random(0))
    assert "<loc_" in next(ex for ex in examples if "<bbox></bbox>" not in ex.answer).answer
    out = train_grounding(
        located, pairs, tmp_path / "out", config(tmp_path / "run", sft_steps=2, box_frame="location")
    )
    logged = [json.loads(line) for line in (out / "grounding_log.jsonl").read_text().splitlines()]
    assert any(math.isfinite(row.get("rewards/BoxReward/mean", math.nan)) for row in logged)


def test_pairs_without_boxes_are_refused_before_training(tmp_path: Path, setup: tuple[Path, Path]) -> None:
    model_dir, pairs = setup
    bare = tmp_path / "bare"
    bare.mkdir()
    lines = [json.loads(line) for line in (pairs / "pairs.jsonl").read_text().splitlines()]
    (bare / "pairs.jsonl").write_text("".join(json.dumps({**r, "boxes": None}) + "\n" for r in lines))
    (bare / "images").symlink_to(pairs / "images")
    with pytest.raises(InvalidInputError, match="no evidence boxes"):
        train_grounding(model_dir, bare, tmp_path / "out", config(tmp_path / "run"))


BASE: dict = {"output_dir": "x", "num_generations": 2, "per_device_train_batch_size": 2, "use_cpu": True}


def test_config_checks_say_what_to_set() -> None:
    with pytest.raises(ValueError, match="box_frame"):
        GroundingGRPOConfig(**BASE, box_frame="pixels")
    with pytest.raises(ValueError, match="sft_steps"):
        GroundingGRPOConfig(**BASE, sft_steps=-1)
