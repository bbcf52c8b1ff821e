"""Question-guided regions: where in the image the evidence a question needs lies.

A `RelevanceModel` (e.g. `catts_graph.perception.clip_relevance.ClipRelevance`, a CLIP model) maps an image and a
text to a patch-level relevance grid; `question_query` turns a question into the text to look for; `relevance_mask`
keeps the most relevant fraction of patches as a pixel mask for `nodes.perturb.perturb`. The self-check and the CDRL
pair builder use this to destroy the evidence rather than the whole image.

Example:
    >>> import numpy as np
    >>> grid = np.array([[0.1, 0.9], [0.2, 0.3]])
    >>> relevance_mask(grid, 4, 4, 0.25).astype(int)
    array([[0, 0, 1, 1],
           [0, 0, 1, 1],
           [0, 0, 0, 0],
           [0, 0, 0, 0]])
"""

from __future__ import annotations

import math
import re
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt
from PIL import Image

from nodes.errors import InvalidInputError
from nodes.perturb import Mask

Grid = npt.NDArray[np.floating]  # (gh, gw): relevance of each image patch to a text; larger = more relevant

_TAIL = r"(?: are there| can you see| do you see| is there)?\s*\??\s*$"
_HOW_MANY = re.compile(r"^\s*how many (?P<what>.+?)" + _TAIL, re.IGNORECASE)
_WHAT_IS = re.compile(r"^\s*what (?:colou?r|shape) is (?:the )?(?P<what>.+?)\s*\??\s*$", re.IGNORECASE)


@runtime_checkable
class RelevanceModel(Protocol):
    """Scores every patch of an image for its relevance to a text."""

    def relevance(self, image: Image.Image, text: str) -> Grid:
        """A (gh, gw) grid; only the order of its values matters to `relevance_mask`."""
        ...


def question_query(question: str) -> str:
    """The text to look for in the image: the object phrase of a counting or attribute question, else the question.

    >>> question_query("How many red shapes are there?"), question_query("What colour is the largest shape?")
    ('red shapes', 'largest shape')
    """
    for pattern in (_HOW_MANY, _WHAT_IS):
        match = pattern.match(question)
        if match:
            return match.group("what").strip()
    return question.strip()


def relevance_mask(grid: Grid, width: int, height: int, fraction: float) -> Mask:
    """A (height, width) mask covering the top `fraction` of the grid's patches (at least one), stretched to size."""
    if grid.ndim != 2 or grid.size == 0:
        raise InvalidInputError(f"a relevance grid must be a non-empty 2-D array, got shape {grid.shape}.")
    if not 0.0 < fraction <= 1.0:
        raise InvalidInputError(f"the relevant fraction must be in (0, 1], got {fraction}.")
    if not np.isfinite(grid).all():
        raise InvalidInputError("the relevance grid has NaN or infinite values.")
    gh, gw = grid.shape
    keep = max(1, math.ceil(fraction * grid.size))
    order = np.argsort(-grid.ravel(), kind="stable")  # (gh*gw,) most relevant first, ties by position
    selected = np.zeros(grid.size, dtype=bool)  # (gh*gw,)
    selected[order[:keep]] = True
    rows = np.minimum(np.arange(height) * gh // height, gh - 1)  # (H,) patch row of each pixel row
    cols = np.minimum(np.arange(width) * gw // width, gw - 1)  # (W,) patch column of each pixel column
    mask: Mask = selected.reshape(gh, gw)[rows[:, None], cols[None, :]]  # (H, W)
    return mask


def question_mask(model: RelevanceModel, image: Image.Image, question: str, fraction: float) -> Mask:
    """The pixels of `image` most relevant to `question` (the top `fraction` of patches)."""
    grid = np.asarray(model.relevance(image, question_query(question)), dtype=np.float64)  # (gh, gw)
    return relevance_mask(grid, image.width, image.height, fraction)
