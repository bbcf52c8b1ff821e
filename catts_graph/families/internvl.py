"""A small InternVL in transformers' own format (``InternVLForConditionalGeneration``, as the ``-hf`` checkpoints):
an InternViT tower, pixel shuffle and a Qwen2 text model; ChatML turns, ``<IMG_CONTEXT>`` expanded by the processor
to ``<img><IMG_CONTEXT>...</img>``; one tile per image.

Example:
    >>> from catts_graph.families.internvl import build_internvl
    >>> build_internvl("/tmp/tiny-internvl", seed=0)  # doctest: +SKIP
    PosixPath('/tmp/tiny-internvl')
"""

from __future__ import annotations

from pathlib import Path

from catts_graph.families.saving import save_random_model
from catts_graph.families.sizes import VISION, text_config
from catts_graph.families.text import CORPUS, fast_tokenizer, role_template, train_bpe

SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<img>", "</img>", "<IMG_CONTEXT>", "<video>")
TEMPLATE = role_template(turn="<|im_start|>{role}\n", end="<|im_end|>\n", image="<IMG_CONTEXT>\n")


def build_internvl(out_dir: str | Path, *, seed: int = 0) -> Path:
    """A ~0.5M-parameter InternVL: 112-pixel tiles, 14-pixel patches, pixel shuffle by 2: 16 image tokens."""
    from transformers import InternVLConfig, InternVLForConditionalGeneration, InternVLProcessor
    from transformers.models.got_ocr2 import GotOcr2ImageProcessor
    from transformers.models.internvl import InternVLVideoProcessor

    names = {"start_image_token": "<img>", "end_image_token": "</img>", "context_image_token": "<IMG_CONTEXT>"}
    tokenizer = fast_tokenizer(
        train_bpe(CORPUS, 384, SPECIAL_TOKENS),
        eos="<|im_end|>",
        pad="<|endoftext|>",
        template=TEMPLATE,
        named={**names, "video_token": "<video>"},  # the processor reads these attributes
    )
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
    size = {"height": 112, "width": 112}
    processor = InternVLProcessor(
        image_processor=GotOcr2ImageProcessor(
            size=size,
            crop_to_patches=False,
            min_patches=1,
            max_patches=1,
            image_mean=[0.485, 0.456, 0.406],
            image_std=[0.229, 0.224, 0.225],
        ),
        video_processor=InternVLVideoProcessor(size=size),
        tokenizer=tokenizer,
        image_seq_length=16,
        chat_template=TEMPLATE,
    )
    eos, pad = ids["<|im_end|>"], ids["<|endoftext|>"]
    config = InternVLConfig(
        vision_config={
            **VISION,
            "image_size": [112, 112],
            "patch_size": [14, 14],
            "norm_type": "layer_norm",
            "use_mean_pooling": True,
        },
        text_config=text_config(tokenizer, eos=eos, pad=pad, model_type="qwen2"),
        image_token_id=ids["<IMG_CONTEXT>"],
        image_seq_length=16,
        downsample_ratio=0.5,
        vision_feature_layer=-1,
        vision_feature_select_strategy="default",
        tie_word_embeddings=True,
    )
    return save_random_model(
        InternVLForConditionalGeneration, config, processor, Path(out_dir), seed=seed, eos=eos, pad=pad
    )
