"""`GroundingGRPOConfig`: the CDRL trainer's config (one GRPO code path) plus the grounding knobs."""

from __future__ import annotations

from dataclasses import dataclass, field

from trainers.cdrl.config import CDRLConfig

FRAMES = ("resized", "normalized", "original", "location")


@dataclass
class GroundingGRPOConfig(CDRLConfig):
    """`CDRLConfig` plus what a grounding run (SATORI-R1: format, caption, box and answer rewards) needs."""

    box_frame: str = field(
        default="resized",
        metadata={
            "help": "the frame the model writes boxes in: 'resized' (pixels of its processor's resized input, read "
            "from the processor: Qwen2.5-VL), 'normalized' (a 0-1000 grid: Qwen2-VL, Qwen3-VL), 'original', or "
            "'location' (the model's own <loc_K> tokens, their bin count read from its tokenizer)"
        },
    )
    with_cdrl_rewards: bool = field(
        default=False,
        metadata={"help": "add CDRL's perception and calibration rewards (C and C' on each pair's noised twin)"},
    )
    sft_steps: int = field(
        default=0, metadata={"help": "steps of the SFT warm-up on the grounded format before GRPO (0 = none)"}
    )
    sft_learning_rate: float = field(default=1e-3, metadata={"help": "peak learning rate of the SFT warm-up"})

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.box_frame not in FRAMES:
            raise ValueError(f"box_frame must be one of {', '.join(FRAMES)}")
        if self.sft_steps < 0:
            raise ValueError("sft_steps must be >= 0 (0 skips the warm-up: start from a model that grounds)")
