"""Lab: the base recipe's SFT with each listed object anchored to its cell of the 8 x 8 image-token grid.

    python docs/experiments/position_rationale.py runs/v2b/shapes-base-vision runs/posrat/img224-vpf-pos-s700

Trains 700 SFT steps (batch 32, lr 1.5e-3, seed 0, tower frozen: step 5 of capacity-study.md) from a pretrained
tower, with count rationales written as ``blue triangle at 1-1, green triangle at 6-2. \\boxed{2}`` (column-row of
the object's centre) instead of ``blue triangle, green triangle. \\boxed{2}``. The change is made in this process only
(`ShapesItem.target` is replaced), so every role that trains on the reference response sees it; the package's world
is untouched. Measure the result with `capacity_study.py eval` as any other point.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from catts_graph.shapes.world import ShapesItem

GRID = 8  # image tokens per side at 224 px


def positioned_target(item: ShapesItem) -> str:
    """The reference response with each listed object followed by ``at COL-ROW``; other answers unchanged."""
    if item.answer_type != "integer":
        return f"{item.rationale} \\boxed{{{item.answer}}}"
    listed = {word.strip(" .") for word in item.rationale.split(",")}
    picked = sorted((o for o in item.objects if o.describe() in listed), key=lambda o: (o.cx, o.cy))
    if not picked:
        return f"none. \\boxed{{{item.answer}}}"
    cells = (f"{o.describe()} at {int(o.cx * GRID // item.size)}-{int(o.cy * GRID // item.size)}" for o in picked)
    return f"{', '.join(cells)}. \\boxed{{{item.answer}}}"


def main() -> None:
    from trainers.sft import SFTConfig, sft_train
    from trainers.shapes.models import BATCH_SIZE, VISION_FROZEN
    from trainers.shapes.roles import BASE_MIX, role_stream

    ShapesItem.target = property(positioned_target)  # type: ignore[method-assign,assignment]
    config = SFTConfig(steps=700, batch_size=BATCH_SIZE, learning_rate=1.5e-3, seed=0, frozen=VISION_FROZEN)
    sft_train(sys.argv[1], role_stream(BASE_MIX, block=BATCH_SIZE), sys.argv[2], config, progress=True)


if __name__ == "__main__":
    main()
