"""RH-AUC (docs/method.md section 6, arXiv 2505.21523): does longer reasoning cost perception?

Sweep the reasoning length through token budgets; at each budget measure reasoning accuracy R (on reasoning items)
and perception accuracy H (on perception items) with greedy decoding capped at the budget; min-max normalise R and
H over the sweep; RH-AUC is the area under H as a function of R (trapezoids, points ordered by R). 1 means
perception holds up however long the model reasons; a model that sees less as it reasons longer scores low.

Conventions (ours): an item's category is ``meta["category"]`` (``perception`` or ``reasoning``); ShapesVQA items
are split by question type: the colour of the largest shape and the total count are perception (one visual
attribute), the colour- and shape-filtered counts are reasoning (find, filter, then count). When H is constant over
the sweep it normalises to 1 (nothing lost); when R is constant the area is undefined (NaN).

Example:
    >>> round(rh_auc([0.2, 0.5, 0.8], [0.9, 0.6, 0.3]), 3)  # perception falls as reasoning improves
    0.5
"""

from __future__ import annotations

import asyncio
import itertools
import math
from collections.abc import Callable, Sequence
from typing import Any

from catts_graph.benchmarks import BenchmarkItem, matches
from catts_graph.evaluation.metrics import min_max
from nodes.answers import extract_answer
from nodes.common import question_messages
from nodes.confidence import finite_mean
from nodes.protocol import SamplingParams, VisionLanguageModel

PERCEPTION_TYPES = {"largest", "count_all"}  # ShapesVQA question types read off one visual attribute


def category(item: BenchmarkItem) -> str | None:
    """``perception``, ``reasoning``, or None (the item is left out of RH-AUC)."""
    given = item.meta.get("category")
    if given in ("perception", "reasoning"):
        return str(given)
    question_type = item.meta.get("question_type")
    if question_type is None:
        return None
    return "perception" if question_type in PERCEPTION_TYPES else "reasoning"


def rh_auc(reasoning: Sequence[float], perception: Sequence[float]) -> float:
    """Area under normalised perception accuracy over normalised reasoning accuracy, one point per budget."""
    if len(reasoning) != len(perception) or len(reasoning) < 2:
        raise ValueError("rh_auc needs the same number (>= 2) of reasoning and perception accuracies")
    r = min_max(reasoning, constant=math.nan)
    if any(math.isnan(v) for v in r):
        return math.nan
    h = min_max(perception, constant=1.0)
    points = sorted(zip(r, h, strict=True))  # ordered by R
    return sum((r1 - r0) * (h0 + h1) / 2 for (r0, h0), (r1, h1) in itertools.pairwise(points))


async def rh_item(model: VisionLanguageModel, item: BenchmarkItem, budgets: Sequence[int]) -> list[dict[str, Any]]:
    """One line per budget: the greedy answer capped at that many tokens, right or wrong."""
    messages = question_messages(item.graph_input())
    kind = category(item)
    lines = []
    for budget in budgets:
        sample = (await model.sample(messages, SamplingParams(n=1, temperature=0.0, max_tokens=budget)))[0]
        predicted = extract_answer(sample.text, answer_type=item.answer_type, choices=item.choices)
        lines.append(
            {
                "id": item.id,
                "category": kind,
                "budget": budget,
                "prediction": predicted,
                "gold": item.answer,
                "correct": matches(predicted, item),
                "completion_tokens": sample.completion_tokens,
            }
        )
    return lines


async def run_rh_sweep(
    model: VisionLanguageModel,
    items: Sequence[BenchmarkItem],
    budgets: Sequence[int],
    write: Callable[[list[dict[str, Any]]], Any],
    *,
    concurrency: int = 8,
    on_item: Callable[[], None] = lambda: None,
) -> None:
    """Run every item at every budget; `write` (e.g. `ResultsFile.append`) gets one item's lines at a time."""
    gate = asyncio.Semaphore(concurrency)

    async def one(item: BenchmarkItem) -> None:
        async with gate:
            await write(await rh_item(model, item, budgets))
        on_item()

    await asyncio.gather(*(one(item) for item in items if category(item) is not None))


def summarize_rh(lines: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Per budget: R, H, item counts and mean completion tokens; and the RH-AUC over the sweep."""
    budgets = sorted({line["budget"] for line in lines})
    rows = []
    for budget in budgets:
        at = [line for line in lines if line["budget"] == budget]
        reasoning = [line["correct"] for line in at if line["category"] == "reasoning"]
        perception = [line["correct"] for line in at if line["category"] == "perception"]
        rows.append(
            {
                "budget": budget,
                "reasoning_accuracy": finite_mean(reasoning),
                "perception_accuracy": finite_mean(perception),
                "n_reasoning": len(reasoning),
                "n_perception": len(perception),
                "mean_completion_tokens": sum(line["completion_tokens"] for line in at) / len(at),
            }
        )
    usable = [r for r in rows if not (math.isnan(r["reasoning_accuracy"]) or math.isnan(r["perception_accuracy"]))]
    area = (
        rh_auc([r["reasoning_accuracy"] for r in usable], [r["perception_accuracy"] for r in usable])
        if len(usable) >= 2
        else math.nan
    )
    return {"rh_auc": area, "budgets": rows}
