"""SFT on a tiny real model: labels cover only the answer, and a few steps change every parameter."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from catts_graph.shapes.tiny_vlm import make_tiny_model
from trainers.sft import SFTConfig, collate, learning_rate, sft_train
from trainers.shapes.smoke import shapes_examples

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_model(tmp_path_factory.mktemp("m") / "tiny", seed=0)


def test_labels_cover_only_the_answer_and_end_of_turn(tiny: Path) -> None:
    from transformers import AutoProcessor

    processor = AutoProcessor.from_pretrained(tiny)
    stream = shapes_examples(random.Random(0))
    batch = [next(stream) for _ in range(3)]
    enc = collate(processor, batch)
    for i, example in enumerate(batch):
        labelled = enc["labels"][i][enc["labels"][i] != -100]
        assert processor.tokenizer.decode(labelled) == example.answer + "<|im_end|>"


def test_learning_rate_schedule() -> None:
    config = SFTConfig(steps=100, learning_rate=1.0, warmup_fraction=0.1, min_lr_fraction=0.1)
    assert learning_rate(0, config) == pytest.approx(0.1)
    assert learning_rate(9, config) == pytest.approx(1.0)
    assert learning_rate(99, config) == pytest.approx(0.1, abs=1e-3)


def test_a_few_steps_change_every_parameter_and_lower_the_loss(tiny: Path, tmp_path: Path) -> None:
    import torch
    from transformers import AutoModelForImageTextToText

    result = sft_train(
        tiny,
        shapes_examples,
        tmp_path / "out",
        SFTConfig(steps=30, batch_size=8, learning_rate=3e-3, log_every=1),
        progress=False,
    )
    before = AutoModelForImageTextToText.from_pretrained(tiny).state_dict()
    after = AutoModelForImageTextToText.from_pretrained(result.out_dir).state_dict()
    unchanged = [name for name, p in before.items() if torch.equal(p, after[name]) and p.dtype.is_floating_point]
    assert unchanged == []
    assert result.log[-1]["loss"] < result.log[0]["loss"] / 2
    assert (result.out_dir / "sft_log.jsonl").is_file() and (result.out_dir / "tokenizer.json").is_file()


def test_frozen_parameters_stay_as_loaded(tiny: Path, tmp_path: Path) -> None:
    import torch
    from transformers import AutoModelForImageTextToText

    frozen = ("visual.patch_embed", "visual.blocks")
    config = SFTConfig(steps=3, batch_size=4, learning_rate=3e-3, frozen=frozen)
    result = sft_train(tiny, shapes_examples, tmp_path / "out", config, progress=False)
    before = AutoModelForImageTextToText.from_pretrained(tiny).state_dict()
    after = AutoModelForImageTextToText.from_pretrained(result.out_dir).state_dict()
    changed = {name for name, p in before.items() if p.dtype.is_floating_point and not torch.equal(p, after[name])}
    assert changed and not any(part in name for name in changed for part in frozen)
    assert any("visual.merger" in name for name in changed)  # the projector still trains
    with pytest.raises(ValueError, match="matches no parameter"):
        sft_train(tiny, shapes_examples, tmp_path / "x", SFTConfig(steps=1, frozen=("no_such",)), progress=False)


def test_the_expert_recipe_chains_its_stages_into_one_log_and_one_folder(tiny: Path, tmp_path: Path) -> None:
    import json

    from trainers.shapes.models import train_expert

    result = train_expert(tiny, tmp_path / "expert", stages=((2, 1), (3, 2)), progress=False)
    assert result.out_dir == tmp_path / "expert" and result.steps == 5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["expert"]  # the stage-1 folder is gone
    rows = [json.loads(line) for line in (result.out_dir / "sft_log.jsonl").read_text().splitlines()]
    assert [(r["stage"], r["step"]) for r in rows] == [(1, 0), (1, 1), (2, 2), (2, 4)]
    assert [s["seed"] for s in json.loads((result.out_dir / "sft_config.json").read_text())["stages"]] == [1, 2]
    with pytest.raises(ValueError, match="stages"):
        train_expert(tiny, tmp_path / "x", stages=())
