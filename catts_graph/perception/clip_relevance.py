"""`ClipRelevance`: patch-level relevance maps from an open_clip model (text-conditioned patch similarity).

For each image patch, its final token (after the vision tower's last LayerNorm) is projected into the joint
embedding space and compared with the text embedding by cosine similarity. The ShapesVQA CLIP this project trains
scores an image-text pair by its best patch (late interaction), so this map is exactly what it was trained on; for
CLS-pooled pretrained models (OpenAI CLIP and most others) it is the usual text-conditioned patch-similarity
approximation. We chose it over gradient x activation because it needs no backward pass (one forward per image,
fast on CPU) and it is exact for the model we ship.

Two ways to get a model:

- `ClipRelevance.from_pretrained("ViT-B-32", "openai")`: any open_clip model by name (needs its weights, i.e. the
  hub or a local file path as `pretrained`);
- `ClipRelevance.load(folder)`: a folder written by `save` (`trainers.shapes.clip` trains the bundled ShapesVQA one,
  `catts_graph/shapes/models/shapes-clip`, with a word-level tokenizer over the world's vocabulary).

Example:
    >>> clip = ClipRelevance.load("catts_graph/shapes/models/shapes-clip")  # doctest: +SKIP
    >>> clip.relevance(image, "red shapes").shape  # doctest: +SKIP
    (8, 8)
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from nodes.errors import InvalidInputError
from nodes.relevance import Grid

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
PAD, UNKNOWN = "<pad>", "<unk>"
EOT = "<eot>"  # the last id, so open_clip's argmax text pooling finds it


class WordTokenizer:
    """Lower-cased words to ids over a fixed vocabulary: ``<pad>`` = 0, ``<unk>`` = 1, ``<eot>`` = the last id."""

    def __init__(self, words: Sequence[str], context_length: int) -> None:
        self.vocab = [PAD, UNKNOWN, *words, EOT]
        self.ids = {w: i for i, w in enumerate(self.vocab)}
        self.context_length = context_length

    def __call__(self, texts: Sequence[str]) -> Any:
        import torch

        rows = torch.zeros(len(texts), self.context_length, dtype=torch.long)  # (B, L)
        for i, text in enumerate(texts):
            words = re.findall(r"[a-z0-9]+", text.lower())[: self.context_length - 1]
            ids = [self.ids.get(w, 1) for w in words] + [len(self.vocab) - 1]
            rows[i, : len(ids)] = torch.tensor(ids)
        return rows


class ClipRelevance:
    """A `nodes.relevance.RelevanceModel` (and a `nodes.steps.ImageTextModel`) backed by an open_clip model (vision
    tower must be a ViT)."""

    def __init__(self, model: Any, tokenizer: Callable[[Sequence[str]], Any], image_size: int) -> None:
        if not hasattr(model.visual, "conv1"):
            raise InvalidInputError("relevance maps need an open_clip ViT model (its vision tower has no patches).")
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.image_size = image_size

    @classmethod
    def from_pretrained(cls, name: str, pretrained: str | None = None) -> ClipRelevance:
        """An open_clip model by architecture name and pretrained tag or weights file (e.g. "ViT-B-32", "openai")."""
        import open_clip

        model = open_clip.create_model(name, pretrained=pretrained)
        size = model.visual.image_size
        return cls(model, open_clip.get_tokenizer(name), size[0] if isinstance(size, tuple) else int(size))

    @classmethod
    def load(cls, folder: str | Path) -> ClipRelevance:
        """A model saved by `save`: ``clip_config.json`` (open_clip config + vocabulary) and ``model.pt``."""
        import torch
        from open_clip.model import CLIP

        folder = Path(folder)
        config_file = folder / "clip_config.json"
        if not config_file.is_file():
            raise InvalidInputError(f"{folder} is not a saved CLIP folder (no clip_config.json).")
        spec = json.loads(config_file.read_text())
        state = torch.load(folder / "model.pt", map_location="cpu", weights_only=True)
        bias = 0.0 if "logit_bias" in state else None  # a sigmoid-loss model carries a learned bias
        model = CLIP(spec["embed_dim"], spec["vision_cfg"], spec["text_cfg"], init_logit_bias=bias)
        model.load_state_dict({k: v.float() for k, v in state.items()})
        tokenizer = WordTokenizer(spec["words"], spec["text_cfg"]["context_length"])
        return cls(model, tokenizer, spec["vision_cfg"]["image_size"])

    def save(self, folder: str | Path, *, config: dict[str, Any], words: Sequence[str]) -> Path:
        """Write the model (fp16 weights) and its config (``embed_dim``, ``vision_cfg``, ``text_cfg``)."""
        import torch

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().half() for k, v in self.model.state_dict().items()}
        torch.save(state, folder / "model.pt")
        (folder / "clip_config.json").write_text(json.dumps({**config, "words": list(words)}, indent=2) + "\n")
        return folder

    def pixels(self, images: Sequence[Image.Image]) -> Any:
        """A (B, 3, S, S) normalised batch: every image resized (not cropped) to the model's square input."""
        import torch

        arrays = [
            np.asarray(im.convert("RGB").resize((self.image_size, self.image_size), Image.Resampling.BICUBIC))
            for im in images
        ]
        x = torch.from_numpy(np.stack(arrays)).float().div(255.0).permute(0, 3, 1, 2)  # (B, 3, S, S) in [0, 1]
        mean = torch.tensor(CLIP_MEAN).view(1, 3, 1, 1)  # (1, 3, 1, 1)
        std = torch.tensor(CLIP_STD).view(1, 3, 1, 1)  # (1, 3, 1, 1)
        return (x - mean) / std  # (B, 3, S, S)

    def patch_embeddings(self, pixels: Any) -> Any:
        """(B, gh, gw, D) unit-norm projected patch tokens of a pixel batch."""
        import torch.nn.functional as F

        visual = self.model.visual
        x = visual.transformer(visual._embeds(pixels))  # (B, 1 + gh*gw, W) with a class token
        x = visual.ln_post(x)  # (B, 1 + gh*gw, W)
        tokens = x[:, 1:] if x.shape[1] > 1 else x  # (B, gh*gw, W)
        if visual.proj is not None:
            tokens = tokens @ visual.proj  # (B, gh*gw, D)
        grid = visual.grid_size  # (gh, gw)
        return F.normalize(tokens, dim=-1).reshape(tokens.shape[0], grid[0], grid[1], -1)  # (B, gh, gw, D)

    def relevance(self, image: Image.Image, text: str) -> Grid:
        """Cosine similarity of each patch with `text`, shape (gh, gw)."""
        grid: Grid = self.relevance_batch([image], [text])[0]  # (gh, gw)
        return grid

    def relevance_batch(self, images: Sequence[Image.Image], texts: Sequence[str]) -> Grid:
        """(B, gh, gw) relevance of image b to text b."""
        import torch

        with torch.no_grad():
            patches = self.patch_embeddings(self.pixels(images))  # (B, gh, gw, D)
            text = self.model.encode_text(self.tokenizer(list(texts)), normalize=True)  # (B, D)
            grid = torch.einsum("bhwd,bd->bhw", patches, text)  # (B, gh, gw)
        result: Grid = grid.numpy().astype(np.float64)
        return result

    def agreement(self, image: Image.Image, texts: Sequence[str]) -> list[float]:
        """How well each text agrees with `image`, in [0, 1] (a `nodes.steps.ImageTextModel`): the best patch's
        cosine similarity, as the model's own match probability sigmoid(scale * s + bias) for a sigmoid-loss model
        (the bundled ShapesVQA CLIP), else (s + 1) / 2."""
        import torch

        if not texts:
            return []
        with torch.no_grad():
            patches = self.patch_embeddings(self.pixels([image]))[0]  # (gh, gw, D)
            text = self.model.encode_text(self.tokenizer(list(texts)), normalize=True)  # (S, D)
            best = torch.einsum("hwd,sd->shw", patches, text).flatten(1).amax(dim=1)  # (S,)
            bias = getattr(self.model, "logit_bias", None)
            scale = self.model.logit_scale.exp()
            score = (best + 1) / 2 if bias is None else torch.sigmoid(scale * best + bias)  # (S,)
        return [float(v) for v in score]
