"""Noised twins of images for the visual self-check (and CDRL): DDPM forward noise, globally or inside a box.

DDPM forward process (METHOD.md section 3, the official inference code's schedule):
``x_t = sqrt(abar_t) * x_0 + sqrt(1 - abar_t) * eps`` with pixels scaled to [-1, 1], 1000 steps and
``betas = sigmoid(linspace(-6, 6, 1000)) * (5e-3 - 1e-5) + 1e-5``. Deterministic for a given seed; pixels outside
the box are untouched.

Example:
    >>> from PIL import Image
    >>> noised = ddpm_noise(Image.new("RGB", (8, 8), (200, 10, 10)), step=999, seed=0)
    >>> noised.size, noised.mode
    ((8, 8), 'RGB')
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import numpy.typing as npt
from PIL import Image

from nodes.errors import InvalidInputError

DDPM_STEPS = 1000
Box = tuple[float, float, float, float]  # (left, top, right, bottom) as fractions of width and height


@lru_cache(maxsize=1)
def ddpm_alpha_bars() -> npt.NDArray[np.float64]:
    """Cumulative products abar_t of the sigmoid beta schedule, shape (1000,)."""
    x = np.linspace(-6.0, 6.0, DDPM_STEPS)  # (1000,)
    betas = 1.0 / (1.0 + np.exp(-x)) * (5e-3 - 1e-5) + 1e-5  # (1000,)
    alpha_bars: npt.NDArray[np.float64] = np.cumprod(1.0 - betas, dtype=np.float64)  # (1000,) ~1 -> ~0.08
    return alpha_bars


def box_pixels(box: Box, width: int, height: int) -> tuple[int, int, int, int]:
    """A fractional box as integer pixel bounds (left, top, right, bottom), at least one pixel each way."""
    left, top, right, bottom = box
    if not (0 <= left < right <= 1 and 0 <= top < bottom <= 1):
        raise InvalidInputError(f"box {box} must satisfy 0 <= left < right <= 1 and 0 <= top < bottom <= 1.")
    x0, y0 = int(left * width), int(top * height)
    x1, y1 = max(x0 + 1, round(right * width)), max(y0 + 1, round(bottom * height))
    return x0, y0, min(x1, width), min(y1, height)


def ddpm_noise(image: Image.Image, step: int, seed: int = 0, box: Box | None = None) -> Image.Image:
    """The image after `step` DDPM forward steps (0 <= step < 1000), inside `box` only when one is given."""
    if not 0 <= step < DDPM_STEPS:
        raise InvalidInputError(f"DDPM step must be in [0, {DDPM_STEPS}), got {step}.")
    x0 = np.asarray(image.convert("RGB"), dtype=np.float64) / 127.5 - 1.0  # (H, W, 3) in [-1, 1]
    eps = np.random.default_rng(seed).standard_normal(x0.shape)  # (H, W, 3)
    abar = ddpm_alpha_bars()[step]
    xt = np.sqrt(abar) * x0 + np.sqrt(1.0 - abar) * eps  # (H, W, 3)
    if box is not None:
        x_left, y_top, x_right, y_bottom = box_pixels(box, x0.shape[1], x0.shape[0])
        mask = np.zeros(x0.shape[:2], dtype=bool)  # (H, W)
        mask[y_top:y_bottom, x_left:x_right] = True
        xt = np.where(mask[..., None], xt, x0)  # (H, W, 3) noised inside the box only
    pixels = np.clip(np.rint((xt + 1.0) * 127.5), 0, 255).astype(np.uint8)  # (H, W, 3)
    return Image.fromarray(pixels, mode="RGB")
