"""Dense vision pretraining on a tiny real model: token targets are pixel shares, only the vision tower moves."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from catts_graph.shapes.tiny_vlm import make_tiny_model
from catts_graph.shapes.world import make_item
from trainers.sft import SFTConfig
from trainers.shapes.vision import CLASSES, pretrain_vision, token_boxes, token_targets


def test_token_targets_are_the_pixel_shares_of_each_token() -> None:
    item = next(i for i in (make_item(7, k) for k in range(100)) if len(i.objects) >= 3)
    targets = token_targets(item, grid=8)  # (64, C)
    assert targets.shape == (64, len(CLASSES))
    assert np.allclose(targets.sum(-1), 1.0)
    cell = item.size // 8
    for obj in item.objects:  # the token under each object's centre shows some of its class
        row, col = min(obj.cy // cell, 7), min(obj.cx // cell, 7)
        assert targets[row * 8 + col, CLASSES.index(obj.describe())] > 0
    covered = (item.object_map() > 0).mean()
    assert targets[:, 0].mean() == pytest.approx(1 - covered, abs=1e-6)  # background share


def test_token_boxes_give_each_covered_token_its_objects_box() -> None:
    item = next(i for i in (make_item(7, k) for k in range(100)) if len(i.objects) >= 3)
    boxes, covered = token_boxes(item, grid=8)  # (64, 4), (64,)
    assert boxes.shape == (64, 4) and covered.shape == (64,)
    cell = item.size // 8
    for obj in item.objects:  # the token under each object's centre is covered and carries that object's box
        token = min(obj.cy // cell, 7) * 8 + min(obj.cx // cell, 7)
        assert covered[token]
        assert np.allclose(boxes[token] * item.size, obj.box)
    empty = next(i for i in (make_item(7, k) for k in range(200)) if not i.objects)
    boxes, covered = token_boxes(empty, grid=8)
    assert not covered.any() and not boxes.any()


@pytest.mark.slow
def test_pretraining_moves_the_vision_tower_only(tmp_path: Path) -> None:
    import torch
    from safetensors.torch import load_file

    init = make_tiny_model(tmp_path / "init", seed=0)
    out = pretrain_vision(init, tmp_path / "vision", SFTConfig(steps=3, batch_size=4, log_every=1), progress=False)
    before = load_file(init / "model.safetensors")
    after = load_file(out.out_dir / "model.safetensors")
    assert before.keys() == after.keys()
    changed = {name for name in before if not torch.equal(before[name], after[name])}
    assert changed and all("visual" in name for name in changed)
    assert any("patch_embed" in name for name in changed) and any("merger" in name for name in changed)
    assert len(out.log) == 3 and all(np.isfinite(row["loss"]) for row in out.log)


@pytest.mark.slow
def test_where_pretraining_logs_position_and_box_terms(tmp_path: Path) -> None:
    init = make_tiny_model(tmp_path / "init", seed=0)
    config = SFTConfig(steps=2, batch_size=4, log_every=1)
    out = pretrain_vision(init, tmp_path / "vision", config, where=True, progress=False)
    assert all(0 <= row["position_accuracy"] <= 1 and np.isfinite(row["box_error"]) for row in out.log)
    assert '"where": true' in (out.out_dir / "vision_config.json").read_text()
