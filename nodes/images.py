"""Image inputs -> validated data URLs, the one form every model request carries.

Accepted: a file path (`str` or `Path`), raw bytes, a `PIL.Image.Image`, or a ``data:image/...;base64,`` URL.
Remote ``http(s)://`` URLs are refused: fetching arbitrary URLs named by model or dataset text is a security hole.
A caller that means it downloads first with `fetch_image` (size- and time-limited; `--allow-remote-images` on the
CLI). Images larger than `MAX_PIXELS` are refused before decoding (decompression bombs), and so are images more
than `MAX_ASPECT_RATIO` times longer than wide (vision encoders such as Qwen2.5-VL's refuse them).

Example:
    >>> from PIL import Image
    >>> to_data_url(Image.new("RGB", (4, 4))).startswith("data:image/png;base64,")
    True
"""

from __future__ import annotations

import base64
import binascii
import io
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import TypeAlias

from PIL import Image, UnidentifiedImageError

from nodes.errors import InvalidImageError

ImageInput: TypeAlias = str | Path | bytes | Image.Image

MAX_PIXELS = 40_000_000  # about 6300 x 6300; larger images are refused before they are decoded
MAX_ASPECT_RATIO = 200  # Qwen2.5-VL's image processor refuses anything longer
MAX_DOWNLOAD_BYTES = 20_000_000  # `fetch_image` stops reading past this
_PASS_THROUGH = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp", "GIF": "image/gif"}
_PASS_THROUGH_MODES = {"RGB", "RGBA", "L", "LA", "P"}


def _describe(image: ImageInput) -> str:
    if isinstance(image, str | Path):
        text = str(image)
        return repr("..." + text[-60:] if len(text) > 60 else text)  # the end of a path names the file
    return type(image).__name__


def _open(data: bytes, source: str) -> Image.Image:
    try:
        img = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise InvalidImageError(f"{source} is not an image PIL can read (PNG, JPEG, WebP, GIF, BMP, ...).") from None
    except (OSError, ValueError) as e:
        raise InvalidImageError(f"{source} could not be opened as an image: {e}") from None
    check_size(img.size, source)
    try:
        img.load()
    except (OSError, ValueError, SyntaxError) as e:
        raise InvalidImageError(f"{source} is corrupt or truncated: {e}") from None
    return img


def check_size(size: tuple[int, int], source: str = "image") -> None:
    """Raise `InvalidImageError` for zero-size images, images above `MAX_PIXELS`, and aspect ratios above
    `MAX_ASPECT_RATIO`."""
    width, height = size
    if width < 1 or height < 1:
        raise InvalidImageError(f"{source} has zero size ({width}x{height}).")
    if max(width, height) > MAX_ASPECT_RATIO * min(width, height):
        raise InvalidImageError(
            f"{source} is {width}x{height}, more than {MAX_ASPECT_RATIO} times longer than wide; crop or pad it."
        )
    if width * height > MAX_PIXELS:
        raise InvalidImageError(
            f"{source} has {width}x{height} = {width * height:,} pixels, above the limit of {MAX_PIXELS:,}; "
            "downscale it first."
        )


def _read_bytes(image: str | Path | bytes) -> tuple[bytes, str]:
    if isinstance(image, bytes):
        return image, "image bytes"
    text = str(image)
    if text.startswith("data:"):
        header, _, payload = text.partition(",")
        if not header.startswith("data:image/") or not header.endswith(";base64") or not payload:
            raise InvalidImageError("a data URL must look like 'data:image/<type>;base64,<data>'.")
        try:
            return base64.b64decode(payload, validate=True), "data URL"
        except (binascii.Error, ValueError):
            raise InvalidImageError("the data URL's payload is not valid base64.") from None
    if text.startswith(("http://", "https://")):
        raise InvalidImageError(
            f"remote image URL {_describe(image)} refused: images are not fetched from the network unless asked "
            "for; download the file and pass its path (or allow remote images: `fetch_image`, "
            "--allow-remote-images)."
        )
    path = Path(text)
    if not path.is_file():
        raise InvalidImageError(f"image file {_describe(image)} does not exist (or is not a file).")
    return path.read_bytes(), f"image file {_describe(image)}"


def fetch_image(url: str, *, timeout_s: float = 20.0, max_bytes: int = MAX_DOWNLOAD_BYTES) -> str:
    """Download an ``http(s)`` image (no redirects, at most `max_bytes`) as a validated data URL.

    Only for callers that chose to allow remote images; everything else refuses URLs.
    """
    import httpx

    if not url.startswith(("http://", "https://")):
        raise InvalidImageError(f"{_describe(url)} is not an http(s) URL.")
    chunks, size = [], 0
    try:
        with httpx.stream("GET", url, timeout=timeout_s, follow_redirects=False) as response:
            if response.status_code != 200:
                raise InvalidImageError(f"downloading {_describe(url)} failed with HTTP {response.status_code}.")
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > max_bytes:
                    raise InvalidImageError(f"{_describe(url)} is larger than {max_bytes:,} bytes; refused.")
                chunks.append(chunk)
    except httpx.HTTPError as e:
        raise InvalidImageError(f"downloading {_describe(url)} failed ({type(e).__name__}).") from None
    return to_data_url(b"".join(chunks))


def load_image(image: ImageInput) -> Image.Image:
    """Open and fully decode an image, validating it; the result is RGB."""
    if isinstance(image, Image.Image):
        check_size(image.size)
        img = image
    else:
        data, source = _read_bytes(image)
        img = _open(data, source)
    return img if img.mode == "RGB" else _to_rgb(img)


def _to_rgb(img: Image.Image) -> Image.Image:
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):  # 16/32-bit greyscale: scale into 8 bits first
        lo, hi = (float(v) for v in img.getextrema())  # type: ignore[arg-type]
        scale = 255.0 / (hi - lo) if hi != lo else 0.0
        img = img.point(lambda v: (v - lo) * scale).convert("L")
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB")


def encode_png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def png_data_url(img: Image.Image) -> str:
    """A PNG data URL for an in-memory image (RGB)."""
    return "data:image/png;base64," + base64.b64encode(encode_png(img)).decode("ascii")


def to_data_url(image: ImageInput) -> str:
    """A validated ``data:image/...;base64,`` URL for `image`; common formats pass through without re-encoding."""
    if isinstance(image, Image.Image):
        return png_data_url(load_image(image))
    data, source = _read_bytes(image)
    img = _open(data, source)
    mime = _PASS_THROUGH.get(img.format or "")
    if mime is None or img.mode not in _PASS_THROUGH_MODES:
        mime, data = "image/png", encode_png(_to_rgb(img))
    return f"data:{mime};base64," + base64.b64encode(data).decode("ascii")


@lru_cache(maxsize=256)
def _cached_data_url(image: str, stamp: tuple[int, int] | None) -> str:
    return to_data_url(image)


def data_urls(images: Sequence[str]) -> tuple[str, ...]:
    """Data URLs for state images (paths or data URLs), encoded once per file version and cached."""
    urls = []
    for image in images:
        stamp = None
        if not image.startswith("data:"):
            try:
                st = Path(image).stat()
                stamp = (st.st_mtime_ns, st.st_size)
            except OSError:
                pass  # to_data_url reports the missing file
        urls.append(_cached_data_url(image, stamp))
    return tuple(urls)
