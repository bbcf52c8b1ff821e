"""Lab: where does a location-token model lose the object's box? Teacher-forced on the box-only "where is the X?"
task (ITEMS images of world seed 777), a ridge probe reads the first true box's four bins from

- the hidden states at the positions that *predict* x1, y1, x2, y2 (every layer; the last one feeds the output
  head): is the box present where the model must write it?
- the mean hidden state of the image tokens under the first true box, in every layer (an oracle attention): is the
  box present in the tokens the model should attend to, by the layer that attends?

and prints the model's own teacher-forced argmax bin beside them (share within one bin of the truth, correlation).
High R^2 at the object's tokens but low at the predicting positions: the model does not attend to the object
(binding); high at the predicting positions but a wrong argmax: the output head does not map it to bins.

    uv run --no-sync python docs/experiments/grounding/readout_probe.py MODEL_DIR [ITEMS] [BINS]
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

import numpy as np
import torch
from transformers import AutoModelForImageTextToText, AutoProcessor

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from position_probe import probe

from catts_graph.shapes.world import make_item
from nodes.grounding import location_token, parse_grounded
from trainers.sft import _chat
from trainers.shapes.roles import where_example

NAMES = ("x1", "y1", "x2", "y2")


def main(model_dir: str, n_items: int = 400, bins: int = 56) -> None:
    torch.set_num_threads(2)
    processor = AutoProcessor.from_pretrained(model_dir)
    model = AutoModelForImageTextToText.from_pretrained(model_dir, dtype=torch.float32).eval()
    tok = processor.tokenizer
    loc_ids = torch.tensor(tok.convert_tokens_to_ids([location_token(k) for k in range(bins)]))  # (bins,)
    pad = tok.convert_tokens_to_ids("<|image_pad|>")
    rng = random.Random(0)
    examples = [(item, where_example(item, rng, bins)) for item in (make_item(777, i) for i in range(n_items))]
    examples = [(item, ex) for item, ex in examples if parse_grounded(ex.answer).boxes]
    at_write: list[list[np.ndarray]] = []  # per example: (layers + 1, 4, D)
    at_object, truth, own = [], [], []  # (D,), (4,), (4,) per example
    with torch.no_grad():
        for k in range(0, len(examples), 16):
            batch = examples[k : k + 16]
            chats = [_chat(ex) for _, ex in batch]
            texts = [processor.apply_chat_template(c, add_generation_prompt=True) + ex.answer
                     for c, (_, ex) in zip(chats, batch, strict=True)]  # fmt: skip
            images = [list(ex.images) for _, ex in batch]
            enc = processor(text=texts, images=images, return_tensors="pt", padding=True, padding_side="left")
            out = model(**enc, output_hidden_states=True)
            hidden = torch.stack(out.hidden_states, dim=1)  # (B, layers + 1, L, D)
            grid = int(enc["image_grid_thw"][0, 1]) // 2  # image tokens per side
            for b, (_, ex) in enumerate(batch):
                ids = enc["input_ids"][b]  # (L,)
                where = torch.nonzero(torch.isin(ids, loc_ids)).flatten()[:4]  # (4,) positions of x1..y2
                bins_true = [int((loc_ids == ids[p]).nonzero()) for p in where]  # (4,)
                at_write.append(hidden[b, :, where - 1].numpy())  # (layers + 1, 4, D)
                logits = out.logits[b, where - 1][:, loc_ids]  # (4, bins)
                own.append(logits.argmax(-1).numpy())
                truth.append(np.array(bins_true))
                x1, y1, x2, y2 = parse_grounded(ex.answer).boxes[0]  # bins of the first box
                cell = bins / grid  # bins per image-token cell
                r, c = np.divmod(np.arange(grid * grid), grid)  # (g*g,) each
                centre_x, centre_y = (c + 0.5) * cell, (r + 0.5) * cell  # (g*g,) each
                inside = (centre_x >= x1) & (centre_x <= x2) & (centre_y >= y1) & (centre_y <= y2)  # (g*g,)
                if not inside.any():  # a box smaller than a cell: the cell holding its centre
                    inside = np.arange(grid * grid) == (int((y1 + y2) / 2 / cell) * grid + int((x1 + x2) / 2 / cell))
                image = hidden[b][:, ids == pad].numpy()  # (layers + 1, g*g, D)
                at_object.append(image[:, inside].mean(axis=1))  # (layers + 1, D)
    y = np.stack(truth).astype(float)  # (N, 4)
    mine = np.stack(own).astype(float)  # (N, 4)
    writes = np.stack(at_write)  # (N, layers + 1, 4, D)
    objects = np.stack(at_object)  # (N, layers + 1, D)
    print(f"{len(y)} where-task examples with a box, teacher-forced; R^2 (MAE in bins) of the first true box")
    print(f"{'read from':34s}" + "".join(f"{n:>16s}" for n in NAMES))
    for layer in range(writes.shape[1]):
        cells = [probe(writes[:, layer, j], y[:, j], lam=10.0) for j in range(4)]
        print(f"{f'predicting position, layer {layer}':34s}" + "".join(f"{r:9.3f} ({m:4.1f})" for r, m in cells))
    for layer in range(objects.shape[1]):
        cells = [probe(objects[:, layer], y[:, j], lam=10.0) for j in range(4)]
        print(f"{f'object tokens, layer {layer} (oracle)':34s}" + "".join(f"{r:9.3f} ({m:4.1f})" for r, m in cells))
    near = [float(np.mean(np.abs(mine[:, j] - y[:, j]) <= 1)) for j in range(4)]
    corr = [float(np.corrcoef(mine[:, j], y[:, j])[0, 1]) for j in range(4)]
    cells = "".join(f"{a:9.2f} ({c:4.2f})" for a, c in zip(near, corr, strict=True))
    print(f"{'the model: within 1 bin / corr':34s}" + cells)


if __name__ == "__main__":
    main(sys.argv[1], *(int(a) for a in sys.argv[2:]))
