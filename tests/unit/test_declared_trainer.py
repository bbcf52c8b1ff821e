"""CDRL on a declared answer confidence: the warm-up teaches the tiny model to declare one after its answer, a few
GRPO steps change the parameters with finite rewards, and the graph reads the statement back."""

from __future__ import annotations

import asyncio
import json
import math
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from catts_graph.benchmarks import load_benchmark
from nodes.stated import ANSWER_STATEMENT, stated_answer_confidence, statement_position
from trainers.cdrl.data import PairNoise, build_pairs
from trainers.declared.config import DeclaredCDRLConfig
from trainers.declared.trainer import expected_declared, train_declared, views_dataset

REWARDS = ("declared_accuracy", "DeclaredCalibration", "DeclaredPerception")


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory, quick_smoke_model: Path) -> tuple[Path, Path]:
    root, model = tmp_path_factory.mktemp("declared"), quick_smoke_model
    build_pairs(load_benchmark("shapes:100", limit=4).items, root / "pairs", PairNoise(level=1.0, region="objects"))
    return model, root / "pairs"


def config(out: Path, **overrides: object) -> DeclaredCDRLConfig:
    settings: dict = {"output_dir": str(out), "num_generations": 2, "per_device_train_batch_size": 4, "max_steps": 2,
                      "max_completion_length": 40, "learning_rate": 1e-3, "logging_steps": 1, "report_to": "none",
                      "save_strategy": "no", "use_cpu": True, "seed": 0, "sft_items": 4, "temperature": 0.3,
                      "perception_beta": 2.0}  # fmt: skip
    return DeclaredCDRLConfig(**{**settings, **overrides})


def test_the_statement_digit_is_found_token_by_token() -> None:
    tokens = ["two", ". \\boxed{", "2", "}", " (answer confidence:", " ", "7", "/10)"]
    assert statement_position(tokens) == 6
    assert statement_position(["\\boxed{2}", " (answer confidence: 7/10)"]) is None  # the digit shares a token
    assert statement_position(["\\boxed{2}"]) is None
    sure = torch.full((12,), -30.0)  # (V,)
    sure[9] = 0.0  # all mass on digit "7" (token id 9 of ids 2..11)
    assert expected_declared(sure, list(range(2, 12))) == pytest.approx(0.75)


def test_views_dataset_has_both_views_with_their_twins(setup: tuple[Path, Path]) -> None:
    _, pairs = setup
    rows = views_dataset(pairs)
    assert len(rows) == 8 and rows["view"] == ["clean", "noised"] * 4
    assert rows[1]["id"] == rows[0]["id"] + ":noised"
    assert list(rows[0]["image"].getdata()) == list(rows[1]["twin_image"].getdata())
    assert len(views_dataset(pairs, noised=False)) == 4


def test_warm_up_then_grpo_trains_with_finite_rewards_and_the_graph_reads_the_statement(
    setup: tuple[Path, Path], tmp_path: Path
) -> None:
    model_dir, pairs = setup
    before = load_file(str(model_dir / "model.safetensors"))
    run = config(tmp_path / "run", sft_steps=30, sft_learning_rate=3e-3)
    out = train_declared(model_dir, pairs, tmp_path / "out", run)
    warm = tmp_path / "out-sft"
    targets = [json.loads(line) for line in (warm / "declared_targets.jsonl").read_text().splitlines()]
    assert len(targets) == 4 and all(ANSWER_STATEMENT.search(t["target"]) for t in targets)
    assert set(json.loads((warm / "answer_score.json").read_text())) == {"signals", "weights", "bias"}
    after = load_file(str(out / "model.safetensors"))
    assert [k for k, v in before.items() if torch.equal(v, after[k]) and "visual." not in k] == []
    logged = [json.loads(line) for line in (out / "declared_log.jsonl").read_text().splitlines()]
    for name in REWARDS:
        values = [row[f"rewards/{name}/mean"] for row in logged if f"rewards/{name}/mean" in row]
        assert values and all(math.isfinite(v) for v in values), name
    assert any(row.get("declared/declares", 0) > 0 for row in logged)  # the rollouts declare after the warm-up
    from catts_graph import create_catts_graph
    from catts_graph.serving.engine import TransformersEngine
    from nodes.config import CATTSConfig, CriticConfig, SamplingConfig, SelfCheckConfig

    graph = create_catts_graph(
        TransformersEngine(warm),
        config=CATTSConfig(
            sampling=SamplingConfig(n=1, temperature=0.0, max_tokens=40),
            critic=CriticConfig(enabled=False),
            self_check=SelfCheckConfig(enabled=False),
        ),
    )
    item = load_benchmark("shapes:100", limit=1).items[0]
    result = asyncio.run(graph.ainvoke({"question": item.question, "images": [item.image]}))
    assert result["settings"]["confidence"]["source"] == "stated"
    stated = [s["stated_confidence"] for s in result["samples"]]
    assert all(math.isfinite(v) for v in stated)
    assert stated == [stated_answer_confidence(s["text"]) for s in result["samples"]]


BASE: dict = {"output_dir": "x", "num_generations": 2, "per_device_train_batch_size": 2, "use_cpu": True}


@pytest.mark.parametrize(
    ("field", "value"),
    [("sft_steps", -1), ("sft_items", 1), ("sft_learning_rate", 0.0), ("calibration_weight", -1.0)],
)
def test_config_checks_say_what_to_set(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field):
        DeclaredCDRLConfig(**BASE, **{field: value})
