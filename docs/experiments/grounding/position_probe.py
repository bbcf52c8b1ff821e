"""Does a model know where its image tokens are? A linear (ridge) probe reads each image token's grid row and column
from the vision tower's output and from the language model's hidden states at the image tokens.

usage: uv run --no-sync python docs/experiments/grounding/position_probe.py MODEL_DIR [ITEMS]
Prints R^2 and mean absolute error (in grid cells) on the last quarter of the tokens, fitted on the rest.
"""

from __future__ import annotations

import sys

import numpy as np
import torch
from transformers import AutoModelForImageTextToText, AutoProcessor

from catts_graph.shapes.world import make_item


def probe(x: np.ndarray, y: np.ndarray, lam: float = 1.0) -> tuple[float, float]:
    """R^2 and MAE of a ridge regression fitted on the first 3/4 of the rows, scored on the rest."""
    split = len(y) * 3 // 4
    a = np.c_[x[:split], np.ones(split)]  # (N, D+1)
    w = np.linalg.solve(a.T @ a + lam * np.eye(a.shape[1]), a.T @ y[:split])  # (D+1,)
    p = np.c_[x[split:], np.ones(len(y) - split)] @ w  # (M,)
    truth = y[split:]
    return float(1 - ((p - truth) ** 2).sum() / ((truth - truth.mean()) ** 2).sum()), float(np.abs(p - truth).mean())


def main(model_dir: str, n_items: int = 160) -> None:
    torch.set_num_threads(2)
    processor = AutoProcessor.from_pretrained(model_dir)
    model = AutoModelForImageTextToText.from_pretrained(model_dir, dtype=torch.float32).eval()
    pad = processor.tokenizer.convert_tokens_to_ids("<|image_pad|>")
    items = [make_item(777, i) for i in range(n_items)]
    tower, layers, rows, cols = [], [], [], []
    with torch.no_grad():
        for k in range(0, n_items, 16):
            batch = items[k : k + 16]
            chats = [[{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": i.question}]}]
                     for i in batch]  # fmt: skip
            texts = [processor.apply_chat_template(c, add_generation_prompt=True) for c in chats]
            enc = processor(text=texts, images=[i.render() for i in batch], return_tensors="pt", padding=True)
            grid = int(enc["image_grid_thw"][0, 1]) // 2  # tokens per side
            tower.append(model.model.visual(enc["pixel_values"], grid_thw=enc["image_grid_thw"]).pooler_output.numpy())
            hidden = model(**enc, output_hidden_states=True).hidden_states  # (layers + 1) x (B, L, D)
            layers.append([h[enc["input_ids"] == pad].numpy() for h in hidden])
            r, c = np.divmod(np.arange(grid * grid), grid)  # (g*g,) each
            rows.append(np.tile(r, len(batch)))
            cols.append(np.tile(c, len(batch)))
    row, col = np.concatenate(rows).astype(float), np.concatenate(cols).astype(float)
    sources = {"tower": np.concatenate(tower)}
    sources |= {f"lm layer {i}": np.concatenate([b[i] for b in layers]) for i in range(len(layers[0]))}
    for name, x in sources.items():
        (r2_row, mae_row), (r2_col, mae_col) = probe(x, row), probe(x, col)
        print(f"{name:12s} row R2 {r2_row:6.3f} (MAE {mae_row:.2f})   column R2 {r2_col:6.3f} (MAE {mae_col:.2f})")


if __name__ == "__main__":
    main(sys.argv[1], *(int(a) for a in sys.argv[2:]))
