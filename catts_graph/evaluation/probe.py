"""The perceptual-bluntness probe (docs/method.md section 1): corrupt the evidence step by step, watch accuracy and
confidence.

For every item, perturbation kind and level, the served model answers greedily on the perturbed image; the probe
records whether it was right (graded by `benchmarks.matches`, as `catts eval` grades) and its confidence two ways:
`probability` (exp mean log-prob of its own answer) and `nmlp` (mean token confidence). It also scores the *clean*
greedy response, unchanged, under the perturbed image (teacher forcing: the C' of CDRL), whose drop isolates what
the image contributes. A blunt model's accuracy collapses while its confidence stays flat; a calibrated one loses both.
A model that declares a confidence after its answer (`nodes.stated`) has it recorded too (`stated_confidence`, read
as its expected value at the digit's token), and the summary's `declared` is the declared confidence in force
(`nodes.declared`: the statement when the model declares one, else NMLP), with each drop also relative to its clean
value (``*_relative``), so models that declare different kinds of confidence compare in the same units.

Regions: `global` (the whole image), `objects` (the objects the question is about; ShapesVQA items carry them),
`question` (the patches a CLIP relevance model finds most relevant to the question: any benchmark), or `model` (the
boxes the model's own clean grounded response names; a response that names none falls back to `question`, or the
whole image without a relevance model, counted as ``fallback``). With `grounding` the model is asked for grounded
responses, and each row carries the clean response's box IoU against the item's `boxes` (when it has them).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from catts_graph.benchmarks import BenchmarkItem, matches
from catts_graph.perception.regions import Region, region_mask
from nodes.answers import extract_answer
from nodes.confidence import finite_mean, response_confidence
from nodes.config import GroundingConfig
from nodes.declared import ConfidenceSource, resolve_source
from nodes.errors import InvalidInputError
from nodes.grounding import grounding_scores, named_boxes
from nodes.images import load_image, png_data_url
from nodes.perturb import Kind, perturb, pixel_box_mask
from nodes.prompts import grounded_prompt, question_prompt
from nodes.protocol import Message, SamplingParams, VisionLanguageModel
from nodes.relevance import RelevanceModel
from nodes.stated import declared_answer_confidence

MAX_TOKENS = 96  # a short answer and a declared confidence after it
PROBE_FIELDS = {"nmlp": "nmlp", "stated": "stated_confidence"}  # a row's declared confidence, by source


GROUNDED_MAX_TOKENS = 192  # caption, up to six boxes, answer
ProbeRegion = Literal["global", "objects", "question", "model"]


@dataclass(frozen=True)
class ProbeSettings:
    kinds: tuple[Kind, ...] = ("ddpm", "occlusion")
    levels: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0)
    region: ProbeRegion = "objects"
    seed: int = 0
    concurrency: int = 8
    relevance: RelevanceModel | None = None  # for region `question`
    top_fraction: float = 0.25  # for region `question`: the share of patches perturbed
    grounding: GroundingConfig | None = None  # ask for grounded responses (needed by region `model`)
    confidence: ConfidenceSource = "auto"  # the declared confidence the summary's `declared` reads

    def __post_init__(self) -> None:
        if self.region == "model" and self.grounding is None:
            raise InvalidInputError("region 'model' noises the boxes a grounded response names: probe with grounding.")


async def probe_item(model: VisionLanguageModel, item: BenchmarkItem, settings: ProbeSettings) -> list[dict[str, Any]]:
    """One row per (kind, level) for `item`; level 0 is the clean image, shared by every kind."""
    clean = load_image(item.image)
    grounding = settings.grounding
    prompt = (grounded_prompt if grounding else question_prompt)(item.question, item.choices)
    tokens = GROUNDED_MAX_TOKENS if grounding else MAX_TOKENS
    params = SamplingParams(n=1, temperature=0.0, max_tokens=tokens, top_logprobs=20)

    async def answer(url: str) -> Any:
        return (await model.sample([Message("user", prompt, (url,))], params))[0]

    clean_url = png_data_url(clean)
    clean_sample = await answer(clean_url)
    extra: dict[str, float] = {}
    named = []
    if grounding is not None:
        frame = grounding.box_frame()
        named = named_boxes(clean_sample.text, frame, clean.width, clean.height)
        if item.boxes is not None:
            extra = grounding_scores(clean_sample.text, item.boxes, frame, clean.width, clean.height)
    region: Region = "question" if settings.region == "model" else settings.region
    if settings.region == "model" and named:
        mask = pixel_box_mask(clean.width, clean.height, named)  # (H, W)
    elif region == "question" and settings.relevance is None and settings.region == "model":
        mask = None  # no boxes named and no relevance model: the whole image
    else:
        mask = region_mask(item, clean, region, relevance=settings.relevance, top_fraction=settings.top_fraction)
    if settings.region == "model":
        extra["fallback"] = 0.0 if named else 1.0
    rows = []
    for kind in settings.kinds:
        for level in settings.levels:
            url = clean_url if level == 0 else png_data_url(perturb(clean, kind, level, mask=mask, seed=settings.seed))
            sample = clean_sample if level == 0 else await answer(url)
            forced = (
                await model.score([Message("user", prompt, (url,))], clean_sample.text, top_logprobs=20)
                if clean_sample.text
                else None
            )
            predicted = extract_answer(sample.text, answer_type=item.answer_type, choices=item.choices)
            rows.append(
                {
                    "id": item.id,
                    "kind": kind,
                    "level": level,
                    "correct": float(matches(predicted, item)),
                    "probability": sample.probability,
                    "nmlp": sample.confidence,
                    "stated_confidence": declared_answer_confidence(sample.text, sample.tokens),
                    "forced_probability": math.exp(forced.mean) if forced and forced.logprobs else math.nan,
                    "forced_nmlp": response_confidence(list(forced.top_logprobs)) if forced else math.nan,
                    **extra,
                }
            )
    return rows


async def run_probe(
    model: VisionLanguageModel,
    items: Sequence[BenchmarkItem],
    settings: ProbeSettings,
    on_item: Callable[[], None] = lambda: None,
) -> list[dict[str, Any]]:
    """Every row of the probe, items in flight at once up to `settings.concurrency`."""
    gate = asyncio.Semaphore(settings.concurrency)

    async def one(item: BenchmarkItem) -> list[dict[str, Any]]:
        async with gate:
            rows = await probe_item(model, item, settings)
        on_item()
        return rows

    nested = await asyncio.gather(*(one(item) for item in items))
    return [row for rows in nested for row in rows]


def summarize(rows: Sequence[dict[str, Any]], settings: ProbeSettings) -> dict[str, Any]:
    """Per kind and level: accuracy and mean confidences; per kind: the drop from clean to the strongest level."""
    curves: dict[str, list[dict[str, float]]] = {}
    drops: dict[str, dict[str, float]] = {}
    source = resolve_source(rows, settings.confidence)
    declared = [{**r, "declared": r[PROBE_FIELDS[source]]} for r in rows]
    rows = declared
    metrics = ("correct", "probability", "nmlp", "forced_probability", "forced_nmlp", "declared")
    for kind in settings.kinds:
        curve = []
        for level in settings.levels:
            at = [r for r in rows if r["kind"] == kind and r["level"] == level]
            point = {"level": level, "n": float(len(at))} | {m: finite_mean(r[m] for r in at) for m in metrics}
            point["accuracy"] = point.pop("correct")
            curve.append(point)
        curves[kind] = curve
        first, last = curve[0], curve[-1]
        for field in ("iou", "boxes_named", "fallback"):  # grounded runs: the clean response's grounding
            values = [float(r[field]) for r in rows if r["kind"] == kind and r["level"] == 0 and field in r]
            if values:
                curve[0][field] = sum(values) / len(values)
        drops[kind] = {
            "level": last["level"],
            "accuracy": first["accuracy"] - last["accuracy"],
            "probability": first["probability"] - last["probability"],
            "nmlp": first["nmlp"] - last["nmlp"],
            "forced_probability": first["forced_probability"] - last["forced_probability"],
            "forced_nmlp": first["forced_nmlp"] - last["forced_nmlp"],
            "declared": first["declared"] - last["declared"],
            "nmlp_relative": (first["nmlp"] - last["nmlp"]) / first["nmlp"],
            "declared_relative": (first["declared"] - last["declared"]) / first["declared"],
        }
    return {"curves": curves, "drop": drops, "confidence_source": source}
