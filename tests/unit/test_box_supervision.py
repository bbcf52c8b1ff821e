"""Box supervision: the cells under a box, the targets read from the labels, the losses, and a tiny real model trained
with it (its head moves towards the box; the saved model is served as before)."""

from __future__ import annotations

import json
import math
import random
from functools import partial
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForImageTextToText, AutoProcessor

from catts_graph.shapes.tiny_vlm import make_tiny_model
from catts_graph.shapes.world import make_item
from trainers.box_supervision import (
    BoxSupervision,
    box_attention_loss,
    box_attention_targets,
    box_cells,
    box_value_targets,
)
from trainers.sft import SFTConfig, collate, sft_train
from trainers.shapes.location import add_location_tokens
from trainers.shapes.roles import role_stream, where_example

BINS = 8


def test_box_cells_are_the_cells_whose_centre_the_box_holds() -> None:
    # 8 bins on a 4 x 4 grid: bin K is K / 7 of the side; cell centres at 1/8, 3/8, 5/8, 7/8
    assert box_cells((0, 0, 7, 7), BINS, 4, 4) == list(range(16))
    assert box_cells((0, 0, 3, 3), BINS, 4, 4) == [0, 1, 4, 5]  # up to 3/7 = 0.43: the first two rows and columns
    assert box_cells((4, 0, 7, 1), BINS, 4, 4) == [2, 3]  # the top row's right half (rows: 1/8 <= 1/7)
    assert box_cells((5, 5, 5, 5), BINS, 4, 4) == [10]  # a point: the cell holding it, row 2 column 2
    assert box_cells((0, 0, 7, 3), BINS, 2, 4) == [0, 1, 2, 3]  # 2 rows x 4 columns: the top row


def test_targets_mark_the_positions_that_write_each_box_and_only_them() -> None:
    image, loc = 99, [10, 11, 12, 13, 14, 15, 16, 17]  # 8 location tokens, ids 10..17
    ids = torch.tensor([[1, image, image, image, image, 2, 10, 10, 17, 17, 3]])  # (1, 11): a 2 x 2 image, one box
    labels = torch.tensor([[-100] * 6 + [10, 10, 17, 17, 3]])  # (1, 11): the answer is the box and an end token
    targets = box_attention_targets(ids, labels, torch.tensor(loc), image, torch.tensor([[2, 2]]))  # (1, 11, 11)
    rows = targets[0].any(-1).nonzero().flatten().tolist()
    assert rows == [5, 6, 7, 8]  # the positions predicting x1, y1, x2, y2
    assert targets[0, 5].nonzero().flatten().tolist() == [1, 2, 3, 4]  # the whole image: every image token
    with pytest.raises(ValueError, match="one image"):
        box_attention_targets(ids, labels, torch.tensor(loc), image, torch.tensor([[3, 3]]))


def test_value_targets_are_the_bins_the_next_positions_write() -> None:
    loc = torch.tensor([10, 11, 12, 13, 14])  # 5 bins: fractions 0, 1/4, .., 1
    labels = torch.tensor([[-100, -100, 11, 14, 3]])  # (1, 5)
    rows, values = box_value_targets(labels, loc)
    assert rows.tolist() == [[False, True, True, False, False]]
    assert values.tolist() == [[0.0, 0.25, 1.0, 0.0, 0.0]]


def test_the_loss_is_minus_log_the_mass_on_the_targets() -> None:
    attention = torch.tensor([[[0.5, 0.25, 0.25], [0.1, 0.1, 0.8]]])  # (1, 2, 3)
    targets = torch.tensor([[[True, False, False], [False, False, False]]])  # only row 0 has a target
    assert float(box_attention_loss(attention, targets)) == pytest.approx(math.log(2), abs=1e-5)
    none = torch.zeros_like(targets)
    assert float(box_attention_loss(attention, none)) == 0.0


@pytest.fixture(scope="module")
def located(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("box-supervision")
    return add_location_tokens(make_tiny_model(root / "plain", seed=0), root / "located", bins=BINS)


def test_a_model_without_location_tokens_is_refused(tmp_path: Path) -> None:
    plain = make_tiny_model(tmp_path / "plain", seed=0)
    model = AutoModelForImageTextToText.from_pretrained(plain)
    with pytest.raises(ValueError, match="location tokens"):
        BoxSupervision.of(model, AutoProcessor.from_pretrained(plain), attention=1.0, readout=0.0)


def _losses(folder: Path) -> dict[str, float]:
    """Both terms (weight 1) on where examples with a box: lower attention loss, more attention on the boxes."""
    processor = AutoProcessor.from_pretrained(folder)
    model = AutoModelForImageTextToText.from_pretrained(folder).eval()
    boxes = BoxSupervision.of(model, processor, attention=1.0, readout=1.0)
    rng = random.Random(5)
    batch = [ex for ex in (where_example(make_item(0, k), rng, BINS) for k in range(40)) if "<loc_" in ex.answer][:8]
    enc = collate(processor, batch)
    enc.pop("answer_context")
    with torch.no_grad():
        return {k: float(v) for k, v in boxes.losses(model(**enc, **boxes.forward_options()), enc).items()}


def test_training_with_box_attention_moves_the_head_to_the_boxes(located: Path, tmp_path: Path) -> None:
    config = SFTConfig(steps=30, batch_size=4, learning_rate=3e-3, log_every=1, box_attention=1.0, box_readout=1.0)
    stream = role_stream({"where": (partial(where_example, bins=BINS), 1.0)}, block=4)
    sft_train(located, stream, tmp_path / "t", config, progress=False)
    log = [json.loads(line) for line in (tmp_path / "t" / "sft_log.jsonl").read_text().splitlines()]
    assert all({"box_attention_loss", "box_readout_loss"} <= set(row) for row in log)
    before, after = _losses(located)["box_attention_loss"], _losses(tmp_path / "t")["box_attention_loss"]
    assert after < before - 0.5  # the supervised head looks at the boxes
    assert log[-1]["box_readout_loss"] < log[0]["box_readout_loss"]  # the readout learns the bins
    saved = json.loads((tmp_path / "t" / "config.json").read_text())
    assert "eager" not in json.dumps(saved)  # served as before: the eager switch is for training only
