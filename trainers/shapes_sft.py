"""SFT data from the ShapesVQA world, and the quickly fine-tuned smoke-test model.

`shapes_examples` streams fresh items (never the held-out seed) as `SFTExample`s with the graph's own question
prompt, so a model trained here answers in the format the graph parses. `make_smoke_model` builds the tiny random
Qwen2.5-VL and fine-tunes it briefly: it then answers in the ``rationale \\boxed{answer}`` format (accuracy is
low), which is what plumbing tests and the smoke demo need.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

from catts_graph.shapes import make_item
from catts_graph.tiny_vlm import make_tiny_model
from nodes.prompts import question_prompt
from nodes.protocol import Message
from trainers.sft import SFTConfig, SFTExample, SFTResult, sft_train

TRAIN_SEED_BASE = 10_000  # training streams draw world seeds from here up; evaluation uses small seeds


def shapes_examples(rng: random.Random, size: int = 112) -> Iterator[SFTExample]:
    """An endless stream of ShapesVQA training examples (image, question prompt, rationale + boxed answer)."""
    seed = TRAIN_SEED_BASE + rng.randrange(1_000_000)
    index = 0
    while True:
        item = make_item(seed, index, size)
        index += 1
        yield SFTExample([item.render()], [Message.user(question_prompt(item.question))], item.target)


def make_smoke_model(out_dir: str | Path, *, steps: int = 200, seed: int = 0, progress: bool = False) -> SFTResult:
    """The tiny model, fine-tuned for `steps` steps on ShapesVQA so it answers in the graph's format."""
    out = Path(out_dir)
    base = make_tiny_model(out.with_name(out.name + "-init"), seed=seed)
    config = SFTConfig(steps=steps, batch_size=16, learning_rate=3e-3, seed=seed)
    return sft_train(base, shapes_examples, out, config, progress=progress)
