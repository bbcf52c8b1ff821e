"""The grounded response format (SATORI-R1): a caption, the boxes of the evidence, then the answer.

    <caption>a red circle, a blue square.</caption> <bbox>[[12,30,40,58]]</bbox> <answer>1</answer>

`nodes.prompts.grounded_prompt` asks for it; `parse_grounded` reads what a model really writes (missing or unclosed
tags, boxes in other bracket forms, swapped corners, coordinates outside the image) and never raises on model text:
what it could not read is listed in `problems`. Boxes are written in the model's own input frame; `BoxFrame` maps
them to the original image's pixels (Qwen2.5-VL writes pixels of its resized input, Qwen2-VL and Qwen3-VL a 0-1000
grid).
A model with a vocabulary of location tokens (Pix2Seq, Kosmos-2, Florence-2, PaliGemma) writes each coordinate as one
token, ``<loc_K>`` with K a bin of a grid over the image, four per box in the order x1, y1, x2, y2:
``<bbox><loc_6><loc_15><loc_20><loc_29></bbox>``; its frame is `BoxFrame.location_bins`.
Answer extraction (`nodes.answers`) reads the ``<answer>`` tag, so voting works on grounded responses unchanged.

Example:
    >>> parsed = parse_grounded("<caption>two shapes</caption> <bbox>[10, 10, 30, 30]</bbox> <answer>2</answer>")
    >>> parsed.boxes, parsed.answer
    ([(10.0, 10.0, 30.0, 30.0)], '2')
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

Box = tuple[float, float, float, float]  # (x1, y1, x2, y2), x1 <= x2, y1 <= y2

_TAG = {name: re.compile(rf"<{name}>(.*?)(?:</{name}>|$)", re.DOTALL) for name in ("caption", "bbox", "answer")}
_NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?")
_LOCATION = re.compile(r"<loc_(\d+)>")


def as_box(values: Sequence[float]) -> Box:
    """Four coordinates as a `Box` of floats."""
    x1, y1, x2, y2 = values
    return (float(x1), float(y1), float(x2), float(y2))


def location_token(k: int) -> str:
    """The location token of bin `k`."""
    return f"<loc_{k}>"


def location_token_ids(vocab: Mapping[str, int]) -> list[int]:
    """The ids of a vocabulary's location tokens in bin order, ``<loc_0>`` on while they run unbroken (empty for a
    model without them); their count is the model's bins per axis."""
    ids: list[int] = []
    while location_token(len(ids)) in vocab:
        ids.append(vocab[location_token(len(ids))])
    return ids


def format_boxes(boxes: Sequence[Sequence[float]], *, location_tokens: bool = False) -> str:
    """``[[x1,y1,x2,y2], ...]`` with integer coordinates (``[]`` for none), or with `location_tokens` four
    ``<loc_K>`` per box, concatenated (nothing for none); coordinates already in the model's frame."""
    if location_tokens:
        return "".join(location_token(round(v)) for box in boxes for v in box)
    return "[" + ", ".join("[" + ",".join(str(round(v)) for v in box) + "]" for box in boxes) + "]"


def grounded_response(
    caption: str, boxes: Sequence[Sequence[float]], answer: str, *, location_tokens: bool = False
) -> str:
    """A response in the grounded format (boxes already in the model's frame; see `format_boxes`)."""
    written = format_boxes(boxes, location_tokens=location_tokens)
    return f"<caption>{caption}</caption> <bbox>{written}</bbox> <answer>{answer}</answer>"


@dataclass(frozen=True)
class GroundedResponse:
    """What a response says: caption, boxes (None when it names no box list at all) and answer, as written."""

    caption: str | None
    boxes: list[Box] | None
    answer: str | None
    problems: tuple[str, ...] = field(default=())

    @property
    def well_formed(self) -> bool:
        """All three tags present and closed, in order, and a box list read without problems."""
        return not self.problems


def _tag(text: str, name: str, problems: list[str]) -> tuple[str | None, int]:
    """The content of the first `name` tag and where it starts (-1 when absent); an unclosed tag reads to the end."""
    match = _TAG[name].search(text)
    if match is None:
        problems.append(f"no <{name}> tag")
        return None, -1
    if not match.group(0).endswith(f"</{name}>"):
        problems.append(f"<{name}> is not closed")
    return match.group(1).strip(), match.start()


def parse_boxes(content: str, problems: list[str]) -> list[Box]:
    """Boxes from a box list: location tokens when it has any, else numbers in any bracket form; every four, in
    order, are one box; corners are sorted."""
    locations = _LOCATION.findall(content)
    if locations:
        numbers = [float(n) for n in locations]
        if _NUMBER.search(_LOCATION.sub(" ", content)):
            problems.append("numbers written beside location tokens; only the tokens read")
    else:
        numbers = [float(n) for n in _NUMBER.findall(content)]
        if numbers and not content.lstrip().startswith("[["):
            problems.append("boxes not written as [[x1,y1,x2,y2], ...]")
    if len(numbers) % 4:
        problems.append(
            f"{len(numbers)} coordinates is not a whole number of boxes; the last {len(numbers) % 4} dropped"
        )
    boxes = []
    for i in range(0, len(numbers) - len(numbers) % 4, 4):
        x1, y1, x2, y2 = numbers[i : i + 4]
        boxes.append((min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2)))
    return boxes


def parse_grounded(text: str) -> GroundedResponse:
    """Read a grounded response; never raises. Tags out of order or unclosed, and unreadable boxes, are problems."""
    problems: list[str] = []
    caption, at_caption = _tag(text, "caption", problems)
    content, at_bbox = _tag(text, "bbox", problems)
    answer, at_answer = _tag(text, "answer", problems)
    present = [at for at in (at_caption, at_bbox, at_answer) if at >= 0]
    if present != sorted(present):
        problems.append("tags not in the order caption, bbox, answer")
    boxes = None if content is None else parse_boxes(content, problems)
    return GroundedResponse(caption, boxes, answer, tuple(problems))


@dataclass(frozen=True)
class BoxFrame:
    """The coordinate frame a model writes boxes in, and the map to the original image's pixels.

    ``resized``: pixels of the image as the model's processor resized it (Qwen2.5-VL; `min_pixels`, `max_pixels`
    and `factor` must be the processor's, or every box lands in the wrong place). ``normalized``: a 0-`scale` grid
    over the image (Qwen2-VL and Qwen3-VL use 1000). ``original``: the original image's pixels.
    """

    kind: Literal["resized", "normalized", "original"] = "resized"
    min_pixels: int = 56 * 56
    max_pixels: int = 28 * 28 * 16384  # Qwen2.5-VL's processor defaults
    factor: int = 28
    scale: float = 1000.0

    @classmethod
    def location_bins(cls, bins: int) -> BoxFrame:
        """The frame of location tokens: bin K of `bins` per axis is the coordinate K / (bins - 1) of the image's
        side, so bin 0 is its left (top) edge and bin `bins` - 1 its right (bottom) edge."""
        if bins < 2:
            raise ValueError(f"a location grid needs at least 2 bins per axis, not {bins}")
        return cls("normalized", scale=bins - 1)

    def input_size(self, width: int, height: int) -> tuple[int, int]:
        """(width, height) of the frame the model writes in, for an original image of `width` x `height`."""
        if self.kind == "resized":
            h, w = smart_resize(height, width, self.factor, self.min_pixels, self.max_pixels)
            return w, h
        if self.kind == "normalized":
            return round(self.scale), round(self.scale)
        return width, height

    def to_image(self, boxes: Sequence[Box], width: int, height: int) -> list[Box]:
        """`boxes` in the original image's pixels, clipped to it; boxes with no area left are dropped."""
        frame_w, frame_h = self.input_size(width, height)
        sx, sy = width / frame_w, height / frame_h
        out = []
        for x1, y1, x2, y2 in boxes:
            box = (
                min(max(x1 * sx, 0.0), width),
                min(max(y1 * sy, 0.0), height),
                min(max(x2 * sx, 0.0), width),
                min(max(y2 * sy, 0.0), height),
            )
            if box[2] > box[0] and box[3] > box[1]:
                out.append(box)
        return out

    def from_image(self, boxes: Sequence[Box], width: int, height: int) -> list[Box]:
        """`boxes` given in the original image's pixels, in this frame (to write training targets)."""
        frame_w, frame_h = self.input_size(width, height)
        sx, sy = frame_w / width, frame_h / height
        return [(x1 * sx, y1 * sy, x2 * sx, y2 * sy) for x1, y1, x2, y2 in boxes]


def smart_resize(height: int, width: int, factor: int, min_pixels: int, max_pixels: int) -> tuple[int, int]:
    """(height, width) the Qwen2-VL family's image processor resizes an image to: both multiples of `factor`, the
    area within [min_pixels, max_pixels], the aspect ratio kept as nearly as that allows."""
    h = round(height / factor) * factor
    w = round(width / factor) * factor
    if h * w > max_pixels:
        beta = math.sqrt(height * width / max_pixels)
        h = max(factor, math.floor(height / beta / factor) * factor)
        w = max(factor, math.floor(width / beta / factor) * factor)
    elif h * w < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h = math.ceil(height * beta / factor) * factor
        w = math.ceil(width * beta / factor) * factor
    return h, w


def named_boxes(text: str, frame: BoxFrame, width: int, height: int) -> list[Box]:
    """The boxes a grounded response names, in the pixels of a `width` x `height` image (empty when it names none
    that land inside it)."""
    boxes = parse_grounded(text).boxes
    return frame.to_image(boxes, width, height) if boxes else []


def union_iou(predicted: Sequence[Box], truth: Sequence[Box], width: int, height: int) -> float:
    """Area of (union of `predicted` & union of `truth`) over the area of their union, on the image's pixel grid
    (1.0 when both are empty, 0.0 when one is)."""
    pred_mask, true_mask = (_union_mask(boxes, width, height) for boxes in (predicted, truth))  # (H, W) each
    union = np.logical_or(pred_mask, true_mask).sum()  # ()
    if union == 0:
        return 1.0 if not predicted and not truth else 0.0
    return float(np.logical_and(pred_mask, true_mask).sum() / union)


def _union_mask(boxes: Sequence[Box], width: int, height: int) -> npt.NDArray[np.bool_]:
    """(H, W) boolean mask of the pixels the boxes cover; a box [x1, x2] covers the pixels x1 <= x + 0.5 <= x2."""
    xs, ys = np.arange(width) + 0.5, np.arange(height) + 0.5  # (W,), (H,) pixel centres
    mask = np.zeros((height, width), dtype=bool)  # (H, W)
    for x1, y1, x2, y2 in boxes:
        mask |= ((ys >= y1) & (ys <= y2))[:, None] & ((xs >= x1) & (xs <= x2))[None, :]  # (H, W)
    return mask


def grounding_scores(text: str, truth: Sequence[Box], frame: BoxFrame, width: int, height: int) -> dict[str, float]:
    """How well a response grounds its answer: ``iou`` (`union_iou` of its boxes, mapped to the image, with
    `truth`; 0 when it names no box list) and ``boxes_named`` (1 when it names a box list that reads)."""
    boxes = parse_grounded(text).boxes
    if boxes is None:
        return {"iou": 0.0, "boxes_named": 0.0}
    return {"iou": union_iou(frame.to_image(boxes, width, height), truth, width, height), "boxes_named": 1.0}
