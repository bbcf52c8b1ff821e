"""Box supervision: training signals that send one attention head to the image tokens under the box being written,
and make the value to write readable where it is written.

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

A second term, `BoxSupervision`'s ``readout``, asks for the next step: that the value to write be linearly present at
the writing position (a linear head on the last hidden state regresses the bin), an ordinal signal the
categorical loss over bins lacks.

Example:
    >>> boxes = BoxSupervision.of(model, processor, attention=0.2, readout=5.0)  # doctest: +SKIP
    >>> out = model(**enc, **boxes.forward_options())  # doctest: +SKIP
    >>> loss = out.loss + sum(boxes.losses(out, enc).values())  # doctest: +SKIP

`trainers.sft.sft_train` adds them with `SFTConfig.box_attention` and `SFTConfig.box_readout`.
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


def box_value_targets(labels: Any, loc_ids: Any) -> tuple[Any, Any]:
    """(B, L) bool: the positions that predict a location token in `labels` (B, L); (B, L) float: that token's bin
    as a fraction of the image side (0 elsewhere)."""
    import torch

    match = labels[:, 1:, None] == loc_ids  # (B, L-1, bins) position t predicts the token at t + 1
    rows = torch.nn.functional.pad(match.any(-1), (0, 1))  # (B, L)
    values = match.float().argmax(-1) / (len(loc_ids) - 1)  # (B, L-1)
    return rows, torch.nn.functional.pad(values, (0, 1)) * rows  # (B, L), (B, L)


@dataclass(frozen=True)
class BoxSupervision:
    """Both terms on a model, each with its weight (0 leaves it out):

    - ``attention``: `box_attention_loss` on head 0 of the language model's second-to-last layer (late enough to
      know which object the question names, early enough to leave a layer to turn the copied position into a bin);
    - ``readout``: the squared error of a linear readout of the last hidden state, at each position that predicts a
      location token, against that token's bin as a fraction of the side: the value to write must be linearly
      present where it is written. The readout (`parameters`) is trained with the model and not saved.
    """

    loc_ids: Any  # (bins,) location token ids in bin order
    image_token_id: int
    merge: int  # vision patches per image token, per side
    restore: str  # the attention implementation to save the model with
    attention: float
    readout: float
    head: Any  # torch.nn.Linear(D, 1): the readout

    @classmethod
    def of(cls, model: Any, processor: Any, *, attention: float, readout: float) -> BoxSupervision:
        """Switches `model` to eager attention (the only one that returns its weights) when `attention`; raises
        `ValueError` when its tokenizer has no location tokens."""
        import torch

        ids = location_token_ids(processor.tokenizer.get_vocab())
        if len(ids) < 2:
            raise ValueError("box supervision needs a model with location tokens (trainers.shapes.location)")
        restore = model.config._attn_implementation
        if attention:
            model.set_attn_implementation("eager")
        merge = int(getattr(processor.image_processor, "merge_size", 2))
        head = torch.nn.Linear(model.config.get_text_config().hidden_size, 1)
        image = int(model.config.image_token_id)
        return cls(torch.tensor(ids), image, merge, restore, attention, readout, head)

    def forward_options(self) -> dict[str, bool]:
        """What the model's forward pass must return for `losses`."""
        return {"output_attentions": bool(self.attention), "output_hidden_states": bool(self.readout)}

    def parameters(self) -> list[Any]:
        return list(self.head.parameters()) if self.readout else []

    def losses(self, out: Any, enc: dict[str, Any]) -> dict[str, Any]:
        """The weighted terms of a forward pass `out` (with `forward_options`) on the batch `enc`, by name."""
        terms = {}
        if self.attention:
            if len(enc["image_grid_thw"]) != len(enc["input_ids"]):
                raise ValueError("box attention needs exactly one image in every example of the batch")
            grids = enc["image_grid_thw"][:, 1:] // self.merge  # (B, 2) image-token rows and columns
            targets = box_attention_targets(enc["input_ids"], enc["labels"], self.loc_ids, self.image_token_id, grids)
            terms["box_attention_loss"] = self.attention * box_attention_loss(out.attentions[-2][:, 0], targets)
        if self.readout:
            rows, values = box_value_targets(enc["labels"], self.loc_ids)  # (B, L), (B, L)
            read = self.head(out.hidden_states[-1]).squeeze(-1)  # (B, L)
            error = ((read - values) ** 2)[rows]  # (T,)
            terms["box_readout_loss"] = self.readout * (error.mean() if len(error) else read.sum() * 0.0)
        return terms
