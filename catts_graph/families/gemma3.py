"""A small Gemma 3: a SigLIP vision tower average-pooled to 16 soft tokens, a Gemma 3 text model with one sliding-
window and one global layer; ``<start_of_turn>user`` / ``model`` turns, the BOS written by the template.

Gemma 3 attends both ways among an image's tokens (transformers reads ``token_type_ids`` for it); vLLM's CPU
attention is causal there, so vLLM-CPU does not serve this family's log-probs faithfully (`catts serve` refuses it
on the CPU build; see docs/families.md).

Example:
    >>> from catts_graph.families.gemma3 import build_gemma3
    >>> build_gemma3("/tmp/tiny-gemma3", seed=0)  # doctest: +SKIP
    PosixPath('/tmp/tiny-gemma3')
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from catts_graph.families.saving import rename_weights, save_random_model, vllm_vision_tower_name
from catts_graph.families.sizes import VISION, text_config
from catts_graph.families.text import CORPUS, fast_tokenizer, train_bpe

SPECIAL_TOKENS = (
    "<pad>",
    "<eos>",
    "<bos>",
    "<unk>",
    "<start_of_turn>",
    "<end_of_turn>",
    "<start_of_image>",
    "<end_of_image>",
    "<image_soft_token>",
)
# The processor expands <start_of_image> to "\n\n<start_of_image><image_soft_token>x16<end_of_image>\n\n".
TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{% set role = 'model' if message['role'] == 'assistant' else message['role'] %}"
    "<start_of_turn>{{ role }}\n{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}{% if part['type'] in ['image', 'image_url'] %}<start_of_image>"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}{% endfor %}{% endif %}"
    "{% if not (loop.last and continue_final_message) %}<end_of_turn>\n{% endif %}"
    "{% endfor %}{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
)


def build_gemma3(out_dir: str | Path, *, seed: int = 0) -> Path:
    """A ~0.5M-parameter Gemma 3: 112-pixel images, 14-pixel patches pooled to 16 image tokens."""
    from tokenizers import AddedToken
    from transformers import Gemma3Config, Gemma3ForConditionalGeneration, Gemma3Processor
    from transformers.models.gemma3 import Gemma3ImageProcessor

    bpe = train_bpe(CORPUS, 384, SPECIAL_TOKENS)
    # vLLM's Gemma 3 processor merges newline runs around an image by looking up "\n" ... "\n\n\n\n" in the vocabulary
    # (a byte-level vocabulary spells a newline "Ċ"): as in Gemma's own vocabulary, they are single tokens
    bpe.add_tokens([AddedToken("\n" * k, normalized=False, special=False) for k in (4, 3, 2, 1)])
    image_tokens = {
        "boi_token": "<start_of_image>",
        "eoi_token": "<end_of_image>",
        "image_token": "<image_soft_token>",
    }
    tokenizer = fast_tokenizer(
        bpe, eos="<end_of_turn>", pad="<pad>", bos="<bos>", template=TEMPLATE, named=image_tokens
    )
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
    processor = Gemma3Processor(
        image_processor=Gemma3ImageProcessor(
            size={"height": 112, "width": 112}, image_mean=[0.5] * 3, image_std=[0.5] * 3
        ),
        tokenizer=tokenizer,
        chat_template=TEMPLATE,
        image_seq_length=16,
    )
    eos, pad, bos = [ids["<eos>"], ids["<end_of_turn>"]], ids["<pad>"], ids["<bos>"]
    config = Gemma3Config(
        text_config=text_config(
            tokenizer,
            eos=eos,
            pad=pad,
            bos=bos,
            head_dim=64,
            query_pre_attn_scalar=64,
            sliding_window=64,
            layer_types=["sliding_attention", "full_attention"],
        ),
        vision_config={
            **VISION,
            "model_type": "siglip_vision_model",
            "image_size": 112,
            "patch_size": 14,
            "vision_use_head": False,
        },
        mm_tokens_per_image=16,
        boi_token_index=ids["<start_of_image>"],
        eoi_token_index=ids["<end_of_image>"],
        image_token_index=ids["<image_soft_token>"],
        tie_word_embeddings=True,
    )

    def draw_projection(model: Any) -> None:  # zero-initialised upstream: a random model would ignore the image
        model.model.multi_modal_projector.mm_input_projection_weight.normal_(0.0, 0.05)

    out = save_random_model(
        Gemma3ForConditionalGeneration, config, processor, Path(out_dir), seed=seed, eos=eos, pad=pad, bos=bos,
        adjust=draw_projection,
    )  # fmt: skip
    rename_weights(out, vllm_vision_tower_name)
    return out
