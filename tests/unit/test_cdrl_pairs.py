"""The CDRL pair builder: clean and noised twins, noise only inside the evidence region, deterministic."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from catts_graph.benchmarks import load_benchmark
from nodes.errors import InvalidInputError
from trainers.cdrl.data import PairNoise, build_pairs


def test_pairs_noise_only_the_objects_the_question_is_about(tmp_path: Path) -> None:
    items = load_benchmark("shapes:100", limit=6).items
    path = build_pairs(items, tmp_path / "a", PairNoise(kind="occlusion", level=1.0, region="objects"))
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["id"] for r in records] == [i.id for i in items]
    for record, item in zip(records, items, strict=True):
        clean = np.asarray(Image.open(path.parent / record["image"]))  # (H, W, 3)
        noised = np.asarray(Image.open(path.parent / record["noised_image"]))  # (H, W, 3)
        changed = (clean != noised).any(axis=-1)  # (H, W)
        fraction = record["noise"]["masked_fraction"]
        assert record["answer"] == item.answer and record["noise"]["region"] == "objects"
        assert changed.mean() <= (fraction or 1.0) + 1e-4  # nothing outside the evidence region changed (4 d.p.)
    again = build_pairs(items, tmp_path / "b", PairNoise(kind="occlusion", level=1.0, region="objects"))
    assert again.read_text() == path.read_text()


def test_question_region_without_a_relevance_model_is_a_typed_error(tmp_path: Path) -> None:
    items = load_benchmark("shapes:100", limit=1).items
    with pytest.raises(InvalidInputError, match="relevance model"):
        build_pairs(items, tmp_path, PairNoise(region="question"))


@pytest.mark.parametrize("bad", [{"level": 0.0}, {"level": 1.5}, {"kind": "laser"}, {"top_fraction": 0.0}])
def test_bad_noise_settings_are_refused(bad: dict) -> None:
    with pytest.raises(InvalidInputError):
        PairNoise(**bad)
