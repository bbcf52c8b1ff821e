"""The synthetic ShapesVQA world as a benchmark: held-out items rendered in memory (images as data URLs).

World seed 2 is the evaluation default (``shapes``); ``shapes:SEED`` picks another. The demo uses seed 1; training
never uses seeds below 10,000.
"""

from __future__ import annotations

from catts_graph.benchmarks.items import BenchmarkItem, read_boxes
from catts_graph.shapes.world import make_item
from nodes.images import png_data_url

SHAPES_EVAL_SEED = 2  # the demo uses seed 1; training never uses seeds below 10,000
SHAPES_DEFAULT_SIZE = 500


def shapes_items(seed: int, limit: int | None) -> list[BenchmarkItem]:
    """The first `limit` items of world `seed` (default: `SHAPES_DEFAULT_SIZE`)."""
    items = []
    for index in range(limit if limit is not None else SHAPES_DEFAULT_SIZE):
        item = make_item(seed, index)
        url = png_data_url(item.render())
        meta = {"question_type": item.question_type, "objects": [o.__dict__ | {"box": o.box} for o in item.objects]}
        boxes = read_boxes(item.evidence_boxes)
        items.append(
            BenchmarkItem(
                item.id,
                item.question,
                url,
                item.answer,
                item.answer_type,
                None,
                meta,
                boxes,
                item.caption,
                tuple(item.reference_steps),
            )
        )
    return items
