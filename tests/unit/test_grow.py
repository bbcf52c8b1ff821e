"""Growing a saved model's language model: a real tiny model keeps its outputs, gains its parameters, and trains."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from PIL import Image
from safetensors.torch import load_file
from transformers import AutoModelForImageTextToText, AutoProcessor

from catts_graph.shapes.tiny_vlm import make_tiny_model
from trainers.sft import SFTConfig, sft_train
from trainers.shapes.grow import grow_language_model
from trainers.shapes.roles import EXPERT_MIX, role_stream


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("grow")
    small = make_tiny_model(root / "small", seed=0)
    return small, grow_language_model(small, root / "grown", layers=4, intermediate=512)


def logits(folder: Path) -> torch.Tensor:
    processor = AutoProcessor.from_pretrained(folder)
    model = AutoModelForImageTextToText.from_pretrained(folder, dtype=torch.float32).eval()
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "How many shapes?"}]}]
    text = processor.apply_chat_template(messages, add_generation_prompt=True)
    batch = processor(text=[text], images=[Image.new("RGB", (112, 112), (200, 40, 40))], return_tensors="pt")
    with torch.no_grad():
        return model(**batch).logits  # (1, T, V)


def test_the_grown_model_computes_what_the_small_one_did(models: tuple[Path, Path]) -> None:
    small, grown = models
    assert torch.equal(logits(small), logits(grown))
    config = json.loads((grown / "config.json").read_text())["text_config"]
    assert (config["num_hidden_layers"], config["intermediate_size"], len(config["layer_types"])) == (4, 512, 4)
    sizes = [sum(t.numel() for t in load_file(str(f / "model.safetensors")).values()) for f in models]
    assert sizes[1] > 2 * sizes[0]


def test_the_grown_layers_train(models: tuple[Path, Path], tmp_path: Path) -> None:
    grown = models[1]
    config = SFTConfig(steps=2, batch_size=2, learning_rate=1e-2, log_every=1)
    sft_train(grown, role_stream(EXPERT_MIX, block=2), tmp_path / "trained", config, progress=False)
    after = load_file(str(tmp_path / "trained" / "model.safetensors"))
    inserted = next(k for k in after if "layers.1.self_attn.o_proj" in k)  # a zero copy before training
    assert after[inserted].abs().sum() > 0


@pytest.mark.parametrize(("layers", "intermediate", "match"), [(3, 512, "multiple"), (4, 64, "at least")])
def test_a_shrinking_or_uneven_growth_is_refused(
    models: tuple[Path, Path], tmp_path: Path, layers: int, intermediate: int, match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        grow_language_model(models[0], tmp_path / "bad", layers=layers, intermediate=intermediate)
