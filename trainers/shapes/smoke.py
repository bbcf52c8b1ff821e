"""The quickly fine-tuned smoke-test model: a tiny random VLM (Qwen2.5-VL unless another family is named) after a few
seconds of ShapesVQA SFT.

It then answers in the ``rationale \\boxed{answer}`` format the graph parses (its accuracy is low), which is what
plumbing tests need. The real ShapesVQA models are trained by `trainers.shapes.models`.
"""

from __future__ import annotations

from pathlib import Path

from catts_graph.families import FAMILIES
from trainers.sft import SFTConfig, SFTResult, sft_train
from trainers.shapes.roles import answer_example, role_stream

shapes_examples = role_stream({"answer": (answer_example, 1.0)})


def make_smoke_model(
    out_dir: str | Path, *, family: str = "qwen2.5-vl", steps: int = 200, seed: int = 0, progress: bool = False
) -> SFTResult:
    """The tiny model of `family` (see `catts_graph.families`), fine-tuned for `steps` steps on ShapesVQA so it
    answers in the graph's format."""
    out = Path(out_dir)
    base = FAMILIES[family].build(out.with_name(out.name + "-init"), seed=seed)
    config = SFTConfig(steps=steps, batch_size=16, learning_rate=3e-3, seed=seed)
    return sft_train(base, shapes_examples, out, config, progress=progress)
