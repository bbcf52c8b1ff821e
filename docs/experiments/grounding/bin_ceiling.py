"""The IoU a box written as location tokens can reach at most, per bin count: every evidence box of ShapesVQA items
(world seed 2) quantized to B bins per axis of the image and read back, against the box itself.

    uv run --no-sync python docs/experiments/grounding/bin_ceiling.py 500
"""

from __future__ import annotations

import sys

import numpy as np

from catts_graph.shapes.world import make_item
from nodes.grounding import BoxFrame

BINS = (16, 28, 32, 56, 64, 112)


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    # a, b: (K, 4) boxes (x1, y1, x2, y2)
    w = np.clip(np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]), 0, None)  # (K,)
    h = np.clip(np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]), 0, None)  # (K,)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])  # (K,)
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])  # (K,)
    return w * h / (area_a + area_b - w * h)


def main(n: int) -> None:
    items = [make_item(2, i) for i in range(n)]
    size = items[0].render().size[0]
    boxes = np.array([b for item in items for b in item.evidence_boxes], dtype=float)  # (K, 4) pixels
    side = np.median(boxes[:, 2] - boxes[:, 0])  # () pixels
    print(f"{len(boxes)} evidence boxes of {n} items, image {size} px; median box side {side:.0f} px")
    print("| bins | pixels per bin | mean IoU ceiling | min | share >= 0.9 |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    for bins in BINS:
        frame = BoxFrame("normalized", scale=bins - 1)
        written = np.rint(np.array(frame.from_image([tuple(b) for b in boxes], size, size)))  # (K, 4) bin indices
        read = np.array(frame.to_image([tuple(b) for b in written], size, size))  # (K, 4) pixels
        ious = iou(read, boxes)  # (K,)
        print(f"| {bins} | {size / bins:.1f} | {ious.mean():.3f} | {ious.min():.3f} | {(ious >= 0.9).mean():.2f} |")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 500)
