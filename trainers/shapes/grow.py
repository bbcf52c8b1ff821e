"""Grow a saved model's language model without changing what it computes: deeper (LLaMA Pro's block expansion) and
wider MLPs (Net2Net's new neurons with zero output weights), so a bigger model starts where the trained one is.

- **Depth**: after every `every`-th layer a copy of it is inserted whose attention output (`o_proj`) and MLP output
  (`down_proj`) are zero. Through the residual stream the copy is the identity until training moves those weights;
  its other weights start as the layer it copies, not at random.
- **Width**: each MLP gains neurons whose `gate_proj` and `up_proj` rows are small random values and whose
  `down_proj` columns are zero, so they add nothing until trained.

The vision tower, the merger and the tokenizer are kept as they are. The result is a plain folder that transformers,
the trainers and vLLM load like any other.

Example:
    >>> grow_language_model("models/shapes-expert", "models/grown", layers=8, intermediate=2048)  # doctest: +SKIP
"""

from __future__ import annotations

import copy
from pathlib import Path


def grow_language_model(
    model_dir: str | Path, out_dir: str | Path, *, layers: int, intermediate: int, seed: int = 0
) -> Path:
    """A copy of the model in `model_dir`, saved to `out_dir`, whose language model has `layers` decoder layers
    (a multiple of today's count) of MLP width `intermediate` (at least today's), computing the same outputs."""
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor

    model = AutoModelForImageTextToText.from_pretrained(model_dir, dtype=torch.float32)
    text = model.config.text_config
    old_layers, old_width = text.num_hidden_layers, text.intermediate_size
    if layers < old_layers or layers % old_layers:
        raise ValueError(f"layers must be a multiple of the model's {old_layers} layers, not {layers}")
    if intermediate < old_width:
        raise ValueError(f"intermediate must be at least the model's MLP width {old_width}, not {intermediate}")
    generator = torch.Generator().manual_seed(seed)
    std = text.initializer_range
    grown = torch.nn.ModuleList()
    for layer in model.model.language_model.layers:
        for index in range(layers // old_layers):
            block = layer if index == 0 else copy.deepcopy(layer)
            _widen(block.mlp, intermediate, std, generator)
            if index:
                with torch.no_grad():
                    block.self_attn.o_proj.weight.zero_()  # (D, H*hd): the copy adds nothing to the residual
                    block.mlp.down_proj.weight.zero_()  # (D, I)
            grown.append(block)
    for index, block in enumerate(grown):
        block.self_attn.layer_idx = index  # the KV cache is indexed by layer
    model.model.language_model.layers = grown
    text.num_hidden_layers, text.intermediate_size = layers, intermediate
    text.layer_types = [text.layer_types[0]] * layers
    out = Path(out_dir)
    model.save_pretrained(out)
    AutoProcessor.from_pretrained(model_dir).save_pretrained(out)
    return out


def _widen(mlp, intermediate: int, std: float, generator) -> None:  # type: ignore[no-untyped-def]
    """Give `mlp` `intermediate` neurons: new gate/up rows drawn at `std`, new down columns zero."""
    import torch

    extra = intermediate - mlp.gate_proj.out_features
    if extra == 0:
        return
    hidden = mlp.gate_proj.in_features
    with torch.no_grad():
        for name in ("gate_proj", "up_proj"):
            old = getattr(mlp, name).weight  # (I, D)
            new = torch.randn(extra, hidden, generator=generator) * std  # (extra, D)
            linear = torch.nn.Linear(hidden, intermediate, bias=False)
            linear.weight.copy_(torch.cat([old, new]))  # (I + extra, D)
            setattr(mlp, name, linear)
        old = mlp.down_proj.weight  # (D, I)
        linear = torch.nn.Linear(intermediate, hidden, bias=False)
        linear.weight.copy_(torch.cat([old, torch.zeros(hidden, extra)], dim=1))  # (D, I + extra)
        mlp.down_proj = linear
    mlp.intermediate_size = intermediate
