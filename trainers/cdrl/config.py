"""`CDRLConfig`: TRL's `GRPOConfig` plus the CDRL knobs, checked at construction."""

from __future__ import annotations

from dataclasses import dataclass, field

from trl import GRPOConfig


@dataclass
class CDRLConfig(GRPOConfig):  # type: ignore[misc]  # TRL is untyped here (Any)
    """`GRPOConfig` plus the CDRL knobs (defaults: docs/method.md; alpha and beta are ours, the paper leaves them
    open)."""

    perception_alpha: float = field(default=0.5, metadata={"help": "scale of alpha * tanh(beta * (C - C'))"})
    perception_beta: float = field(default=1.0, metadata={"help": "slope inside the tanh of the perception reward"})
    confidence_normalisation: str = field(
        default="group", metadata={"help": "Cnorm of the calibration reward: 'group' min-max or 'sigmoid'"}
    )
    confidence_top_k: int = field(default=20, metadata={"help": "k of the NMLP confidence (top-k log-probs)"})
    perception_loss_weight: float = field(
        default=0.0,
        metadata={
            "help": "w of the pathwise perception loss -w * mean tanh(beta * (C - C')), gradient through C and C' "
            "(ours; 0 = the paper's reward-only form)"
        },
    )
    calibration_loss_weight: float = field(
        default=0.0,
        metadata={
            "help": "w of the pathwise calibration loss w * mean (exp(mean log-prob) - R_acc)^2 over the rollouts, "
            "the Brier score of the probability confidence the calibration metrics read (ours; 0 = off)"
        },
    )
    greedy_calibration_loss_weight: float = field(
        default=0.0,
        metadata={
            "help": "w of w * mean (exp(mean log-prob) - R_acc)^2 over the greedy response to each prompt, decoded "
            "by the current policy each step: the Brier score of the confidence ECE and AUROC read (ours; 0 = off)"
        },
    )
    greedy_perception_loss_weight: float = field(
        default=0.0,
        metadata={
            "help": "w of -w * mean tanh(beta * (C - C')) over the right greedy responses of the step's prompts, C and"
            " C' their NMLP on the clean and the noised image, both with gradient (ours; 0 = off)"
        },
    )
    mask_truncated_completions: bool = field(
        default=True,
        metadata={
            "help": "leave rollouts that hit max_completion_length out of the loss (TRL's default is False). On by "
            "default here: trailing filler tokens are confident ones, so without it the confidence rewards teach a "
            "small policy to pad to the length limit instead of ending (seen on ShapesVQA: "
            "docs/experiments/cdrl-rounds.md)"
        },
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.confidence_normalisation not in ("group", "sigmoid"):
            raise ValueError("confidence_normalisation must be 'group' or 'sigmoid'")
        if self.perception_alpha < 0 or self.perception_beta <= 0:
            raise ValueError("set perception_alpha >= 0 and perception_beta > 0")
        if self.perception_loss_weight < 0:
            raise ValueError("perception_loss_weight must be >= 0 (0 turns the pathwise perception loss off)")
        if self.greedy_perception_loss_weight < 0:
            raise ValueError("greedy_perception_loss_weight must be >= 0 (0 turns the greedy perception loss off)")
        if self.greedy_calibration_loss_weight < 0:
            raise ValueError("greedy_calibration_loss_weight must be >= 0 (0 turns the greedy calibration loss off)")
        if self.calibration_loss_weight < 0:
            raise ValueError("calibration_loss_weight must be >= 0 (0 turns the pathwise calibration loss off)")
        if self.confidence_top_k < 1:
            raise ValueError("confidence_top_k must be >= 1 (the paper uses 20)")
        if self.load_best_model_at_end:
            raise ValueError(
                "leave load_best_model_at_end off and set metric_for_best_model: train_cdrl exports the best dev "
                "checkpoint itself (transformers' loader silently skips Qwen2.5-VL checkpoints' renamed weights)"
            )
        if (self.num_generations or 0) < 2:
            raise ValueError("num_generations must be >= 2: the calibration reward normalises within a group")
