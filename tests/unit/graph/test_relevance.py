"""Question-guided regions: query extraction, grid -> pixel mask, and the self-check's use of them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from pydantic import ValidationError

from catts_graph.graph import create_catts_graph
from catts_graph.graph.config import CATTSConfig
from nodes.config import NoiseConfig
from nodes.errors import InvalidInputError
from nodes.images import load_image
from nodes.protocol import Message
from nodes.relevance import question_mask, question_query, relevance_mask
from nodes.self_check import noised_data_url
from nodes.testing import ScriptedModel


@pytest.mark.parametrize(
    ("question", "query"),
    [
        ("How many red shapes are there?", "red shapes"),
        ("How many circles are there?", "circles"),
        ("how many shapes are there", "shapes"),
        ("What colour is the largest shape?", "largest shape"),
        ("What color is the small cube?", "small cube"),
        ("Which option is the area of the triangle?", "Which option is the area of the triangle?"),
    ],
)
def test_question_query(question: str, query: str) -> None:
    assert question_query(question) == query


def test_relevance_mask_keeps_the_top_fraction_of_patches_stretched_to_the_image() -> None:
    grid = np.arange(16, dtype=float).reshape(4, 4)  # (4, 4): the bottom-right patch is the most relevant
    mask = relevance_mask(grid, 40, 20, 0.25)  # (20, 40)
    assert mask.shape == (20, 40)
    assert mask.mean() == pytest.approx(0.25)
    assert mask[15:, :].all() and not mask[:15, :].any()  # the bottom row of patches: 5 px of 20
    assert relevance_mask(grid, 8, 8, 0.01).sum() == 4  # at least one patch (2x2 px here)


@pytest.mark.parametrize(
    ("grid", "fraction"),
    [(np.zeros((0, 3)), 0.5), (np.zeros(4), 0.5), (np.zeros((2, 2)), 0.0), (np.full((2, 2), np.nan), 0.5)],
)
def test_relevance_mask_rejects_bad_grids(grid: np.ndarray, fraction: float) -> None:
    with pytest.raises(InvalidInputError):
        relevance_mask(grid, 4, 4, fraction)


class LeftHalf:
    """A relevance model that finds every text in the left half of the image, and records the texts it saw."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def relevance(self, image: Image.Image, text: str) -> np.ndarray:
        self.texts.append(text)
        return np.array([[1.0, 0.0], [1.0, 0.0]])  # (2, 2)


def test_question_noise_changes_only_the_relevant_region(tmp_path: Path) -> None:
    Image.new("RGB", (32, 32), (200, 30, 30)).save(tmp_path / "a.png")
    url = load_image_url(tmp_path / "a.png")
    relevance = LeftHalf()
    noise = NoiseConfig(kind="occlusion", level=1.0, top_fraction=0.5)
    noised = np.asarray(load_image(noised_data_url(url, noise, question="How many red shapes?", relevance=relevance)))
    clean = np.asarray(load_image(url))
    assert relevance.texts == ["red shapes"]
    assert (noised[:, :16] != clean[:, :16]).any() and (noised[:, 16:] == clean[:, 16:]).all()
    assert question_mask(relevance, load_image(url), "How many?", 0.5)[:, :16].all()


def load_image_url(path: Path) -> str:
    from nodes.images import data_urls

    return data_urls([str(path)])[0]


def test_box_region_needs_a_box_and_a_box_needs_the_box_region() -> None:
    with pytest.raises(ValidationError, match="region='box'"):
        NoiseConfig(region="box")
    with pytest.raises(ValidationError, match="region='box'"):
        NoiseConfig(box=(0, 0, 0.5, 0.5))
    assert NoiseConfig(region="box", box=(0, 0, 0.5, 0.5)).box == (0, 0, 0.5, 0.5)


async def test_the_self_check_scores_on_the_question_guided_twin(image: str) -> None:
    seen: list[str] = []

    def score(messages: list[Message], answer: str) -> float:
        seen.append(messages[0].images[0])
        return -1.0

    model = ScriptedModel([("\\boxed{2}", 5.0), ("\\boxed{3}", 4.0)], score_fn=score)  # type: ignore[arg-type]
    cfg = CATTSConfig.model_validate({"vote": {"voter": False}, "critic": {"enabled": False}})
    relevance = LeftHalf()
    graph = create_catts_graph(model, config=cfg, relevance=relevance)
    out: dict[str, Any] = dict(await graph.ainvoke({"question": "How many circles are there?", "images": [image]}))
    assert relevance.texts == ["circles"]
    noised = {u for u in seen if u != seen[0]}
    assert len(noised) == 1
    twin = np.asarray(load_image(noised.pop()))  # (28, 28, 3): the left half occluded by noise, the right untouched
    assert (twin[:, 14:] == np.asarray(load_image(image))[:, 14:]).all()
    assert not any("relevance" in f for f in out["fallbacks"])


async def test_without_a_relevance_model_the_whole_image_is_noised_and_that_is_recorded(image: str) -> None:
    model = ScriptedModel([("\\boxed{2}", 5.0), ("\\boxed{3}", 4.0)])
    cfg = CATTSConfig.model_validate({"vote": {"voter": False}, "critic": {"enabled": False}})
    out = dict(await create_catts_graph(model, config=cfg).ainvoke({"question": "How many?", "images": [image]}))
    assert any("no relevance model" in f for f in out["fallbacks"])
    glob = CATTSConfig.model_validate({**cfg.model_dump(), "self_check": {"noise": {"region": "global"}}})
    out = dict(await create_catts_graph(model, config=glob).ainvoke({"question": "How many?", "images": [image]}))
    assert not any("relevance" in f for f in out["fallbacks"])
