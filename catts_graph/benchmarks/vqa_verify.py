"""SATORI-R1's VQA-Verify (``justairr/VQA-Verify``) as a benchmark with grounding truth, from a local copy.

The published schema is ms-swift's (the columns SATORI's reward plugin reads): ``messages`` (chat turns; the user
turn holds the question, with an ``<image>`` placeholder), ``images`` (paths relative to the file, or
``{"bytes", "path"}``), ``image_caption``, ``bboxs`` (the evidence boxes ``[[x1, y1, x2, y2], ...]`` in original
pixels), ``width``, ``height`` and ``possible_answers`` (every accepted answer; the first is the item's answer, all are
kept in ``meta``). Each record becomes a `BenchmarkItem` with `boxes` and `caption`.

Example:
    >>> item = vqa_verify_item(record, root=Path("data/vqa-verify"))  # doctest: +SKIP
    >>> item.boxes, item.caption  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from catts_graph.benchmarks.items import BenchmarkItem, read_boxes
from nodes.answers import normalize_answer
from nodes.errors import InvalidImageError, InvalidInputError
from nodes.images import to_data_url

PLACEHOLDER = "<image>"


def _question(messages: Any) -> str:
    """The first user turn's text, without image placeholders."""
    for turn in messages or []:
        if isinstance(turn, dict) and turn.get("role") == "user":
            return str(turn.get("content") or "").replace(PLACEHOLDER, "").strip()
    return ""


def _image(value: Any, root: Path) -> str | None:
    """The record's first image as a data URL: a path inside `root`, or ``{"bytes": ...}``; None if unusable."""
    first = value[0] if isinstance(value, list) and value else value
    if isinstance(first, dict):
        first = first.get("bytes") or first.get("path")
    try:
        if isinstance(first, bytes):
            return to_data_url(first)
        if isinstance(first, str) and first:
            path = (root / first).resolve()
            return to_data_url(path) if path.is_relative_to(root.resolve()) else None
    except InvalidImageError:
        return None
    return None


def vqa_verify_item(record: dict[str, Any], *, root: Path, index: int = 0) -> BenchmarkItem | None:
    """One VQA-Verify record as an item with its boxes and caption; None when it cannot be used (no image, no
    question, no answer, or boxes that do not read)."""
    answers = [str(a) for a in record.get("possible_answers") or [] if str(a).strip()]
    question, image = _question(record.get("messages")), _image(record.get("images"), root)
    if not answers or not question or image is None:
        return None
    try:
        boxes = read_boxes(record.get("bboxs") or [])
    except InvalidInputError:
        return None
    meta = {"source": "vqa-verify", "possible_answers": answers, "width": record.get("width")}
    meta["height"] = record.get("height")
    answer = normalize_answer(answers[0], None, None) or answers[0]
    caption = record.get("image_caption")
    return BenchmarkItem(
        str(record.get("id", index)), question, image, answer, None, None, meta, boxes, caption or None
    )
