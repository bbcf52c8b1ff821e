"""Where to perturb an item's image: the evidence region, found three ways (one function for the probe and CDRL).

- ``global``: the whole image (no mask);
- ``objects``: the objects the question is about, from the item's ground truth (ShapesVQA items carry them; other
  items fall back to the whole image);
- ``question``: the patches a relevance model (CLIP) finds most relevant to the question, any benchmark.
"""

from __future__ import annotations

from typing import Literal, get_args

from PIL import Image

from catts_graph.benchmarks import BenchmarkItem
from catts_graph.shapes.world import ShapeObject, evidence_mask
from nodes.errors import InvalidInputError
from nodes.perturb import Mask
from nodes.relevance import RelevanceModel, question_mask

Region = Literal["global", "objects", "question"]
REGIONS: tuple[Region, ...] = get_args(Region)


def region_mask(
    item: BenchmarkItem,
    image: Image.Image,
    region: Region,
    *,
    relevance: RelevanceModel | None = None,
    top_fraction: float = 0.25,
) -> Mask | None:
    """The (H, W) mask of `item`'s evidence in `image`, or None for the whole image."""
    if region == "global":
        return None
    if region == "question":
        if relevance is None:
            raise InvalidInputError("region 'question' needs a relevance model (on the command line: --clip).")
        return question_mask(relevance, image, item.question, top_fraction)
    objects = [
        ShapeObject(**{k: o[k] for k in ("shape", "color", "cx", "cy", "half")}) for o in item.meta.get("objects", [])
    ]
    if not objects or image.width != image.height:
        return None  # no object boxes: the whole image
    return evidence_mask(item.question, objects, image.width)
