"""Perturbed twins of images, for the visual self-check, CDRL pairs and the bluntness probe.

One interface, `perturb(image, kind, level, mask=..., seed=...)`, for six kinds, each applied to the whole image or
only where a boolean mask is True (pixels outside it are untouched). `level` runs from 0 (nothing) to 1 (strongest):

- ``ddpm``: DDPM forward noise at step ``t = round(level * 999)`` (docs/method.md section 3, the official schedule):
  ``x_t = sqrt(abar_t) * x_0 + sqrt(1 - abar_t) * eps`` on pixels in [-1, 1], 1000 steps,
  ``betas = sigmoid(linspace(-6, 6, 1000)) * (5e-3 - 1e-5) + 1e-5``;
- ``gaussian``: additive noise with standard deviation `level` (pixels in [0, 1]);
- ``occlusion``: blend towards mid-grey (level 1 = solid grey);
- ``mosaic``: pixelation with blocks of ``1 + round(15 * level)`` pixels;
- ``blur``: Gaussian blur of radius ``8 * level`` pixels;
- ``viewpoint``: an affine view change (rotation up to 30 degrees, shear up to 0.3, direction from the seed).

Every kind is deterministic for a given seed.

Example:
    >>> from PIL import Image
    >>> noised = perturb(Image.new("RGB", (8, 8), (200, 10, 10)), "ddpm", 1.0, seed=0)
    >>> noised.size, noised.mode
    ((8, 8), 'RGB')
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Literal, get_args

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageFilter

from nodes.errors import InvalidInputError

DDPM_STEPS = 1000
Box = tuple[float, float, float, float]  # (left, top, right, bottom) as fractions of width and height
Kind = Literal["ddpm", "gaussian", "occlusion", "mosaic", "blur", "viewpoint"]
KINDS: tuple[Kind, ...] = get_args(Kind)
Mask = npt.NDArray[np.bool_]  # (H, W): True where the image is perturbed
FloatImage = npt.NDArray[np.float64]  # (H, W, 3) in [0, 1]


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


def box_mask(width: int, height: int, boxes: Sequence[Box]) -> Mask:
    """A (height, width) mask that is True inside any of the fractional `boxes`."""
    mask = np.zeros((height, width), dtype=bool)  # (H, W)
    for box in boxes:
        left, top, right, bottom = box_pixels(box, width, height)
        mask[top:bottom, left:right] = True
    return mask


def pixel_box_mask(width: int, height: int, boxes: Sequence[Box]) -> Mask:
    """`box_mask` for boxes given in pixels of the `width` x `height` image (inside it, each with some area)."""
    return box_mask(width, height, [(x1 / width, y1 / height, x2 / width, y2 / height) for x1, y1, x2, y2 in boxes])


def _to_float(image: Image.Image) -> FloatImage:
    return np.asarray(image.convert("RGB"), dtype=np.float64) / 255.0  # (H, W, 3)


def _to_image(x: FloatImage) -> Image.Image:
    return Image.fromarray(np.clip(np.rint(x * 255.0), 0, 255).astype(np.uint8), mode="RGB")  # (H, W, 3) uint8


def _ddpm(x: FloatImage, level: float, rng: np.random.Generator) -> FloatImage:
    abar = ddpm_alpha_bars()[round(level * (DDPM_STEPS - 1))]
    eps = rng.standard_normal(x.shape)  # (H, W, 3)
    xt = np.sqrt(abar) * (2.0 * x - 1.0) + np.sqrt(1.0 - abar) * eps  # (H, W, 3) in about [-1, 1]
    out: FloatImage = (xt + 1.0) / 2.0  # (H, W, 3) back to about [0, 1]
    return out


def _mosaic(image: Image.Image, level: float) -> Image.Image:
    block = 1 + round(15 * level)
    small = image.resize((max(1, image.width // block), max(1, image.height // block)), Image.Resampling.BOX)
    return small.resize(image.size, Image.Resampling.NEAREST)


def _viewpoint(image: Image.Image, level: float, rng: np.random.Generator) -> Image.Image:
    sign = 1.0 if rng.random() < 0.5 else -1.0
    angle = np.deg2rad(30.0 * level) * sign
    shear = 0.3 * level * (1.0 if rng.random() < 0.5 else -1.0)
    cx, cy = image.width / 2.0, image.height / 2.0
    cos, sin = np.cos(angle), np.sin(angle)
    a, b, d, e = cos, -sin + shear, sin, cos  # inverse map: output (x, y) samples input (a x + b y + c, d x + e y + f)
    c = cx - a * cx - b * cy
    f = cy - d * cx - e * cy
    fill = tuple(int(v) for v in np.asarray(image.convert("RGB")).reshape(-1, 3).mean(axis=0))
    return image.convert("RGB").transform(
        image.size, Image.Transform.AFFINE, (a, b, c, d, e, f), resample=Image.Resampling.BILINEAR, fillcolor=fill
    )


def perturb(image: Image.Image, kind: Kind, level: float, *, mask: Mask | None = None, seed: int = 0) -> Image.Image:
    """`image` perturbed by `kind` at `level` in [0, 1], only where `mask` is True (everywhere when None).

    Level 0 and a mask that selects nothing return an unchanged copy; a mask of the wrong shape raises
    `InvalidInputError`.
    """
    if kind not in KINDS:
        raise InvalidInputError(f"unknown perturbation {kind!r}; choose one of {', '.join(KINDS)}.")
    if not 0.0 <= level <= 1.0:
        raise InvalidInputError(f"perturbation level must be in [0, 1], got {level}.")
    rgb = image.convert("RGB")
    if mask is not None and mask.shape != (rgb.height, rgb.width):
        raise InvalidInputError(f"mask shape {mask.shape} does not match the image ({rgb.height}, {rgb.width}).")
    if level == 0.0 or (mask is not None and not mask.any()):
        return rgb.copy()
    rng = np.random.default_rng(seed)
    x = _to_float(rgb)  # (H, W, 3)
    if kind == "ddpm":
        y = _ddpm(x, level, rng)
    elif kind == "gaussian":
        y = x + level * rng.standard_normal(x.shape)  # (H, W, 3)
    elif kind == "occlusion":
        y = (1.0 - level) * x + level * 0.5  # (H, W, 3)
    elif kind == "mosaic":
        y = _to_float(_mosaic(rgb, level))
    elif kind == "blur":
        y = _to_float(rgb.filter(ImageFilter.GaussianBlur(radius=8.0 * level)))
    else:
        y = _to_float(_viewpoint(rgb, level, rng))
    if mask is not None:
        y = np.where(mask[..., None], y, x)  # (H, W, 3): perturbed inside the mask only
    return _to_image(y)
