"""Lab: the location-token grounded start with box-only "where is the X?" examples mixed in
(docs/experiments/grounding.md, "Box-only examples").

    uv run --no-sync python docs/experiments/grounding/where_pretrain.py OUT [STEPS] [WHERE] [VISION_STEPS] \
        [BOX_ATTENTION] [BOX_READOUT]

The same recipe as `catts train sft --role grounded --location-bins 56 --steps STEPS` (default 600), with a share
WHERE (default 0.4) of every batch's role drawn as `trainers.shapes.roles.where_example`. With VISION_STEPS the
tower first learns where its tokens and their objects are (`pretrain_vision(where=True)`, the second design), so the
location tokens are written from tokens that carry their position ("Location tokens on the where-trained tower").
BOX_ATTENTION and BOX_READOUT weigh the losses that send one head to the image tokens under each box it writes and
make the bin readable where it is written (`trainers.box_supervision`; "Box attention", "Box readout").
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as every catts command: no spinning beside another process
sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from catts_graph.shapes.bundled import bundled_model
from trainers.shapes.models import train_grounded_start


def main(
    out: str,
    steps: int = 600,
    where: float = 0.4,
    vision_steps: int = 0,
    box_attention: float = 0.0,
    box_readout: float = 0.0,
) -> None:
    result = train_grounded_start(
        bundled_model("shapes-base"),
        out,
        steps=steps,
        location_bins=56,
        where=where,
        vision_steps=vision_steps,
        box_attention=box_attention,
        box_readout=box_readout,
    )
    print(f"trained {result.steps} steps in {result.seconds / 60:.1f} min; final loss {result.final_loss:.3f}")


if __name__ == "__main__":
    args = sys.argv[1:]
    numbers = (int, float, int, float, float)
    main(args[0], *(kind(a) for kind, a in zip(numbers, args[1:], strict=False)))
