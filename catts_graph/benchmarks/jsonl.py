"""The JSONL benchmark contract and its reader (`catts eval --benchmark jsonl:PATH`).

UTF-8, one item per line: `id`, `image` (a path relative to the file, or a data URL), `question`, `answer`, optional
`choices` (option texts; the answer is then a letter), `answer_type` (`integer|float|text|choice`), and grounding
truth: `boxes` (``[[x1, y1, x2, y2], ...]``, the evidence in pixels of the image; a box outside the image is refused
with its line, not clipped) and `caption`; step truth: `steps` (the reference rationale's steps, a list of texts).
Unknown fields are kept in `meta`. A bad line is reported with its file and line number, before any model call.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from catts_graph.benchmarks.items import BenchmarkError, BenchmarkItem, read_boxes
from nodes.answers import ANSWER_TYPES, normalize_answer
from nodes.errors import InvalidImageError, InvalidInputError
from nodes.grounding import Box
from nodes.images import fetch_image, load_image
from nodes.inputs import MAX_QUESTION_CHARS, check_choices


def _resolve_image(value: Any, root: Path, where: str, allow_remote: bool = False) -> tuple[str, tuple[int, int]]:
    """The item's image as a data URL or an absolute path inside `root`, checked to decode (before any output), and
    its size in pixels (width, height)."""
    if not isinstance(value, str) or not value:
        raise BenchmarkError(f"{where}: `image` must be a path or a data URL string.")
    image = value
    if value.startswith(("http://", "https://")):
        if not allow_remote:
            raise BenchmarkError(
                f"{where}: remote image URLs are not fetched unless allowed; download the image and give its path, "
                "or pass --allow-remote-images."
            )
        try:
            image = fetch_image(value)  # a validated data URL
        except InvalidImageError as e:
            raise BenchmarkError(f"{where}: {e}") from None
    elif not value.startswith("data:"):
        path = (root / value).resolve()
        if not path.is_relative_to(root.resolve()):
            raise BenchmarkError(f"{where}: image path {value!r} leaves the benchmark's folder; refused.")
        image = str(path)
    try:
        size = load_image(image).size  # corrupt, truncated, oversized, zero-size: refused here, not mid-run
    except InvalidImageError as e:
        raise BenchmarkError(f"{where}: {e}") from None
    return image, size


def _boxes_on(boxes: tuple[Box, ...], size: tuple[int, int], where: str) -> tuple[Box, ...]:
    """`boxes` when each lies on the image (edges included); a box outside it is refused with the line, not clipped:
    such a box is usually in another frame (a 0-1000 grid, the resized input) and clipping would hide that."""
    width, height = size
    for box in boxes:
        x1, y1, x2, y2 = box
        if min(x1, y1) < 0 or x2 > width or y2 > height:
            shown = "[" + ", ".join(f"{v:g}" for v in box) + "]"
            raise BenchmarkError(
                f"{where}: box {shown} lies outside the {width} x {height} image; boxes are [x1, y1, x2, y2] in "
                "pixels of the image itself (a box in a 0-1000 grid or a resized frame must be converted first)."
            )
    return boxes


def _question(value: Any, where: str) -> str:
    """The item's question, refused here (with its line) when the graph would refuse it mid-run."""
    if not isinstance(value, str):
        raise BenchmarkError(f"{where}: `question` must be text, got {type(value).__name__}.")
    if not value.strip():
        raise BenchmarkError(f"{where}: the question is empty; every item needs question text.")
    if len(value) > MAX_QUESTION_CHARS:
        raise BenchmarkError(
            f"{where}: the question has {len(value):,} characters; the limit is {MAX_QUESTION_CHARS:,}."
        )
    return value


def parse_item(record: Any, root: Path, where: str, *, allow_remote_images: bool = False) -> BenchmarkItem:
    """One JSONL record as a `BenchmarkItem`; raises `BenchmarkError` naming `where` on anything malformed."""
    if not isinstance(record, dict):
        raise BenchmarkError(f"{where}: each line must be a JSON object.")
    missing = [k for k in ("id", "image", "question", "answer") if k not in record]
    if missing:
        raise BenchmarkError(f"{where}: missing field(s) {', '.join(missing)}.")
    choices = record.get("choices")
    if choices is not None:
        try:
            choices = check_choices(choices)
        except InvalidInputError as e:
            raise BenchmarkError(f"{where}: {e}") from None
    answer_type = record.get("answer_type") or ("choice" if choices else None)
    if answer_type is not None and answer_type not in ANSWER_TYPES:
        raise BenchmarkError(f"{where}: answer_type must be one of {', '.join(ANSWER_TYPES)}.")
    answer = normalize_answer(str(record["answer"]), answer_type, choices)
    if answer is None:
        raise BenchmarkError(
            f"{where}: the answer {record['answer']!r} cannot be read as {answer_type or 'an answer'}."
        )
    image, size = _resolve_image(record["image"], root, where, allow_remote_images)
    known = ("id", "image", "question", "answer", "choices", "answer_type", "boxes", "caption", "steps")
    meta = {k: v for k, v in record.items() if k not in known}
    try:
        boxes = None if record.get("boxes") is None else read_boxes(record["boxes"])
    except InvalidInputError as e:
        raise BenchmarkError(f"{where}: {e}") from None
    if boxes:
        boxes = _boxes_on(boxes, size, where)
    caption = record.get("caption")
    if caption is not None and not isinstance(caption, str):
        raise BenchmarkError(f"{where}: `caption` must be text, got {type(caption).__name__}.")
    steps = record.get("steps")
    if steps is not None and not (isinstance(steps, list) and all(isinstance(t, str) for t in steps)):
        raise BenchmarkError(f"{where}: `steps` must be a list of texts (the reference rationale's steps).")
    return BenchmarkItem(
        id=str(record["id"]),
        question=_question(record["question"], where),
        image=image,
        answer=answer,
        answer_type=answer_type,
        choices=tuple(choices) if choices else None,
        meta=meta,
        boxes=boxes,
        caption=caption,
        steps=None if steps is None else tuple(steps),
    )


def read_jsonl(
    path: str | Path, *, skip_bad_lines: bool = False, allow_remote_images: bool = False
) -> tuple[list[BenchmarkItem], list[str]]:
    """Items of a benchmark file, and the problems of the lines that were skipped (only with `skip_bad_lines`).
    Remote ``http(s)`` images are downloaded only with `allow_remote_images`."""
    file = Path(path)
    if not file.is_file():
        raise BenchmarkError(f"benchmark file {file} does not exist.")
    items, problems, seen = [], [], set()
    data = file.read_bytes().removeprefix(b"\xef\xbb\xbf")  # a UTF-8 byte order mark is not part of line 1
    for number, raw in enumerate(data.split(b"\n"), start=1):  # JSON strings may hold U+2028: split on \n only
        if not raw.strip():
            continue
        where = f"{file}:{number}"
        try:
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise BenchmarkError(
                    f"{where}: not UTF-8 text (byte 0x{raw[e.start]:02x} at column {e.start + 1}); "
                    "save the file as UTF-8."
                ) from None
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                raise BenchmarkError(f"{where}: not valid JSON ({e.msg}).") from None
            item = parse_item(record, file.parent, where, allow_remote_images=allow_remote_images)
            if item.id in seen:
                raise BenchmarkError(f"{where}: duplicate id {item.id!r}.")
        except BenchmarkError as e:
            if not skip_bad_lines:
                raise BenchmarkError(f"{e} Fix the line, or pass --skip-bad-lines to evaluate the rest.") from None
            problems.append(str(e))
            continue
        seen.add(item.id)
        items.append(item)
    if not items:
        raise BenchmarkError(f"benchmark file {file} has no usable items.")
    return items, problems
