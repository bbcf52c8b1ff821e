"""Saving a family's random-init model with its processor, and renaming weights where vLLM's loader wants other
names than transformers writes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any


def save_random_model(
    model_cls: Any,
    config: Any,
    processor: Any,
    out_dir: Path,
    *,
    seed: int,
    eos: int | list[int],
    pad: int,
    bos: int | None = None,
    adjust: Callable[[Any], None] | None = None,
) -> Path:
    """Initialise `model_cls(config)` from `seed` in float32 and save it with `processor` to `out_dir`.

    `adjust(model)` runs after initialisation, without gradient. The generation config holds only the special
    ids: plain sampling (T=1, no top-k/top-p) unless a request says otherwise.
    """
    import torch
    from transformers import GenerationConfig

    torch.manual_seed(seed)
    model = model_cls(config).to(torch.float32).eval()
    if adjust is not None:
        with torch.no_grad():
            adjust(model)
    model.generation_config = GenerationConfig(eos_token_id=eos, pad_token_id=pad, bos_token_id=bos)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    processor.save_pretrained(out_dir)
    return out_dir


def rename_weights(model_dir: Path, rename: Callable[[str], str]) -> None:
    """Rewrite the keys of `model_dir`'s ``model.safetensors`` through `rename` (transformers loads either name)."""
    from safetensors.torch import load_file, save_file

    path = model_dir / "model.safetensors"
    weights = load_file(str(path))
    save_file({rename(k): v.contiguous() for k, v in weights.items()}, str(path), metadata={"format": "pt"})


def vllm_vision_tower_name(key: str) -> str:
    """transformers saves a CLIP or SigLIP tower as ``vision_tower.*``; vLLM's loaders want
    ``vision_tower.vision_model.*``."""
    if key.startswith("vision_tower.") and not key.startswith("vision_tower.vision_model."):
        return "vision_tower.vision_model." + key.removeprefix("vision_tower.")
    return key
