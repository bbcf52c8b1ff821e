"""Location tokens for a saved model: a vocabulary of ``<loc_0>`` .. ``<loc_{B-1}>``, one token per bin of a B x B grid
over the image, so a small model writes a box as four classifications instead of spelling pixel digits through
its BPE (the third grounding design, docs/experiments/grounding.md; Pix2Seq, Kosmos-2, Florence-2 and PaliGemma
do the same). `nodes.grounding` reads the tokens back (`BoxFrame.location_bins`).

The tokens are added as plain tokens, not special ones, so vLLM's detokenizer keeps them in the text it returns.
Their embeddings (tied to the output head in the bundled models) start at the mean of the existing rows plus a small
ordinal code: neighbouring bins start near each other, and the code lets training tell them apart from the start.

Example:
    >>> add_location_tokens("models/shapes-base", "models/shapes-base-loc", bins=56)  # doctest: +SKIP
"""

from __future__ import annotations

import math
from pathlib import Path

from nodes.grounding import location_token

LOCATION_BINS = 56  # 2 px of the 112 px world images: the quantisation ceiling measured in the notebook


def location_tokens(bins: int) -> list[str]:
    """The token of every bin, in order."""
    return [location_token(k) for k in range(bins)]


def add_location_tokens(model_dir: str | Path, out_dir: str | Path, *, bins: int = LOCATION_BINS) -> Path:
    """A copy of the model in `model_dir`, saved to `out_dir`, whose tokenizer and embeddings have the `bins`
    location tokens; raises `ValueError` if the tokenizer already has any of them."""
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor

    if bins < 2:
        raise ValueError(f"a location grid needs at least 2 bins per axis, not {bins}")
    processor = AutoProcessor.from_pretrained(model_dir)
    model = AutoModelForImageTextToText.from_pretrained(model_dir, dtype=torch.float32)
    tokenizer = processor.tokenizer
    known = [t for t in location_tokens(bins) if t in tokenizer.get_vocab()]
    if known:
        raise ValueError(f"{model_dir} already has location tokens ({known[0]}, ...); start from a model without them")
    old = len(tokenizer)
    tokenizer.add_tokens(location_tokens(bins))  # plain tokens: kept in the served text
    model.resize_token_embeddings(len(tokenizer), mean_resizing=False)
    with torch.no_grad():
        weight = model.get_input_embeddings().weight  # (V + bins, D)
        mean, scale = weight[:old].mean(dim=0), weight[:old].std()  # (D,), ()
        k = torch.arange(bins, dtype=torch.float32)[:, None]  # (bins, 1)
        d = torch.arange(weight.shape[1], dtype=torch.float32)[None, :]  # (1, D)
        code = torch.sin(k / bins * math.pi * (1 + d % 8) + d)  # (bins, D) smooth in k, a few frequencies
        weight[old:] = mean + 0.5 * scale * code  # (bins, D)
    out = Path(out_dir)
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out
