"""Lab: does a location-token model find a named object? Greedy answers to the box-only "where is the X?" task,
in process, on ITEMS held-out images of world seed 2 (docs/experiments/grounding.md).

    uv run --no-sync python docs/experiments/grounding/where_iou.py MODEL_DIR [ITEMS] [BINS]

Prints the mean box IoU (`nodes.grounding.union_iou`, the eval's measure), the share of answers that name at least
one box, and how much the first box's x1 and y1 bins vary across images (a model that writes the mean box for every
image has spread near 0; the truth's spread is printed beside it), how its first box follows the first true one,
and its IoU with the best-matching object of any kind (a box on the wrong object scores here, not above).
"""

from __future__ import annotations

import random
import statistics
import sys
from pathlib import Path

import numpy as np
import torch
from transformers import AutoModelForImageTextToText, AutoProcessor

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from catts_graph.shapes.world import make_item
from nodes.grounding import BoxFrame, as_box, parse_grounded, union_iou
from trainers.sft import _chat
from trainers.shapes.roles import where_example


def main(model_dir: str, n_items: int = 80, bins: int = 56) -> None:
    torch.set_num_threads(2)
    processor = AutoProcessor.from_pretrained(model_dir)
    model = AutoModelForImageTextToText.from_pretrained(model_dir, dtype=torch.float32).eval()
    frame, rng = BoxFrame.location_bins(bins), random.Random(0)
    items = [make_item(2, i) for i in range(n_items)]
    examples = [where_example(item, rng, bins) for item in items]
    ious, named, first, truth_first, any_object = [], 0, [], [], []
    with torch.no_grad():
        for k in range(0, n_items, 16):
            batch = examples[k : k + 16]
            texts = [processor.apply_chat_template(_chat(ex), add_generation_prompt=True) for ex in batch]
            images = [list(ex.images) for ex in batch]
            enc = processor(text=texts, images=images, return_tensors="pt", padding=True, padding_side="left")
            out = model.generate(**enc, max_new_tokens=40, do_sample=False, temperature=None, top_p=None)
            replies = processor.batch_decode(out[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)
            for item, ex, reply in zip(items[k : k + 16], batch, replies, strict=True):
                boxes = parse_grounded(reply).boxes or []  # the box tag alone: no caption or answer to read
                truth = parse_grounded(ex.answer).boxes or []
                size = item.size
                pixels = frame.to_image(boxes, size, size), frame.to_image(truth, size, size)
                ious.append(union_iou(*pixels, size, size))
                named += bool(boxes)
                if boxes and truth:
                    first.append(boxes[0][:2])
                    truth_first.append(truth[0][:2])
                    box = frame.to_image(boxes[:1], size, size)
                    objects = [[as_box(o.box)] for o in item.objects]
                    any_object.append(max(union_iou(box, o, size, size) for o in objects))
    spread = [statistics.pstdev(v[i] for v in first) if first else 0.0 for i in (0, 1)]
    truth_spread = [statistics.pstdev(v[i] for v in truth_first) if truth_first else 0.0 for i in (0, 1)]
    print(f"where-task greedy on {n_items} items of seed 2: mean IoU {statistics.mean(ious):.3f}, "
          f"names boxes {named / n_items:.0%}")  # fmt: skip
    truth_text = f"{truth_spread[0]:.1f}/{truth_spread[1]:.1f}"
    print(f"first box x1/y1 bin spread {spread[0]:.1f}/{spread[1]:.1f} (truth {truth_text})")
    if len(first) > 2:
        r = [float(np.corrcoef([v[i] for v in first], [v[i] for v in truth_first])[0, 1]) for i in (0, 1)]
        error = [statistics.mean(abs(a[i] - b[i]) for a, b in zip(first, truth_first, strict=True)) for i in (0, 1)]
        print(f"first box against the first true box: x1/y1 correlation {r[0]:.2f}/{r[1]:.2f}, "
              f"mean error {error[0]:.1f}/{error[1]:.1f} bins")  # fmt: skip
        print(f"first box's IoU with the best-matching object of any kind: {statistics.mean(any_object):.3f}")


if __name__ == "__main__":
    main(sys.argv[1], *(int(a) for a in sys.argv[2:]))
