"""Box attention: a training signal that sends one attention head to the image tokens under the box being written.

A location-token model writes a box as four ``<loc_K>`` tokens. To write them right it must attend from the
writing positions to the image tokens that hold the named object and copy their position; the grounding notebook
measured that a small model, trained on the tokens alone, does not (the box is readable at the object's tokens but
not at the positions that write it). This loss supervises that lookup directly, as supervised-attention grounding
work does: at every position that predicts a location token of a box in the labels, the attention mass one head
puts on the image tokens whose cell centre lies inside that box (or, for a box smaller than a cell, on the cell
holding its centre) is pushed towards 1 by ``-log(mass)``. Ours: the head is the first of the second-to-last
layer.

The boxes come from the labels themselves (the answer's own location tokens on a ``bins`` x ``bins`` grid over the
image), so any example of any benchmark that writes location-token boxes is supervised, and no other is; each
example must hold one image. The served model is unchanged: the loss shapes training only.

Example:
    >>> boxes = BoxAttention.of(model, processor)  # doctest: +SKIP
    >>> out = model(**enc, output_attentions=True)  # doctest: +SKIP
    >>> loss = out.loss + 0.5 * boxes.loss(out.attentions, enc)  # doctest: +SKIP

`trainers.sft.sft_train` adds it with `SFTConfig.box_attention`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from nodes.grounding import location_token_ids


def box_cells(box: Sequence[int], bins: int, rows: int, cols: int) -> list[int]:
    """Row-major indices of the `rows` x `cols` image-token cells whose centre lies inside `box` (bins of a `bins`
    grid, bin K at K / (bins - 1) of the side); the cell holding the box's centre when none does."""
    x1, y1, x2, y2 = (v / (bins - 1) for v in box)  # fractions of the image side
    inside = [
        r * cols + c
        for r in range(rows)
        for c in range(cols)
        if x1 <= (c + 0.5) / cols <= x2 and y1 <= (r + 0.5) / rows <= y2
    ]
    if inside:
        return inside
    col = min(cols - 1, int((x1 + x2) / 2 * cols))
    row = min(rows - 1, int((y1 + y2) / 2 * rows))
    return [row * cols + col]


def box_attention_targets(input_ids: Any, labels: Any, loc_ids: Any, image_token_id: int, grids: Any) -> Any:
    """(B, L, L) bool: row t marks the image-token columns position t should attend to, for every position t that
    predicts a location token of a complete box in `labels` (B, L); all False elsewhere.

    `loc_ids` (bins,) are the location tokens' ids in bin order; `grids` (B, 2) each example's image-token rows and
    columns (of its one image)."""
    import torch

    batch, length = input_ids.shape
    bins = len(loc_ids)
    bin_of = {int(t): k for k, t in enumerate(loc_ids)}
    targets = torch.zeros(batch, length, length, dtype=torch.bool)  # (B, L, L)
    for b in range(batch):
        rows, cols = (int(v) for v in grids[b])
        image = torch.nonzero(input_ids[b] == image_token_id).flatten()  # (rows*cols,)
        if len(image) != rows * cols:
            raise ValueError(f"example {b} has {len(image)} image tokens, not one image of {rows} x {cols}")
        written = [t for t in range(length) if int(labels[b, t]) in bin_of]  # positions of location tokens
        for k in range(0, len(written) - 3, 4):
            x1, y1, x2, y2 = (bin_of[int(labels[b, t])] for t in written[k : k + 4])
            box = (x1, y1, x2, y2)
            if x2 < x1 or y2 < y1:
                continue  # not a box: nothing to look at
            columns = image[box_cells(box, bins, rows, cols)]  # (cells,)
            for t in written[k : k + 4]:
                targets[b, t - 1, columns] = True  # position t - 1 predicts the token at t
    return targets


def box_attention_loss(attention: Any, targets: Any) -> Any:
    """Mean ``-log`` of the attention mass (B, L, L) puts on the `targets` columns, over the rows that have any;
    0 (with a gradient path) when no row has a target."""
    import torch

    rows = targets.any(dim=-1)  # (B, L)
    if not rows.any():
        return attention.sum() * 0.0
    mass = (attention * targets).sum(dim=-1)[rows]  # (T,)
    return -torch.log(mass + 1e-6).mean()


@dataclass(frozen=True)
class BoxAttention:
    """The loss on a model: head 0 of its language model's second-to-last layer (late enough to know which object
    the question names, early enough to leave a layer to turn the copied position into a bin)."""

    loc_ids: Any  # (bins,) location token ids in bin order
    image_token_id: int
    merge: int  # vision patches per image token, per side
    restore: str  # the attention implementation to save the model with

    @classmethod
    def of(cls, model: Any, processor: Any) -> BoxAttention:
        """Switches `model` to eager attention (the only one that returns its weights); raises `ValueError` when
        its tokenizer has no location tokens."""
        import torch

        ids = location_token_ids(processor.tokenizer.get_vocab())
        if len(ids) < 2:
            raise ValueError("box_attention needs a model with location tokens (trainers.shapes.location)")
        restore = model.config._attn_implementation
        model.set_attn_implementation("eager")
        merge = int(getattr(processor.image_processor, "merge_size", 2))
        return cls(torch.tensor(ids), int(model.config.image_token_id), merge, restore)

    def loss(self, attentions: Any, enc: dict[str, Any]) -> Any:
        """`box_attention_loss` of a forward pass's attentions (layers x (B, H, L, L)) on the batch `enc`."""
        if len(enc["image_grid_thw"]) != len(enc["input_ids"]):
            raise ValueError("box_attention needs exactly one image in every example of the batch")
        grids = enc["image_grid_thw"][:, 1:] // self.merge  # (B, 2) image-token rows and columns, one image each
        targets = box_attention_targets(enc["input_ids"], enc["labels"], self.loc_ids, self.image_token_id, grids)
        return box_attention_loss(attentions[-2][:, 0], targets)  # (B, L, L) of head 0
