"""Tokenizers and chat templates for small models built offline: a byte-level BPE trained in-process on a short
corpus, wrapped as a `PreTrainedTokenizerFast` with a family's special tokens and chat template.

Every template here renders OpenAI ``image_url`` parts and transformers ``image`` parts alike as the family's image
placeholder, and honours ``continue_final_message`` (no end-of-turn marker after a prefilled answer), so that an
answer's tokens can be scored on their own.

Example:
    >>> template = role_template(turn="<|im_start|>{role}\\n", end="<|im_end|>\\n", image="<image>")
    >>> "continue_final_message" in template
    True
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

# Text the tokenizer learns from: the words of questions, rationales and boxed answers, and common turn markers.
CORPUS = (
    "What is in the image? How many red shapes are there? How many circles are there? How many shapes are there?",
    "What colour is the largest shape? The answer is \\boxed{2}. red circle, blue square, green triangle.",
    "none. \\boxed{0} yellow triangle. \\boxed{yellow} Answer with a letter: (A) (B) (C) (D) \\boxed{B}",
    "0 1 2 3 4 5 6 7 8 9 10 12.5 -3 1/2 yes no The critique: the answer is wrong because the image shows",
    "You are a helpful assistant. Look at the image and answer the question. Think step by step.",
)


def train_bpe(corpus: Iterable[str], vocab_size: int, special_tokens: Sequence[str]) -> Any:
    """A byte-level BPE `tokenizers.Tokenizer` trained on `corpus`; `special_tokens` get the first ids."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(special_tokens),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(list(corpus), trainer)
    return tok


def fast_tokenizer(
    tok: Any, *, eos: str, pad: str, template: str, bos: str | None = None, named: dict[str, str] | None = None
) -> Any:
    """`tok` wrapped as the `PreTrainedTokenizerFast` a processor holds, with its chat template; `named` gives
    special tokens the family's processor reads as tokenizer attributes (e.g. ``image_token``)."""
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=bos,
        eos_token=eos,
        pad_token=pad,
        chat_template=template,
        model_max_length=4096,
        **({"extra_special_tokens": named} if named else {}),
    )


def role_template(*, turn: str, end: str, image: str, system: str | None = None, bos: str = "") -> str:
    """A Jinja chat template of turns ``turn.format(role=...)`` + content + `end`, images rendered as `image`.

    `system` is a default system turn added when the conversation has none (None: no default). The generation prompt
    opens an assistant turn.
    """
    default_system = (
        "{% if messages[0]['role'] != 'system' %}" + turn.format(role="system") + system + end + "{% endif %}"
        if system is not None
        else ""
    )
    opening = turn.replace("{role}", "{{ message['role'] }}")
    return (
        bos + default_system + "{% for message in messages %}" + opening + "{% if message['content'] is string %}"
        "{{ message['content'] }}{% else %}{% for part in message['content'] %}"
        "{% if part['type'] in ['image', 'image_url'] %}" + image + "{% elif part['type'] == 'text' %}"
        "{{ part['text'] }}{% endif %}{% endfor %}{% endif %}"
        "{% if not (loop.last and continue_final_message) %}" + end + "{% endif %}{% endfor %}"
        "{% if add_generation_prompt %}" + turn.format(role="assistant") + "{% endif %}"
    )


def padded_vocab(tokenizer: Any, multiple: int = 64) -> int:
    """The embedding size: the tokenizer's length rounded up to `multiple`."""
    return -(-len(tokenizer) // multiple) * multiple
