"""Lab: the base recipe's SFT with the count rationales written in another form.

    python docs/experiments/rationale_form.py position runs/v2b/shapes-base-vision runs/posrat/img224-vpf-pos-s700
    python docs/experiments/rationale_form.py grouped runs/v2b/shapes-base-vision runs/grouped/img224-vpf-grp-s700

Trains 700 SFT steps (batch 32, lr 1.5e-3, seed 0, tower frozen: step 5 of capacity-study.md) from a pretrained
tower. The world lists the matching objects left to right (``green triangle, blue triangle, green triangle.``); the
forms here are

- ``position``: each listed object followed by its column-row cell of the 8 x 8 image-token grid
  (``green triangle at 1-1, blue triangle at 3-5, green triangle at 6-2.``);
- ``grouped``: the same objects grouped by class, colours and shapes in the world's fixed order
  (``blue triangle, green triangle, green triangle.``), so each step of the listing counts one class.

The change is made in this process only (`ShapesItem.target` is replaced), so every role that trains on the reference
response sees it; the package's world is untouched. Measure the result with `capacity_study.py eval` as any other
point.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from catts_graph.shapes.world import COLORS, SHAPES, ShapesItem

GRID = 8  # image tokens per side at 224 px
_reference = ShapesItem.target.fget  # the world's own response, kept before `main` replaces the property


def _listed(item: ShapesItem) -> list[str]:
    return [word.strip(" .") for word in item.rationale.split(",")]


def positioned_target(item: ShapesItem) -> str:
    """The reference response with each listed object followed by ``at COL-ROW``; other answers unchanged."""
    if item.answer_type != "integer":
        return _reference(item)
    listed = set(_listed(item))
    picked = sorted((o for o in item.objects if o.describe() in listed), key=lambda o: (o.cx, o.cy))
    if not picked:
        return f"none. \\boxed{{{item.answer}}}"
    cells = (f"{o.describe()} at {int(o.cx * GRID // item.size)}-{int(o.cy * GRID // item.size)}" for o in picked)
    return f"{', '.join(cells)}. \\boxed{{{item.answer}}}"


def grouped_target(item: ShapesItem) -> str:
    """The reference response with the listed objects grouped by colour, then shape; other answers unchanged."""
    if item.answer_type != "integer" or item.rationale == "none.":
        return _reference(item)
    order = {f"{color} {shape}": (i, j) for i, color in enumerate(COLORS) for j, shape in enumerate(SHAPES)}
    return f"{', '.join(sorted(_listed(item), key=order.__getitem__))}. \\boxed{{{item.answer}}}"


FORMS = {"position": positioned_target, "grouped": grouped_target}


def main() -> None:
    from trainers.sft import SFTConfig, sft_train
    from trainers.shapes.models import BATCH_SIZE, VISION_FROZEN
    from trainers.shapes.roles import BASE_MIX, role_stream

    form, init, out = sys.argv[1:4]
    ShapesItem.target = property(FORMS[form])  # type: ignore[method-assign,assignment]
    config = SFTConfig(steps=700, batch_size=BATCH_SIZE, learning_rate=1.5e-3, seed=0, frozen=VISION_FROZEN)
    sft_train(init, role_stream(BASE_MIX, block=BATCH_SIZE), out, config, progress=True)


if __name__ == "__main__":
    main()
