"""Dense perception pretraining of the ShapesVQA vision tower: every image token learns what lies under it (and where).

Real VLMs start from a vision encoder pretrained on images (CLIP, SigLIP) before they learn to answer. The ShapesVQA
models start from scratch, and SFT on answers alone teaches their vision tower to count blobs and read colours but
leaves shape identity near chance. This stage gives the tower a dense signal first: for each image token (one
merged 2 x 2 patch group, what the language model reads), predict the share of its pixels showing the background or
each of the 12 colour-shape classes, from `ShapesItem.object_map`. A linear head on the merger's output is trained
with the tower and then dropped; the language model's weights are not touched.

With `where=True` each token also learns where it is and where its object is: its row and column on the token grid
(classification) and the box of the object covering most of its pixels (L1 on image fractions), at a small weight
so that what each token shows is kept; the fresh heads fit first while the (pretrained) tower waits. The tower's
attention has only relative (rotary) positions, so without this its tokens carry no absolute position and a model
that reads them cannot write boxes (docs/experiments/grounding.md).

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

BOX_WEIGHT = 5.0  # box edges are fractions of the image, errors of about 0.1: weighted to the other terms' scale
WHERE_WEIGHT = 0.1  # the where-terms' weight against the class term: larger ones wash out what each token shows
WHERE_HEAD_STEPS = 40  # steps in which only the fresh heads learn (the pretrained tower waits)
WHERE_HEAD_LR = 1e-2  # the heads' constant learning rate in a where-run
CLASSES = ("background", *(f"{color} {shape}" for color in COLORS for shape in SHAPES))


def _token_pixels(owner: npt.NDArray[np.int64], grid: int) -> npt.NDArray[np.int64]:
    """(grid * grid, cell * cell): the pixels of each token's cell of a (S, S) map, tokens in raster order."""
    cell = owner.shape[0] // grid
    cropped = owner[: grid * cell, : grid * cell]  # (g*c, g*c)
    blocks = cropped.reshape(grid, cell, grid, cell).transpose(0, 2, 1, 3)  # (g, g, c, c)
    return blocks.reshape(grid * grid, cell * cell)  # (g*g, c*c)


def token_targets(item: ShapesItem, grid: int) -> npt.NDArray[np.float32]:
    """(grid * grid, len(CLASSES)) share of each token's pixels per class, tokens in raster order."""
    owner = item.object_map().astype(np.int64)  # (S, S) 0 = background, k = objects[k - 1]
    lookup = np.array([0] + [CLASSES.index(o.describe()) for o in item.objects])  # (K + 1,)
    pixels = _token_pixels(lookup[owner], grid)  # (g*g, c*c) class index per pixel
    onehot = np.eye(len(CLASSES), dtype=np.float32)[pixels]  # (g*g, c*c, C)
    shares: npt.NDArray[np.float32] = onehot.mean(axis=1)  # (g*g, C)
    return shares


def token_boxes(item: ShapesItem, grid: int) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.bool_]]:
    """Per token, the box (x1, y1, x2, y2 as fractions of the image side) of the object on most of its pixels, and
    whether an object covers at least a quarter of the token; (grid * grid, 4) and (grid * grid,), raster order."""
    pixels = _token_pixels(item.object_map().astype(np.int64), grid)  # (g*g, c*c) 0 = background, k = object k
    counts = (pixels[:, :, None] == np.arange(len(item.objects) + 1)).sum(1)  # (g*g, K+1) pixels per object
    counts[:, 0] = 0  # background never owns a token
    owner = counts.argmax(1)  # (g*g,) 0 where no object shows
    boxes = np.array([(0, 0, 0, 0), *(o.box for o in item.objects)], dtype=np.float32) / item.size  # (K+1, 4)
    covered: npt.NDArray[np.bool_] = counts.max(1) * 4 >= pixels.shape[1]  # (g*g,)
    return boxes[owner], covered  # (g*g, 4), (g*g,)


def _items(rng: random.Random) -> Iterator[ShapesItem]:
    seed, index = TRAIN_SEED_BASE + rng.randrange(1_000_000), 0
    while True:
        yield make_item(seed, index)
        index += 1


def pretrain_vision(
    model_dir: str | Path, out_dir: str | Path, config: SFTConfig, *, where: bool = False, progress: bool = True
) -> SFTResult:
    """Train the vision tower of the model in `model_dir` on dense token targets; save the whole model to `out_dir`.

    The log (`vision_log.jsonl`) has the loss and, per logged step, the share of tokens whose most likely class is
    right among the tokens an object covers at least half of (`object_token_accuracy`); with `where`, also the share
    of tokens that place themselves on the grid (`position_accuracy`) and the mean error of their object's box edges
    in image fractions (`box_error`).
    """
    import torch

    processor, model, rng = load_for_training(model_dir, config)
    visual = model.model.visual
    width = model.config.text_config.hidden_size
    grid = int(processor.image_processor(images=[make_item(0, 0).render()])["image_grid_thw"][0][1]) // 2
    rows, cols = (torch.from_numpy(a) for a in np.divmod(np.arange(grid * grid), grid))  # (g*g,) each
    head = torch.nn.Linear(width, len(CLASSES))
    where_head = torch.nn.Linear(width, 2 * grid + 4)  # row logits, column logits, object box
    heads = [*head.parameters(), *(where_head.parameters() if where else ())]
    params = [*visual.parameters(), *heads]
    groups = [{"params": list(visual.parameters())}, {"params": heads}]
    optimizer = torch.optim.AdamW(groups, lr=config.learning_rate, betas=(0.9, 0.98), weight_decay=config.weight_decay)
    head_steps = WHERE_HEAD_STEPS if where else 0  # fresh heads on a pretrained tower: fit them before it moves
    visual.train()
    items = _items(rng)
    log: list[dict[str, float]] = []
    ema = math.nan
    started = time.perf_counter()
    bar = tqdm(range(config.steps), desc="vision", disable=not progress, unit="step")
    for step in bar:
        batch = [next(items) for _ in range(config.batch_size)]
        enc = processor.image_processor(images=[item.render() for item in batch], return_tensors="pt")
        targets = torch.from_numpy(np.concatenate([token_targets(item, grid) for item in batch]))  # (B*g*g, C)
        tower_group, heads_group = optimizer.param_groups
        tower_group["lr"] = learning_rate(step, config) if step >= head_steps else 0.0
        heads_group["lr"] = WHERE_HEAD_LR if where else learning_rate(step, config)
        tokens = visual(enc["pixel_values"], grid_thw=enc["image_grid_thw"]).pooler_output  # (B*g*g, D)
        if step < head_steps:
            tokens = tokens.detach()  # (B*g*g, D) the tower waits while the heads fit
        logp = torch.log_softmax(head(tokens), dim=-1)  # (B*g*g, C)
        loss = -(targets * logp).sum(-1).mean()
        if where:
            where_targets = [token_boxes(item, grid) for item in batch]
            boxes = torch.from_numpy(np.concatenate([b for b, _ in where_targets]))  # (B*g*g, 4)
            covered_box = torch.from_numpy(np.concatenate([c for _, c in where_targets]))  # (B*g*g,)
            guess = where_head(tokens)  # (B*g*g, 2g + 4)
            row, col = rows.repeat(len(batch)), cols.repeat(len(batch))  # (B*g*g,) each
            place = torch.nn.functional.cross_entropy(guess[:, :grid], row) + torch.nn.functional.cross_entropy(
                guess[:, grid : 2 * grid], col
            )
            box_error = (
                (guess[covered_box, 2 * grid :] - boxes[covered_box]).abs().mean()
            )  # over covered tokens' edges
            loss = loss + WHERE_WEIGHT * (place + BOX_WEIGHT * box_error)
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
            row_log = {"step": step, "loss": value, "loss_ema": ema, "object_token_accuracy": accuracy}
            if where:
                placed = (guess[:, :grid].argmax(-1) == row) & (
                    guess[:, grid : 2 * grid].argmax(-1) == col
                )  # (B*g*g,)
                row_log |= {"position_accuracy": float(placed.float().mean()), "box_error": float(box_error)}
            log.append(row_log | {"lr": learning_rate(step, config), "seconds": time.perf_counter() - started})
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.eval()
    model.save_pretrained(out)
    processor.save_pretrained(out)
    (out / "vision_log.jsonl").write_text("".join(json.dumps(row) + "\n" for row in log))
    (out / "vision_config.json").write_text(
        json.dumps({**asdict(config), "grid": grid, "where": where}, indent=2) + "\n"
    )
    return SFTResult(out, config.steps, ema, time.perf_counter() - started, log)
