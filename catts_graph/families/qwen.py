"""Small Qwen2-VL and Qwen3-VL models (Qwen2.5-VL: `catts_graph.shapes.tiny_vlm`): ChatML, a 14- or 16-pixel
patch vision tower with 2x2 merging, M-RoPE over (time, height, width) in the text model.

Example:
    >>> from catts_graph.families.qwen import build_qwen2_vl
    >>> build_qwen2_vl("/tmp/tiny-qwen2-vl", seed=0)  # doctest: +SKIP
    PosixPath('/tmp/tiny-qwen2-vl')
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from catts_graph.families.saving import save_random_model
from catts_graph.families.sizes import text_config
from catts_graph.families.text import CORPUS, fast_tokenizer, role_template, train_bpe

SPECIAL_TOKENS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
)
TEMPLATE = role_template(  # ChatML with the Qwen-VL image markers (Qwen2.5-VL's too: `catts_graph.shapes.tiny_vlm`)
    turn="<|im_start|>{role}\n",
    end="<|im_end|>\n",
    image="<|vision_start|><|image_pad|><|vision_end|>",
    system="You are a helpful assistant.",
)


def _tokenizer() -> tuple[Any, dict[str, int]]:
    tokenizer = fast_tokenizer(
        train_bpe(CORPUS, 384, SPECIAL_TOKENS), eos="<|im_end|>", pad="<|endoftext|>", template=TEMPLATE
    )
    return tokenizer, {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}


def _text_config(tokenizer: Any, ids: dict[str, int], mrope: dict[str, Any]) -> dict[str, Any]:
    """Qwen's text config; the M-RoPE sections sum to head_dim / 2."""
    rope = {"rope_type": "default", "rope_theta": 10000.0, **mrope}
    return text_config(tokenizer, eos=ids["<|im_end|>"], pad=ids["<|endoftext|>"], rope_parameters=rope)


def _save(model_cls: Any, config: Any, processor: Any, ids: dict[str, int], out: Path, seed: int) -> Path:
    eos, pad = ids["<|im_end|>"], ids["<|endoftext|>"]
    return save_random_model(model_cls, config, processor, out, seed=seed, eos=eos, pad=pad)


def _special_ids(ids: dict[str, int]) -> dict[str, int]:
    return {
        "image_token_id": ids["<|image_pad|>"],
        "video_token_id": ids["<|video_pad|>"],
        "vision_start_token_id": ids["<|vision_start|>"],
        "vision_end_token_id": ids["<|vision_end|>"],
    }


def build_qwen2_vl(out_dir: str | Path, *, seed: int = 0) -> Path:
    """A ~0.6M-parameter Qwen2-VL: 112-pixel images, 16 image tokens each."""
    from transformers import Qwen2VLConfig, Qwen2VLForConditionalGeneration, Qwen2VLProcessor
    from transformers.models.qwen2_vl import Qwen2VLImageProcessor, Qwen2VLVideoProcessor

    tokenizer, ids = _tokenizer()
    size = {"shortest_edge": 112 * 112, "longest_edge": 112 * 112}  # min / max pixels
    patches = {"patch_size": 14, "merge_size": 2, "temporal_patch_size": 2}
    processor = Qwen2VLProcessor(
        image_processor=Qwen2VLImageProcessor(size=size, **patches),
        video_processor=Qwen2VLVideoProcessor(size=size, **patches),
        tokenizer=tokenizer,
        chat_template=TEMPLATE,
    )
    config = Qwen2VLConfig(
        text_config=_text_config(tokenizer, ids, {"mrope_section": [8, 12, 12]}),
        vision_config={  # embed_dim: the ViT's width (head_dim 32); hidden_size: the merger's output
            "depth": 2,
            "embed_dim": 64,
            "hidden_size": 128,
            "num_heads": 2,
            "mlp_ratio": 2,
            "patch_size": 14,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
        },
        tie_word_embeddings=True,
        **_special_ids(ids),
    )
    return _save(Qwen2VLForConditionalGeneration, config, processor, ids, Path(out_dir), seed)


def build_qwen3_vl(out_dir: str | Path, *, seed: int = 0) -> Path:
    """A ~0.7M-parameter Qwen3-VL: 16-pixel patches, 128-pixel images (16 image tokens), interleaved M-RoPE and one
    DeepStack layer (visual features added to the first text layer's input)."""
    from transformers import Qwen3VLConfig, Qwen3VLForConditionalGeneration, Qwen3VLProcessor
    from transformers.models.qwen2_vl import Qwen2VLImageProcessor
    from transformers.models.qwen3_vl import Qwen3VLVideoProcessor

    tokenizer, ids = _tokenizer()
    size = {"shortest_edge": 128 * 128, "longest_edge": 128 * 128}
    patches = {"patch_size": 16, "merge_size": 2, "temporal_patch_size": 2}
    processor = Qwen3VLProcessor(
        image_processor=Qwen2VLImageProcessor(size=size, image_mean=[0.5] * 3, image_std=[0.5] * 3, **patches),
        video_processor=Qwen3VLVideoProcessor(size=size, **patches),
        tokenizer=tokenizer,
        chat_template=TEMPLATE,
    )
    config = Qwen3VLConfig(
        text_config={
            **_text_config(tokenizer, ids, {"mrope_section": [12, 10, 10], "mrope_interleaved": True}),
            "head_dim": 64,
        },
        vision_config={
            "depth": 2,
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_heads": 2,
            "patch_size": 16,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
            "out_hidden_size": 128,
            "num_position_embeddings": 64,
            "deepstack_visual_indexes": [0],
        },
        tie_word_embeddings=True,
        **_special_ids(ids),
    )
    return _save(Qwen3VLForConditionalGeneration, config, processor, ids, Path(out_dir), seed)
