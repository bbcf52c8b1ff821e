"""The open_clip relevance model and the ShapesVQA CLIP trainer (a tiny real model, trained for a few steps)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from catts_graph.perception.clip_relevance import ClipRelevance, WordTokenizer
from catts_graph.shapes.bundled import bundled_model
from catts_graph.shapes.world import make_item
from nodes.errors import InvalidInputError
from trainers.shapes.clip import ClipTrainConfig, build_model, caption, evidence_coverage, train_shapes_clip


def test_word_tokenizer_pads_and_ends_with_the_highest_id() -> None:
    tokenizer = WordTokenizer(["red", "shapes"], context_length=4)
    ids = tokenizer(["Red shapes?", "purple"]).tolist()
    assert ids == [[2, 3, 4, 0], [1, 4, 0, 0]]  # <unk> = 1 for unknown words, <eot> = 4 (the last id)


def test_relevance_is_a_patch_grid_and_survives_save_and_load(tmp_path: Path) -> None:
    clip = build_model(seed=0)
    image = make_item(2, 0).render()
    grid = clip.relevance(image, "red shapes")
    assert grid.shape == (8, 8) and np.isfinite(grid).all()  # 112 px / 14 px patches
    from trainers.shapes.clip import CLIP_CONFIG, WORDS

    loaded = ClipRelevance.load(clip.save(tmp_path / "clip", config=CLIP_CONFIG, words=WORDS))
    assert np.allclose(loaded.relevance(image, "red shapes"), grid, atol=2e-2)  # saved in fp16


def test_loading_a_folder_without_a_clip_raises_a_typed_error(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="clip_config.json"):
        ClipRelevance.load(tmp_path)


def test_captions_are_object_phrases_and_applies_says_which_images_they_name() -> None:
    import random

    from catts_graph.shapes.world import ShapeObject
    from trainers.shapes.clip import WORDS, applies

    rng = random.Random(0)
    texts = {caption(make_item(2, i), rng) for i in range(200)}
    assert {w for t in texts for w in t.split()} <= set(WORDS) and "shapes" in texts
    red_circle = ShapeObject(shape="circle", color="red", cx=10, cy=10, half=6)
    blue_square = ShapeObject(shape="square", color="blue", cx=40, cy=40, half=8)
    objects = (red_circle, blue_square)
    assert applies("red shapes", objects) and applies("squares", objects) and applies("blue square", objects)
    assert not applies("red square", objects) and not applies("green shapes", objects) and applies("shapes", objects)
    assert not applies("shapes", ())


def test_a_few_training_steps_change_every_parameter(tmp_path: Path) -> None:
    before = {k: v.clone() for k, v in build_model(seed=0).model.state_dict().items()}
    result = train_shapes_clip(
        tmp_path / "clip", ClipTrainConfig(steps=2, batch_size=8, warmup_steps=1, learning_rate=1e-2), progress=False
    )
    after = ClipRelevance.load(result.out_dir).model.state_dict()
    frozen = [k for k, v in before.items() if v.dtype.is_floating_point and torch.allclose(v, after[k], atol=1e-4)]
    assert frozen == []
    assert (result.out_dir / "train_log.jsonl").is_file()


def test_the_bundled_clip_finds_the_evidence_the_question_needs() -> None:
    clip = ClipRelevance.load(bundled_model("shapes-clip"))
    result = evidence_coverage(clip, n=100, seed=2, fraction=0.25)
    assert result["coverage"] >= 0.5  # of the evidence pixels fall in the top quarter of patches (random: 0.25)
