"""The ShapesVQA CLIP: a small open_clip model trained contrastively on world images and captions, so that
question-guided relevance maps (`catts_graph.clip_relevance`) are meaningful offline.

Captions name what the questions ask about ("2 red shapes", "circles", "blue square", "largest shape yellow"), so
the text of a question's object phrase ("red shapes") lands near the patches that show it. The vision tower
average-pools its patch tokens, which makes each patch's similarity its exact share of the image-text score.

Example:
    >>> result = train_shapes_clip("catts_graph/models/shapes-clip")  # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from catts_graph.clip_relevance import ClipRelevance
from catts_graph.shapes import COLORS, SHAPES, ShapesItem, make_item

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
    """Contrastive training knobs (defaults: the bundled model, ~10 CPU-minutes on 2 cores)."""

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
    """One caption of the objects in `item`, of a kind the questions ask about."""
    objects = item.objects
    if not objects:
        return "no shapes"
    kind = rng.choice(("color", "shape", "object", "all", "largest"))
    count = rng.random() < 0.5
    if kind == "color":
        color = rng.choice([o.color for o in objects])
        n = sum(o.color == color for o in objects)
        return f"{n} {color} shapes" if count else f"{color} shapes"
    if kind == "shape":
        shape = rng.choice([o.shape for o in objects])
        n = sum(o.shape == shape for o in objects)
        return f"{n} {shape}s" if count else f"{shape}s"
    if kind == "largest":
        largest = max(objects, key=lambda o: o.area)
        return f"largest shape {largest.color}"
    if kind == "all":
        return f"{len(objects)} shapes"
    obj = rng.choice(objects)
    return f"{obj.color} {obj.shape}"


def build_model(seed: int) -> ClipRelevance:
    """A random-init ShapesVQA CLIP (the `CLIP_CONFIG` architecture) with its word tokenizer."""
    import torch
    from open_clip.model import CLIP

    from catts_graph.clip_relevance import WordTokenizer

    torch.manual_seed(seed)
    model = CLIP(CLIP_CONFIG["embed_dim"], CLIP_CONFIG["vision_cfg"], CLIP_CONFIG["text_cfg"])
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
        pixels = clip.pixels([it.render() for it in items])  # (B, 3, S, S)
        tokens = clip.tokenizer([caption(it, rng) for it in items])  # (B, L)
        lr = config.learning_rate * min(1.0, (step + 1) / config.warmup_steps)
        lr *= 0.5 * (1 + math.cos(math.pi * step / config.steps)) if step >= config.warmup_steps else 1.0
        for group in optimizer.param_groups:
            group["lr"] = lr
        image = model.encode_image(pixels, normalize=True)  # (B, D)
        text = model.encode_text(tokens, normalize=True)  # (B, D)
        logits = model.logit_scale.exp() * image @ text.T  # (B, B)
        labels = torch.arange(len(items))  # (B,) the matching caption is on the diagonal
        loss = (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2
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
    objects a question is about, `catts_graph.shapes.evidence_mask`) inside the top-`fraction` mask, against
    `fraction` for a random mask. Items with no evidence (a count of zero) are skipped."""
    import numpy as np

    from catts_graph.shapes import evidence_mask
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
