"""Dense perception pretraining of the ShapesVQA vision tower: every image token learns what lies under it.

Real VLMs start from a vision encoder pretrained on images (CLIP, SigLIP) before they learn to answer. The ShapesVQA
models start from scratch, and SFT on answers alone teaches their vision tower to count blobs and read colours but
leaves shape identity near chance. This stage gives the tower a dense signal first: for each image token (one
merged 2 x 2 patch group, what the language model reads), predict the share of its pixels showing the background or
each of the 12 colour-shape classes, from `ShapesItem.object_map`. A linear head on the merger's output is trained
with the tower and then dropped; the language model's weights are not touched.

Example:
    >>> pretrain_vision("models/init", "models/init-vision", SFTConfig(steps=600, batch_size=64))  # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import numpy as np
import numpy.typing as npt
from tqdm import tqdm

from catts_graph.shapes.world import COLORS, SHAPES, ShapesItem, make_item
from trainers.sft import SFTConfig, SFTResult, learning_rate, load_for_training
from trainers.shapes.roles import TRAIN_SEED_BASE

CLASSES = ("background", *(f"{color} {shape}" for color in COLORS for shape in SHAPES))


def token_targets(item: ShapesItem, grid: int) -> npt.NDArray[np.float32]:
    """(grid * grid, len(CLASSES)) share of each token's pixels per class, tokens in raster order."""
    owner = item.object_map()  # (S, S) 0 = background, k = objects[k - 1]
    lookup = np.array([0] + [CLASSES.index(o.describe()) for o in item.objects])  # (K + 1,)
    classes = lookup[owner]  # (S, S) class index per pixel
    cell = item.size // grid
    cropped = classes[: grid * cell, : grid * cell]  # (g*c, g*c)
    blocks = cropped.reshape(grid, cell, grid, cell).transpose(0, 2, 1, 3)  # (g, g, c, c)
    onehot = np.eye(len(CLASSES), dtype=np.float32)[blocks.reshape(grid * grid, cell * cell)]  # (g*g, c*c, C)
    shares: npt.NDArray[np.float32] = onehot.mean(axis=1)  # (g*g, C)
    return shares


def _items(rng: random.Random) -> Iterator[ShapesItem]:
    seed, index = TRAIN_SEED_BASE + rng.randrange(1_000_000), 0
    while True:
        yield make_item(seed, index)
        index += 1


def pretrain_vision(
    model_dir: str | Path, out_dir: str | Path, config: SFTConfig, *, progress: bool = True
) -> SFTResult:
    """Train the vision tower of the model in `model_dir` on dense token targets; save the whole model to `out_dir`.

    The log (`vision_log.jsonl`) has the soft cross-entropy and, per logged step, the share of tokens whose most
    likely class is right among the tokens an object covers at least half of (`object_token_accuracy`).
    """
    import torch

    processor, model, rng = load_for_training(model_dir, config)
    visual = model.model.visual
    head = torch.nn.Linear(model.config.text_config.hidden_size, len(CLASSES))
    params = [*visual.parameters(), *head.parameters()]
    optimizer = torch.optim.AdamW(params, lr=config.learning_rate, betas=(0.9, 0.98), weight_decay=config.weight_decay)
    visual.train()
    items = _items(rng)
    grid = 0
    log: list[dict[str, float]] = []
    ema = math.nan
    started = time.perf_counter()
    bar = tqdm(range(config.steps), desc="vision", disable=not progress, unit="step")
    for step in bar:
        batch = [next(items) for _ in range(config.batch_size)]
        enc = processor.image_processor(images=[item.render() for item in batch], return_tensors="pt")
        grid = int(enc["image_grid_thw"][0, 1]) // 2  # tokens per side
        targets = torch.from_numpy(np.concatenate([token_targets(item, grid) for item in batch]))  # (B*g*g, C)
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, config)
        tokens = visual(enc["pixel_values"], grid_thw=enc["image_grid_thw"]).pooler_output  # (B*g*g, D)
        logp = torch.log_softmax(head(tokens), dim=-1)  # (B*g*g, C)
        loss = -(targets * logp).sum(-1).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, config.grad_clip)
        optimizer.step()
        value = float(loss.detach())
        ema = value if math.isnan(ema) else 0.95 * ema + 0.05 * value
        bar.set_postfix(loss=f"{ema:.3f}")
        if step % config.log_every == 0 or step == config.steps - 1:
            covered = targets[:, 1:].max(-1).values >= 0.5  # (B*g*g,) tokens mostly showing one object
            right = logp.argmax(-1) == targets.argmax(-1)  # (B*g*g,)
            accuracy = float(right[covered].float().mean()) if covered.any() else math.nan
            log.append({"step": step, "loss": value, "loss_ema": ema, "object_token_accuracy": accuracy,
                        "lr": learning_rate(step, config), "seconds": time.perf_counter() - started})  # fmt: skip
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.eval()
    model.save_pretrained(out)
    processor.save_pretrained(out)
    (out / "vision_log.jsonl").write_text("".join(json.dumps(row) + "\n" for row in log))
    (out / "vision_config.json").write_text(json.dumps({**asdict(config), "grid": grid}, indent=2) + "\n")
    return SFTResult(out, config.steps, ema, time.perf_counter() - started, log)
