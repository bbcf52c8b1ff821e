"""Small LLaVA models: LLaVA-1.5 (a CLIP vision tower, a two-layer projector and a Llama text model; ``USER:
<image>\\n... ASSISTANT:`` turns, the BOS written by the template) and LLaVA-OneVision (anyres tiles of a SigLIP
tower, a Qwen2 text model, ChatML).

Example:
    >>> from catts_graph.families.llava import build_llava
    >>> build_llava("/tmp/tiny-llava", seed=0)  # doctest: +SKIP
    PosixPath('/tmp/tiny-llava')
"""

from __future__ import annotations

from pathlib import Path

from catts_graph.families.saving import rename_weights, save_random_model, vllm_vision_tower_name
from catts_graph.families.sizes import VISION, text_config
from catts_graph.families.text import CORPUS, fast_tokenizer, role_template, train_bpe

SPECIAL_TOKENS = ("<unk>", "<s>", "</s>", "<image>", "<pad>")
# The tokenizer adds no BOS (vLLM tokenizes chat prompts without special tokens, transformers' processor with them:
# a BOS from the tokenizer would make the two disagree), so the template writes it.
TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{% if message['role'] == 'system' %}"
    "{{ message['content'] if message['content'] is string else message['content'][0]['text'] }}\n"
    "{% else %}{{ message['role'].upper() + ': ' }}"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for part in message['content'] %}{% if part['type'] in ['image', 'image_url'] %}<image>\n{% endif %}"
    "{% endfor %}{% for part in message['content'] %}{% if part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}"
    "{% if message['role'] == 'assistant' and not (loop.last and continue_final_message) %}</s>{% endif %}"
    "{% if not (loop.last and continue_final_message) %} {% endif %}"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}ASSISTANT:{% endif %}"
)


def build_llava(out_dir: str | Path, *, seed: int = 0) -> Path:
    """A ~0.5M-parameter LLaVA-1.5: 56-pixel center crops, 16 image tokens (the CLS token dropped)."""
    from transformers import (
        CLIPVisionConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
    )
    from transformers.models.clip import CLIPImageProcessor

    tokenizer = fast_tokenizer(
        train_bpe(CORPUS, 384, SPECIAL_TOKENS), eos="</s>", pad="<pad>", bos="<s>", template=TEMPLATE
    )
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
    processor = LlavaProcessor(
        image_processor=CLIPImageProcessor(size={"shortest_edge": 56}, crop_size={"height": 56, "width": 56}),
        tokenizer=tokenizer,
        patch_size=14,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,
        chat_template=TEMPLATE,
        image_token="<image>",
    )
    config = LlavaConfig(
        vision_config=CLIPVisionConfig(**VISION, image_size=56, patch_size=14, projection_dim=64),
        text_config=LlamaConfig(
            **text_config(tokenizer, eos=ids["</s>"], pad=ids["<pad>"], bos=ids["<s>"], tie=False)
        ),
        image_token_index=ids["<image>"],
        image_seq_length=16,
        vision_feature_layer=-1,
        vision_feature_select_strategy="default",
        projector_hidden_act="gelu",
    )
    out = save_random_model(
        LlavaForConditionalGeneration, config, processor, Path(out_dir), seed=seed, eos=ids["</s>"],
        pad=ids["<pad>"], bos=ids["<s>"],
    )  # fmt: skip
    rename_weights(out, vllm_vision_tower_name)
    return out


ONEVISION_SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<image>", "<video>")
ONEVISION_TEMPLATE = role_template(turn="<|im_start|>{role}\n", end="<|im_end|>\n", image="<image>\n")


def build_llava_onevision(out_dir: str | Path, *, seed: int = 0) -> Path:
    """A ~0.5M-parameter LLaVA-OneVision (SigLIP tower, Qwen2 text model, ChatML): one 56-pixel anyres tile plus the
    whole image, 36 image tokens (16 + 16 + 4 row ends)."""
    from transformers import LlavaOnevisionConfig, LlavaOnevisionForConditionalGeneration, LlavaOnevisionProcessor
    from transformers.models.llava_onevision import LlavaOnevisionImageProcessor, LlavaOnevisionVideoProcessor

    tokenizer = fast_tokenizer(
        train_bpe(CORPUS, 384, ONEVISION_SPECIAL_TOKENS), eos="<|im_end|>", pad="<|endoftext|>",
        template=ONEVISION_TEMPLATE,
    )  # fmt: skip
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in ONEVISION_SPECIAL_TOKENS}
    size, pinpoints, normalise = (
        {"height": 56, "width": 56},
        [[56, 56]],
        {"image_mean": [0.5] * 3, "image_std": [0.5] * 3},
    )
    processor = LlavaOnevisionProcessor(
        image_processor=LlavaOnevisionImageProcessor(size=size, image_grid_pinpoints=pinpoints, **normalise),
        video_processor=LlavaOnevisionVideoProcessor(size=size, **normalise),
        tokenizer=tokenizer,
        num_image_tokens=16,
        vision_feature_select_strategy="full",
        chat_template=ONEVISION_TEMPLATE,
        image_token="<image>",
        video_token="<video>",
        vision_aspect_ratio="anyres_max_9",
    )
    eos, pad = ids["<|im_end|>"], ids["<|endoftext|>"]
    config = LlavaOnevisionConfig(
        vision_config={
            **VISION,
            "model_type": "siglip_vision_model",
            "image_size": 56,
            "patch_size": 14,
            "vision_use_head": False,
        },
        text_config=text_config(tokenizer, eos=eos, pad=pad, model_type="qwen2"),
        image_token_index=ids["<image>"],
        video_token_index=ids["<video>"],
        vision_feature_select_strategy="full",
        vision_feature_layer=-1,
        image_grid_pinpoints=pinpoints,
        vision_aspect_ratio="anyres_max_9",
        tie_word_embeddings=True,
    )
    out = save_random_model(
        LlavaOnevisionForConditionalGeneration, config, processor, Path(out_dir), seed=seed, eos=eos, pad=pad
    )
    rename_weights(out, vllm_vision_tower_name)
    return out
