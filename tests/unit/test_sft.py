"""SFT on a tiny real model: labels cover only the answer, and a few steps change every parameter."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from catts_graph.shapes.tiny_vlm import make_tiny_model
from nodes.stated import with_answer_statement
from trainers.sft import SFTConfig, SFTExample, anchor_kl, collate, learning_rate, sft_train
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


def stated_examples(rng: random.Random) -> Iterator[SFTExample]:
    """Shapes examples with a statement after the answer and the loss on the statement only."""
    for example in shapes_examples(rng):
        target = with_answer_statement(example.answer, rng.random())
        yield SFTExample(example.images, example.messages, target, loss_from=len(example.answer))


def test_loss_from_puts_the_labels_on_the_statement_only(tiny: Path) -> None:
    from transformers import AutoProcessor

    processor = AutoProcessor.from_pretrained(tiny)
    batch = [next(stated_examples(random.Random(seed))) for seed in range(3)]
    plain = next(shapes_examples(random.Random(0)))
    enc = collate(processor, [*batch, plain])
    for i, example in enumerate(batch):
        labelled = enc["labels"][i][enc["labels"][i] != -100]
        assert example.answer[example.loss_from :].startswith(" (answer confidence: ")
        assert processor.tokenizer.decode(labelled) == example.answer[example.loss_from :] + "<|im_end|>"
        assert enc["attention_mask"][i].sum() > len(labelled) + 10  # the prompt and the response are context
        response = enc["input_ids"][i][enc["answer_context"][i] == 1]  # what the anchor holds to the start model
        assert processor.tokenizer.decode(response) == example.answer[: example.loss_from]
    labelled = enc["labels"][3][enc["labels"][3] != -100]  # an example without loss_from: the whole answer
    assert processor.tokenizer.decode(labelled) == plain.answer + "<|im_end|>"
    assert not enc["answer_context"][3].any()
    with pytest.raises(ValueError, match="loss_from"):
        SFTExample(plain.images, plain.messages, "ab", loss_from=2)


def test_a_statement_only_loss_trains_the_model(tiny: Path, tmp_path: Path) -> None:
    import torch
    from transformers import AutoModelForImageTextToText

    config = SFTConfig(steps=6, batch_size=4, learning_rate=3e-3, log_every=1, anchor=1.0)
    result = sft_train(tiny, stated_examples, tmp_path / "out", config, progress=False)
    before = AutoModelForImageTextToText.from_pretrained(tiny).state_dict()
    after = AutoModelForImageTextToText.from_pretrained(result.out_dir).state_dict()
    changed = [name for name, p in before.items() if p.dtype.is_floating_point and not torch.equal(p, after[name])]
    assert any("embed_tokens" in name for name in changed) and any("layers.0." in name for name in changed)
    assert result.log[-1]["loss"] < result.log[0]["loss"]


def test_the_anchor_is_zero_against_itself_and_reads_only_marked_positions() -> None:
    import torch

    logits = torch.randn(2, 5, 7)
    other = torch.randn(2, 5, 7)
    context = torch.tensor([[0, 1, 1, 0, 0], [0, 0, 0, 0, 0]])
    assert float(anchor_kl(logits, logits, context)) == pytest.approx(0.0, abs=1e-6)
    assert float(anchor_kl(logits, other, context)) > 0
    changed = other.clone()
    changed[:, 2:] = 0.0  # positions 2.. predict unmarked tokens only
    assert float(anchor_kl(logits, changed, context)) == pytest.approx(float(anchor_kl(logits, other, context)))
    assert float(anchor_kl(logits, other, torch.zeros(2, 5, dtype=torch.long))) == 0.0


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
