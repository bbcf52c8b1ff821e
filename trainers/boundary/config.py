"""`BoundaryGRPOConfig`: the CDRL trainer's config (one GRPO code path) plus MMBoundary's knobs."""

from __future__ import annotations

from dataclasses import dataclass, field

from nodes.stated import PLACEMENTS
from trainers.cdrl.config import CDRLConfig

SPLITTERS = ("sentences", "clauses")


@dataclass
class BoundaryGRPOConfig(CDRLConfig):
    """`CDRLConfig` plus what a step-confidence run (MMBoundary: statements after each step, step rewards) needs."""

    step_splitter: str = field(
        default="clauses",
        metadata={"help": "how responses are cut into steps: 'sentences' or 'clauses' (one listed item a step)"},
    )
    statement_placement: str = field(
        default="end",
        metadata={"help": "where the warm-up states confidence: 'end' (every step's after the answer, so the "
                  "reasoning keeps its own form; ours) or 'inline' (after each step, as MMBoundary)"},
    )  # fmt: skip
    internal_weights: str | None = field(
        default=None,
        metadata={"help": "step-weights JSON of the internal score the rewards compare statements with (None: the "
                  "one the warm-up fits, or the start model's step_weights.json, or the equal-weight mean)"},
    )  # fmt: skip
    sft_steps: int = field(
        default=200,
        metadata={"help": "steps of the SFT warm-up on the model's own responses with statements (0 = none)"},
    )
    sft_items: int = field(
        default=1200, metadata={"help": "pairs whose greedy response, with statements, the warm-up trains on"}
    )
    sft_learning_rate: float = field(default=3e-4, metadata={"help": "peak learning rate of the SFT warm-up"})
    sft_frozen: tuple[str, ...] = field(
        default=("visual.", "vision_tower.", "vision_model.", "multi_modal_projector."),
        metadata={"help": "parameter-name parts the warm-up keeps as loaded (the common families' vision towers)"},
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.step_splitter not in SPLITTERS:
            raise ValueError(f"step_splitter must be one of {', '.join(SPLITTERS)}")
        if self.statement_placement not in PLACEMENTS:
            raise ValueError(f"statement_placement must be one of {', '.join(PLACEMENTS)}")
        if self.sft_steps < 0:
            raise ValueError("sft_steps must be >= 0 (0 skips the warm-up: start from a model that states confidence)")
        if self.sft_items < 1:
            raise ValueError("sft_items must be >= 1")
        if self.sft_learning_rate <= 0:
            raise ValueError("sft_learning_rate must be > 0 (sft_steps = 0 skips the warm-up)")
