"""A small Idefics3 (the SmolVLM architecture): a SigLIP-style vision tower, pixel shuffle and a Llama text model;
``User:<image>...<end_of_utterance>\\nAssistant:`` turns, one image tile (no splitting).

Example:
    >>> from catts_graph.families.idefics3 import build_idefics3
    >>> build_idefics3("/tmp/tiny-idefics3", seed=0)  # doctest: +SKIP
    PosixPath('/tmp/tiny-idefics3')
"""

from __future__ import annotations

from pathlib import Path

from catts_graph.families.saving import save_random_model
from catts_graph.families.sizes import VISION, text_config
from catts_graph.families.text import CORPUS, fast_tokenizer, train_bpe

# The processor looks up `<global-img>` and the tile tags `<row_i_col_j>` by id: they must be in the vocabulary.
TILE_TAGS = tuple(f"<row_{i + 1}_col_{j + 1}>" for i in range(6) for j in range(6))
SPECIAL_TOKENS = (
    "<|begin_of_text|>",
    "<|end_of_text|>",
    "<pad>",
    "<fake_token_around_image>",
    "<image>",
    "<end_of_utterance>",
    "<global-img>",
    *TILE_TAGS,
)
TEMPLATE = (
    "<|begin_of_text|>{% for message in messages %}{{ message['role'] | capitalize }}"
    "{% if message['content'] is string %}{{ ': ' + message['content'] }}"
    "{% else %}{% if message['content'][0]['type'] in ['image', 'image_url'] %}{{ ':' }}{% else %}{{ ': ' }}"
    "{% endif %}{% for line in message['content'] %}{% if line['type'] == 'text' %}{{ line['text'] }}"
    "{% elif line['type'] in ['image', 'image_url'] %}{{ '<image>' }}{% endif %}{% endfor %}{% endif %}"
    "{% if not (loop.last and continue_final_message) %}<end_of_utterance>\n{% endif %}"
    "{% endfor %}{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}"
)


def build_idefics3(out_dir: str | Path, *, seed: int = 0) -> Path:
    """A ~0.5M-parameter Idefics3: 128-pixel images, 16-pixel patches, pixel shuffle by 2: 16 image tokens."""
    from transformers import Idefics3Config, Idefics3ForConditionalGeneration, Idefics3Processor
    from transformers.models.idefics3 import Idefics3ImageProcessor

    tokenizer = fast_tokenizer(
        train_bpe(CORPUS, 384, SPECIAL_TOKENS),
        eos="<end_of_utterance>",
        pad="<pad>",
        bos="<|begin_of_text|>",
        template=TEMPLATE,
    )
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
    processor = Idefics3Processor(
        image_processor=Idefics3ImageProcessor(
            size={"longest_edge": 128}, max_image_size={"longest_edge": 128}, do_image_splitting=False
        ),
        tokenizer=tokenizer,
        image_seq_len=16,
        chat_template=TEMPLATE,
    )
    eos, pad, bos = ids["<end_of_utterance>"], ids["<pad>"], ids["<|begin_of_text|>"]
    config = Idefics3Config(
        vision_config={**VISION, "image_size": 128, "patch_size": 16},
        text_config=text_config(tokenizer, eos=eos, pad=pad, bos=bos, tie=False, model_type="llama"),
        image_token_id=ids["<image>"],
        scale_factor=2,
        pad_token_id=pad,
        tie_word_embeddings=False,
    )
    return save_random_model(
        Idefics3ForConditionalGeneration, config, processor, Path(out_dir), seed=seed, eos=eos, pad=pad, bos=bos
    )
