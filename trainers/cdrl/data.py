"""CDRL training pairs: each item's clean image and its question-guided noised twin (docs/method.md section 3).

`build_pairs` writes ``DIR/pairs.jsonl`` (one record per item: ``id``, ``question``, ``image``, ``noised_image``,
``answer``, ``answer_type``, ``choices``, ``noise``, the image's ``width`` and ``height``, and the item's grounding
truth ``boxes`` and ``caption`` when it has them) and the PNGs under ``DIR/images/``; image paths in the records
are relative to DIR. The noise is any `nodes.perturb` kind at any level, inside the question's evidence region
(`catts_graph.perception.regions`: CLIP relevance, ground-truth objects, or the whole image). The same inputs give
the same files. `pairs_dataset` reads such a folder back as the dataset `CDRLTrainer` trains on, with the plain or
the grounded prompt (a grounding run).

Example:
    >>> bench = load_benchmark("shapes", limit=100)  # doctest: +SKIP
    >>> build_pairs(bench.items, "data/pairs", PairNoise(kind="ddpm", level=0.5, region="objects"))  # doctest: +SKIP
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from catts_graph.benchmarks import BenchmarkItem
from catts_graph.perception.regions import Region, region_mask
from nodes.errors import InvalidInputError
from nodes.images import load_image
from nodes.perturb import KINDS, Kind, perturb
from nodes.prompts import grounded_prompt, question_prompt
from nodes.relevance import RelevanceModel


@dataclass(frozen=True)
class PairNoise:
    """How each noised twin is made."""

    kind: Kind = "ddpm"
    level: float = 0.5
    region: Region = "question"
    top_fraction: float = 0.25  # for region `question`
    seed: int = 0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise InvalidInputError(f"unknown perturbation {self.kind!r}; choose one of {', '.join(KINDS)}.")
        if not 0.0 < self.level <= 1.0:
            raise InvalidInputError(f"noise level must be in (0, 1] (0 would copy the image), got {self.level}.")
        if not 0.0 < self.top_fraction <= 1.0:
            raise InvalidInputError(f"top_fraction must be in (0, 1], got {self.top_fraction}.")


def build_pairs(
    items: Sequence[BenchmarkItem],
    out_dir: str | Path,
    noise: PairNoise,
    *,
    relevance: RelevanceModel | None = None,
    on_item: Callable[[], None] = lambda: None,
) -> Path:
    """Write the pairs of `items` to `out_dir`; returns the path of pairs.jsonl."""
    out = Path(out_dir)
    images = out / "images"
    images.mkdir(parents=True, exist_ok=True)
    lines = []
    for item in items:
        clean = load_image(item.image)
        mask = region_mask(item, clean, noise.region, relevance=relevance, top_fraction=noise.top_fraction)
        noised = perturb(clean, noise.kind, noise.level, mask=mask, seed=noise.seed)
        name = "".join(c if c.isalnum() or c in "-_" else "_" for c in item.id)
        clean.save(images / f"{name}.png")
        noised.save(images / f"{name}.noised.png")
        record = {
            "id": item.id,
            "question": item.question,
            "image": f"images/{name}.png",
            "noised_image": f"images/{name}.noised.png",
            "answer": item.answer,
            "answer_type": item.answer_type,
            "choices": list(item.choices) if item.choices else None,
            "noise": {**asdict(noise), "masked_fraction": None if mask is None else round(float(mask.mean()), 4)},
            "width": clean.width,
            "height": clean.height,
            "boxes": None if item.boxes is None else [list(box) for box in item.boxes],
            "caption": item.caption,
            "steps": None if item.steps is None else list(item.steps),
        }
        lines.append(json.dumps(record) + "\n")
        on_item()
    path = out / "pairs.jsonl"
    path.write_text("".join(lines))
    return path


def pairs_dataset(pairs_dir: str | Path, *, grounded: bool = False, steps: bool = False) -> Any:
    """A `datasets.Dataset` from a `catts data pairs` folder: conversational prompt (`grounded_prompt` if
    `grounded`, else `question_prompt`), both images, the answer (with its `choices`, None for open questions), the
    item's `id`, for a grounded one the grounding truth (``boxes``, ``caption``, ``width``, ``height``), and with
    `steps` the reference steps (``steps``, None for a pair without them)."""
    prompt = grounded_prompt if grounded else question_prompt
    from datasets import Dataset
    from datasets import Image as ImageFeature

    folder = Path(pairs_dir)
    records = [json.loads(line) for line in (folder / "pairs.jsonl").read_text().splitlines() if line.strip()]
    rows = [
        {
            "prompt": [
                {
                    "role": "user",
                    "content": [
                        {"type": "image"},
                        {"type": "text", "text": prompt(r["question"], r.get("choices"))},
                    ],
                }
            ],
            "image": str(folder / r["image"]),
            "noised_image": str(folder / r["noised_image"]),
            "answer": r["answer"],
            "answer_type": r["answer_type"],
            "choices": r.get("choices"),
            "id": str(r.get("id", index)),
            **({key: r.get(key) for key in ("boxes", "caption", "width", "height")} if grounded else {}),
            **({"steps": r.get("steps")} if steps else {}),
        }
        for index, r in enumerate(records)
    ]
    if grounded:
        _check_grounding(records, folder)
    dataset = Dataset.from_list(rows)
    return dataset.cast_column("image", ImageFeature()).cast_column("noised_image", ImageFeature())


def _check_grounding(records: list[dict[str, Any]], folder: Path) -> None:
    """A grounding run needs each pair's image size and true boxes (written by `build_pairs` from items that have
    them); refuse a folder without them before training starts."""
    missing = [str(r.get("id")) for r in records if r.get("boxes") is None or r.get("width") is None]
    if missing:
        raise InvalidInputError(
            f"{folder}: {len(missing)} pair(s) have no evidence boxes or image size (first: {missing[0]}); build the "
            "pairs with `catts data pairs` from a benchmark whose items carry `boxes` (ShapesVQA does)."
        )
