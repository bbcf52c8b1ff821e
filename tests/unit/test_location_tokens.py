"""Location tokens: added to a real tiny model, written by the grounded roles, read back by the graph, trained."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoProcessor

from catts_graph.shapes.tiny_vlm import make_tiny_model
from catts_graph.shapes.world import make_item
from nodes.grounding import BoxFrame, as_box, named_boxes, union_iou
from trainers.sft import SFTConfig, sft_train
from trainers.shapes.location import add_location_tokens, location_tokens
from trainers.shapes.roles import grounded_mix, grounded_target, role_stream, where_example

BINS = 8


@pytest.fixture(scope="module")
def located(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("location")
    plain = make_tiny_model(root / "plain", seed=0)
    return plain, add_location_tokens(plain, root / "located", bins=BINS)


def test_each_location_is_one_token_of_a_larger_vocabulary(located: tuple[Path, Path]) -> None:
    plain, folder = located
    tokenizer = AutoProcessor.from_pretrained(folder).tokenizer
    ids = tokenizer("<bbox><loc_0><loc_7></bbox>", add_special_tokens=False).input_ids
    loc = [tokenizer.convert_tokens_to_ids(t) for t in location_tokens(BINS)]
    assert loc == list(range(loc[0], loc[0] + BINS)) and loc[0] in ids and loc[-1] in ids
    assert tokenizer.decode([loc[3]]) == "<loc_3>"  # plain tokens: kept in the decoded (served) text
    old, new = (json.loads((f / "config.json").read_text())["text_config"]["vocab_size"] for f in (plain, folder))
    assert new == old + BINS


def test_a_model_with_location_tokens_is_refused_a_second_set(located: tuple[Path, Path], tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="already has location tokens"):
        add_location_tokens(located[1], tmp_path / "again", bins=BINS)


def test_the_grounded_roles_write_location_boxes_the_graph_reads_back() -> None:
    item = next(i for i in (make_item(2, k) for k in range(50)) if i.evidence_boxes)
    text = grounded_target(item, bins=56)
    assert "<loc_" in text and "[[" not in text
    truth = [as_box(b) for b in item.evidence_boxes]
    read = named_boxes(text, BoxFrame.location_bins(56), item.size, item.size)
    assert union_iou(read, truth, item.size, item.size) > 0.75  # within the 2 px quantisation of 56 bins


def test_grounded_sft_with_location_tokens_trains_their_embeddings(located: tuple[Path, Path], tmp_path: Path) -> None:
    folder = located[1]
    before = load_file(str(folder / "model.safetensors"))
    config = SFTConfig(steps=2, batch_size=2, learning_rate=1e-2, log_every=1)
    sft_train(folder, role_stream(grounded_mix(BINS), block=2), tmp_path / "trained", config, progress=False)
    after = load_file(str(tmp_path / "trained" / "model.safetensors"))
    name = next(k for k in before if "embed_tokens" in k)
    assert not torch.equal(before[name][-BINS:], after[name][-BINS:])  # (BINS, D): the location rows learned
    assert all(torch.isfinite(v).all() for v in after.values())


def test_a_where_example_boxes_every_shape_of_the_kind_it_asks_about() -> None:
    rng = random.Random(0)
    for item in (make_item(2, k) for k in range(30)):
        example = where_example(item, rng, bins=56)
        kind = example.messages[0].text.removeprefix("Where is the ").split("?")[0]
        truth = [as_box(o.box) for o in item.objects if o.describe() == kind]
        read = named_boxes(example.answer, BoxFrame.location_bins(56), item.size, item.size)
        assert len(read) == len(truth) and (not truth or union_iou(read, truth, item.size, item.size) > 0.75)
    assert set(grounded_mix(56, where=0.4)) == {"grounded_answer", "grounded_reanswer", "where"}
    assert sum(weight for _, weight in grounded_mix(56, where=0.4).values()) == pytest.approx(1.0)
