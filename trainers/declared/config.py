"""`DeclaredCDRLConfig`: the CDRL trainer's config (one GRPO code path) plus what a declared-confidence run needs."""

from __future__ import annotations

from dataclasses import dataclass, field

from trainers.cdrl.config import CDRLConfig


@dataclass
class DeclaredCDRLConfig(CDRLConfig):
    """`CDRLConfig` plus the warm-up that teaches the statement and the rewards' knobs. `perception_alpha` and
    `perception_beta` (inherited) scale the perception reward ``alpha * tanh(beta * (C - C'))``, here on declared
    confidences in [0, 1]."""

    sft_steps: int = field(
        default=200,
        metadata={"help": "steps of the SFT warm-up on the model's own greedy responses with a declared confidence "
                  "(0 = none: start from a model that declares one already)"},
    )  # fmt: skip
    sft_items: int = field(
        default=1200, metadata={"help": "pairs whose greedy response, with its statement, the warm-up trains on"}
    )
    sft_learning_rate: float = field(default=3e-4, metadata={"help": "peak learning rate of the SFT warm-up"})
    sft_frozen: tuple[str, ...] = field(
        default=("visual.", "vision_tower.", "vision_model.", "multi_modal_projector."),
        metadata={"help": "parameter-name parts the warm-up keeps as loaded (the common families' vision towers)"},
    )
    sft_statement_only: bool = field(
        default=False,
        metadata={"help": "the warm-up's loss on the statement's tokens only: the start model's response is context, "
                  "so its answers stay its own (False: on the whole response and statement)"},
    )  # fmt: skip
    sft_anchor: float = field(
        default=1.0,
        metadata={"help": "with sft_statement_only: weight of the KL to the start model on the response's tokens, "
                  "which keeps the statement's tokens out of the responses (without it they leak in: run 6)"},
    )  # fmt: skip
    noised_views: bool = field(
        default=True,
        metadata={"help": "roll out on the noised twins too (one row per pair and view): the calibration reward "
                  "then sees what the model declares when the evidence is destroyed, and the perception reward "
                  "compares it with the clean statement; False: clean rows only (perception teacher-forced)"},
    )  # fmt: skip
    calibration_weight: float = field(
        default=1.0, metadata={"help": "weight of the calibration reward 1 - (declared - right)^2 in the sum"}
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.sft_steps < 0:
            raise ValueError("sft_steps must be >= 0 (0 skips the warm-up: start from a model that declares)")
        if self.sft_items < 2:
            raise ValueError("sft_items must be >= 2: the warm-up fits a score on right and wrong answers")
        if self.sft_learning_rate <= 0:
            raise ValueError("sft_learning_rate must be > 0 (sft_steps = 0 skips the warm-up)")
        if self.sft_anchor < 0:
            raise ValueError("sft_anchor must be >= 0")
        if self.calibration_weight < 0:
            raise ValueError("calibration_weight must be >= 0")
