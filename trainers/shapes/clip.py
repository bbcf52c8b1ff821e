"""The ShapesVQA CLIP: a small open_clip model trained on world images and object phrases, so that question-guided
relevance maps (`catts_graph.perception.clip_relevance`) are meaningful offline.

Training is patch-level and weakly supervised (ours): a phrase's score on an image is its best patch's cosine
similarity (late interaction, as in FILIP), and a sigmoid loss (as in SigLIP) pushes it up for every image in the
batch the phrase names ("red shapes", "circles", "blue square", "shapes": `applies`) and down for the others. So
the patch similarity that `ClipRelevance.relevance` reads is exactly what was trained. A plain CLS/mean-pooled
contrastive CLIP, tried first, localised worse than chance here; how much of the evidence each one's top quarter of
patches covers (`evidence_coverage`): docs/experiments/clip-relevance.md.

Example:
    >>> result = train_shapes_clip("catts_graph/shapes/models/shapes-clip")  # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from catts_graph.perception.clip_relevance import ClipRelevance
from catts_graph.shapes.world import COLORS, SHAPES, ShapeObject, ShapesItem, make_item

CLIP_SEED_BASE = 50_000  # world seeds for CLIP training (disjoint from evaluation's small seeds)
WORDS = (*COLORS, *SHAPES, *(s + "s" for s in SHAPES), "shape", "shapes", "largest", "no", *map(str, range(10)))
VISION_CFG = {"image_size": 112, "patch_size": 14, "width": 128, "layers": 4, "head_width": 64, "mlp_ratio": 2.0}
TEXT_CFG = {"context_length": 8, "vocab_size": len(WORDS) + 3, "width": 128, "heads": 2, "layers": 2, "mlp_ratio": 2.0}
CLIP_CONFIG: dict[str, Any] = {
    "embed_dim": 64,
    "vision_cfg": {**VISION_CFG, "pool_type": "avg"},  # the image embedding is the mean of the patch tokens
    "text_cfg": TEXT_CFG,
}


@dataclass(frozen=True)
class ClipTrainConfig:
    """Contrastive training knobs (defaults: the bundled model's; its training time: docs/experiments/timing.md)."""

    steps: int = 1000
    batch_size: int = 64
    learning_rate: float = 1e-3
    warmup_steps: int = 50
    weight_decay: float = 0.1
    seed: int = 0
    log_every: int = 20

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch_size < 2:
            raise ValueError("steps must be >= 1 and batch_size >= 2 (contrastive loss needs negatives)")


@dataclass
class ClipTrainResult:
    out_dir: Path
    steps: int
    final_loss: float
    seconds: float
    log: list[dict[str, float]] = field(default_factory=list)


def caption(item: ShapesItem, rng: random.Random) -> str:
    """An object phrase of the kind questions ask about ("red shapes", "circles", "blue square", "shapes"), naming
    something in the image 70% of the time."""
    present = item.objects and rng.random() < 0.7
    obj = rng.choice(item.objects) if present else None
    color = obj.color if obj else rng.choice(list(COLORS))
    shape = obj.shape if obj else rng.choice(SHAPES)
    kind = rng.choice(("color", "shape", "object", "all"))
    if kind == "color":
        return f"{color} shapes"
    if kind == "shape":
        return f"{shape}s"
    if kind == "object":
        return f"{color} {shape}"
    return "shapes"


def applies(text: str, objects: Sequence[ShapeObject]) -> bool:
    """Whether the phrase `text` (from `caption`) names at least one of `objects`."""
    words = text.split()
    colors = [w for w in words if w in COLORS]
    shapes = [w.removesuffix("s") for w in words if w.removesuffix("s") in SHAPES]
    return any((not colors or o.color in colors) and (not shapes or o.shape in shapes) for o in objects)


def build_model(seed: int) -> ClipRelevance:
    """A random-init ShapesVQA CLIP (the `CLIP_CONFIG` architecture) with its word tokenizer."""
    import torch
    from open_clip.model import CLIP

    from catts_graph.perception.clip_relevance import WordTokenizer

    torch.manual_seed(seed)
    model = CLIP(CLIP_CONFIG["embed_dim"], CLIP_CONFIG["vision_cfg"], CLIP_CONFIG["text_cfg"], init_logit_bias=-5.0)
    tokenizer = WordTokenizer(WORDS, CLIP_CONFIG["text_cfg"]["context_length"])
    return ClipRelevance(model, tokenizer, CLIP_CONFIG["vision_cfg"]["image_size"])


def train_shapes_clip(
    out_dir: str | Path, config: ClipTrainConfig = ClipTrainConfig(), *, progress: bool = True
) -> ClipTrainResult:
    """Train the ShapesVQA CLIP from scratch and save it to `out_dir` (loads with `ClipRelevance.load`)."""
    import torch
    import torch.nn.functional as F

    clip = build_model(config.seed)
    model = clip.model.train()
    rng = random.Random(config.seed)
    world_seed = CLIP_SEED_BASE + config.seed
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    log: list[dict[str, float]] = []
    ema, index = math.nan, 0
    started = time.perf_counter()
    bar = tqdm(range(config.steps), desc="clip", disable=not progress, unit="step")
    for step in bar:
        items = [make_item(world_seed, index + i) for i in range(config.batch_size)]
        index += config.batch_size
        captions = [caption(it, rng) for it in items]
        targets = torch.tensor([[float(applies(c, it.objects)) for it in items] for c in captions])  # (B, B)
        pixels = clip.pixels([it.render() for it in items])  # (B, 3, S, S)
        lr = config.learning_rate * min(1.0, (step + 1) / config.warmup_steps)
        lr *= 0.5 * (1 + math.cos(math.pi * step / config.steps)) if step >= config.warmup_steps else 1.0
        for group in optimizer.param_groups:
            group["lr"] = lr
        patches = clip.patch_embeddings(pixels).flatten(1, 2)  # (B, P, D) unit-norm
        text = model.encode_text(clip.tokenizer(captions), normalize=True)  # (B, D)
        similarity = torch.einsum("tD,iPD->tiP", text, patches).amax(dim=-1)  # (B, B): best patch per caption, image
        logits = model.logit_scale.exp() * similarity + model.logit_bias  # (B, B)
        loss = F.binary_cross_entropy_with_logits(logits, targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0, math.log(100))
        value = float(loss.detach())
        ema = value if math.isnan(ema) else 0.95 * ema + 0.05 * value
        bar.set_postfix(loss=f"{ema:.3f}")
        if step % config.log_every == 0 or step == config.steps - 1:
            seconds = time.perf_counter() - started
            log.append({"step": step, "loss": value, "loss_ema": ema, "lr": lr, "seconds": seconds})
    model.eval()
    out = clip.save(out_dir, config=CLIP_CONFIG, words=WORDS)
    with (out / "train_log.jsonl").open("w") as f:
        for row in log:
            f.write(json.dumps(row) + "\n")
    (out / "train_config.json").write_text(json.dumps(asdict(config), indent=2) + "\n")
    return ClipTrainResult(out, config.steps, ema, time.perf_counter() - started, log)


def evidence_coverage(clip: ClipRelevance, *, n: int = 200, seed: int = 2, fraction: float = 0.25) -> dict[str, float]:
    """How well question-guided masks find the evidence on held-out items: the share of evidence pixels (the
    objects a question is about, `catts_graph.shapes.world.evidence_mask`) inside the top-`fraction` mask, against
    `fraction` for a random mask. Items with no evidence (a count of zero) are skipped."""
    import numpy as np

    from catts_graph.shapes.world import evidence_mask
    from nodes.relevance import question_mask

    covered, total, items_used = 0, 0, 0
    for index in range(n):
        item = make_item(seed, index)
        truth = evidence_mask(item.question, item.objects, item.size)  # (H, W)
        if not truth.any():
            continue
        mask = question_mask(clip, item.render(), item.question, fraction)  # (H, W)
        covered += int(np.logical_and(mask, truth).sum())
        total += int(truth.sum())
        items_used += 1
    return {"coverage": covered / max(total, 1), "random": fraction, "items": float(items_used)}
