"""A grounded run of the graph (scripted model): grounded prompts, answers from ``<answer>``, and the self-check
noising the boxes each candidate's own response names (falling back, recorded, when it names none)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from pydantic import ValidationError

from catts_graph.graph import create_catts_graph
from catts_graph.graph.config import CATTSConfig
from nodes.images import load_image
from nodes.protocol import Message
from nodes.testing import ScriptedModel

GROUNDING = {"enabled": True, "frame": "original"}
TWO = "<caption>two red squares.</caption> <bbox>[[0,0,20,20], [40,40,60,60]]</bbox> <answer>2</answer>"
THREE = "<caption>three red squares.</caption> <bbox>[[60,0,80,20]]</bbox> <answer>3</answer>"
NONE = "<caption>red squares.</caption> <answer>4</answer>"


@pytest.fixture
def picture(tmp_path: Path) -> str:
    path = tmp_path / "squares.png"
    Image.new("RGB", (80, 80), (240, 240, 240)).save(path)
    return str(path)


def changed(messages: list[Message], clean: np.ndarray) -> np.ndarray:
    """(H, W) pixels of the scored image that differ from the clean image."""
    return (np.asarray(load_image(messages[0].images[0]), dtype=int) != clean).any(axis=-1)


async def test_the_self_check_noises_each_candidates_own_boxes(picture: str) -> None:
    model = ScriptedModel([(TWO, 5.0), (THREE, 4.0), (NONE, 3.0)])
    config = CATTSConfig.model_validate(
        {
            "vote": {"voter": False},
            "critic": {"enabled": False},
            "grounding": GROUNDING,
            "self_check": {"noise": {"region": "model", "kind": "occlusion", "level": 1.0}},
        }
    )
    out: dict[str, Any] = dict(
        await create_catts_graph(model, config=config).ainvoke({"question": "How many?", "images": [picture]})
    )
    prompts = [c.messages[0].text for c in model.calls if c.kind == "sample"]
    assert prompts and all("<bbox>" in p for p in prompts)
    assert set(out["votes"]) == {"2", "3", "4"}  # answers read from <answer>
    clean = np.asarray(load_image(picture), dtype=int)
    noised = {}
    for call in model.calls:
        mask = changed(call.messages, clean)
        if call.kind == "score" and mask.any():
            noised[call.answer] = mask
    assert noised["<answer>2</answer>"][:20, :20].any() and noised["<answer>2</answer>"][40:60, 40:60].any()
    assert not noised["<answer>2</answer>"][:, 62:].any()  # nothing outside its own boxes
    assert noised["<answer>3</answer>"][:20, 60:].any() and not noised["<answer>3</answer>"][:, :58].any()
    assert noised["<answer>4</answer>"].all()  # names no boxes, no CLIP: the whole image
    regions = {c["answer"]: c["noised_region"] for c in out["self_check"]["candidates"]}
    assert regions == {"2": "model", "3": "model", "4": "question"}
    assert any("name no boxes" in f for f in out["fallbacks"])


def test_model_region_needs_grounding() -> None:
    with pytest.raises(ValidationError, match="enable grounding"):
        CATTSConfig.model_validate({"self_check": {"noise": {"region": "model"}}})
    CATTSConfig.model_validate({"grounding": GROUNDING, "self_check": {"noise": {"region": "model"}}})


async def test_the_critic_asks_for_a_grounded_reanswer(picture: str) -> None:
    model = ScriptedModel([(TWO, 5.0)], greedy=TWO)
    config = CATTSConfig.model_validate({"grounding": GROUNDING, "self_check": {"enabled": False}})
    await create_catts_graph(model, config=config).ainvoke({"question": "How many?", "images": [picture]})
    reanswer = [c for c in model.calls if c.kind == "sample" and c.params and c.params.temperature == 0]
    assert reanswer and "<bbox>" in reanswer[-1].messages[-1].text
