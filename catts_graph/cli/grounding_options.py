"""`--grounded`, `--box-frame` and `--self-check-region`: the options that ask for grounded responses (SATORI-R1's
caption, evidence boxes and answer) and say which frame the model writes its boxes in.
"""

from __future__ import annotations

import argparse
from typing import Any

from catts_graph.shapes.bundled import BUNDLED_BOX_FRAME
from nodes.errors import InvalidInputError


def add_grounding_options(parser: argparse.ArgumentParser, *, self_check: bool = True) -> None:
    """`--grounded` and `--box-frame` (and `--self-check-region` where the command runs the graph)."""
    parser.add_argument(
        "--grounded",
        action="store_true",
        help="ask for grounded responses (caption, evidence boxes, answer; SATORI-R1); with the bundled models the "
        "bundled grounded model answers",
    )
    parser.add_argument(
        "--box-frame",
        metavar="resized[:MIN:MAX]|normalized[:SCALE]|original",
        help="the frame the model writes boxes in: its processor's resized input pixels with min/max pixels "
        "(Qwen2.5-VL), a 0-SCALE grid (default 1000: Qwen2-VL, Qwen3-VL; bins - 1 for a model that writes "
        "<loc_K> location tokens) or the image's pixels (default: the bundled models' frame with them, else resized "
        "with Qwen2.5-VL's defaults)",
    )
    if self_check:
        parser.add_argument(
            "--self-check-region",
            choices=["question", "global", "model"],
            help="where the self-check noises the image: the patches CLIP finds relevant to the question, the "
            "whole image, or the boxes each candidate's grounded response names (default: model with --grounded, "
            "else question)",
        )


def grounding_from(args: argparse.Namespace, *, bundled: bool) -> dict[str, Any]:
    """The `grounding` settings `--grounded` and `--box-frame` give (empty without `--grounded`)."""
    if not getattr(args, "grounded", False):
        if getattr(args, "box_frame", None) or getattr(args, "self_check_region", None) == "model":
            raise InvalidInputError("--box-frame and --self-check-region model need --grounded.")
        return {}
    spec = args.box_frame
    if spec is None:
        if bundled:
            frame = BUNDLED_BOX_FRAME
            return {
                "enabled": True,
                "frame": frame.kind,
                "min_pixels": frame.min_pixels,
                "max_pixels": frame.max_pixels,
            }
        return {"enabled": True, "frame": "resized"}
    kind, *values = spec.split(":")
    if kind == "normalized" and len(values) <= 1:
        scale = _positive(values[0]) if values else 1000.0
        if scale is None:
            raise InvalidInputError(
                f"--box-frame {spec}: SCALE is the grid's largest coordinate, e.g. normalized:1000 (Qwen2-VL, "
                "Qwen3-VL) or normalized:55 (location tokens on 56 bins)"
            )
        return {"enabled": True, "frame": kind, "scale": scale}
    if kind not in ("resized", "original") or (values and (kind != "resized" or len(values) != 2)):
        raise InvalidInputError(f"--box-frame {spec}: expected resized[:MIN:MAX], normalized[:SCALE] or original.")
    try:
        limits = {"min_pixels": int(values[0]), "max_pixels": int(values[1])} if values else {}
    except ValueError:
        raise InvalidInputError(
            f"--box-frame {spec}: MIN and MAX are pixel counts, e.g. resized:3136:1003520"
        ) from None
    return {"enabled": True, "frame": kind, **limits}


def _positive(text: str) -> float | None:
    """`text` as a number above 0, else None."""
    try:
        value = float(text)
    except ValueError:
        return None
    return value if value > 0 else None
