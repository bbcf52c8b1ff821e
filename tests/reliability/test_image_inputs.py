"""Every image form reaches the model as a validated data URL; bad images (corrupt, truncated, not an image,
decompression bombs, zero size, extreme aspect ratios, every PIL mode) raise `InvalidImageError` with a reason;
remote URLs are refused unless a caller downloads them on purpose with `fetch_image` (size-capped, no redirects)."""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
from pathlib import Path

import pytest
from fault_stubs import Reply, StubServer
from PIL import Image

from nodes.errors import InvalidImageError
from nodes.images import MAX_ASPECT_RATIO, MAX_PIXELS, fetch_image, load_image, to_data_url


def png_bytes(mode: str = "RGB", size: tuple[int, int] = (8, 6)) -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size).save(buf, format="PNG")
    return buf.getvalue()


def decode(url: str) -> Image.Image:
    header, _, payload = url.partition(",")
    assert header.startswith("data:image/") and header.endswith(";base64")
    return Image.open(io.BytesIO(base64.b64decode(payload)))


def test_every_input_form_gives_the_same_pixels(tmp_path: Path) -> None:
    img = Image.new("RGB", (8, 6), (10, 200, 30))
    path = tmp_path / "x.png"
    img.save(path)
    data = path.read_bytes()
    forms = [path, str(path), data, img, "data:image/png;base64," + base64.b64encode(data).decode()]
    for form in forms:
        decoded = decode(to_data_url(form)).convert("RGB")
        assert decoded.size == (8, 6)
        assert decoded.getpixel((3, 3)) == (10, 200, 30)


def test_png_passes_through_without_re_encoding(tmp_path: Path) -> None:
    data = png_bytes()
    assert to_data_url(data) == "data:image/png;base64," + base64.b64encode(data).decode()


@pytest.mark.parametrize("mode", ["L", "LA", "RGBA", "P", "I;16", "I", "F", "CMYK", "1"])
def test_every_mode_loads_as_rgb(mode: str) -> None:
    img = Image.new(mode, (5, 5))
    assert load_image(img).mode == "RGB"
    fmt = "TIFF" if mode in ("I", "F", "CMYK") else "PNG"
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    url = to_data_url(buf.getvalue())
    assert decode(url).convert("RGB").size == (5, 5)


@pytest.mark.parametrize(
    ("value", "match"),
    [
        ("does/not/exist.png", "does not exist"),
        ("https://example.com/cat.png", "remote image URL"),
        ("http://example.com/cat.png", "remote image URL"),
        ("data:text/plain;base64,aGk=", "data URL must look like"),
        ("data:image/png;base64,!!!", "not valid base64"),
        (b"definitely not an image", "not an image"),
        (png_bytes()[:40], "corrupt or truncated|could not be opened|not an image"),
    ],
)
def test_bad_images_raise_with_a_reason(value: str | bytes, match: str) -> None:
    with pytest.raises(InvalidImageError, match=match):
        to_data_url(value)


def test_directory_is_not_an_image(tmp_path: Path) -> None:
    with pytest.raises(InvalidImageError, match="not a file"):
        to_data_url(tmp_path)


def test_pixel_limit_is_checked_before_decoding() -> None:
    side = int(MAX_PIXELS**0.5) + 10
    bomb = Image.new("1", (side, side))  # 1-bit: tiny in memory, huge in pixels
    buf = io.BytesIO()
    bomb.save(buf, format="PNG")
    with pytest.raises(InvalidImageError, match="above the limit"):
        to_data_url(buf.getvalue())


def test_zero_size_pil_image() -> None:
    with pytest.raises(InvalidImageError, match="zero size"):
        load_image(Image.new("RGB", (0, 0)))


@pytest.mark.parametrize("size", [(1, MAX_ASPECT_RATIO + 1), (3 * MAX_ASPECT_RATIO + 3, 3)])
def test_extreme_aspect_ratios_are_refused(size: tuple[int, int]) -> None:
    with pytest.raises(InvalidImageError, match="times longer than wide; crop or pad"):
        to_data_url(png_bytes(size=size))
    assert to_data_url(png_bytes(size=(1, MAX_ASPECT_RATIO)))  # the limit itself is accepted


def test_remote_images_are_fetched_only_on_purpose_size_capped_and_without_redirects(
    stub_server: Callable[[Callable[[str, str], Reply]], StubServer],
) -> None:
    image = png_bytes(size=(16, 16))
    routes = {
        "/a.png": Reply(200, image, "image/png"),
        "/moved.png": Reply(302, b""),
        "/missing.png": Reply(404, b""),
        "/text": Reply(200, b"hello", "text/plain"),
    }
    server = stub_server(lambda method, path: routes[path])
    url = server.base_url + "/a.png"
    with pytest.raises(InvalidImageError, match="refused"):
        to_data_url(url)  # every ordinary path refuses URLs
    assert decode(fetch_image(url)).size == (16, 16)
    with pytest.raises(InvalidImageError, match="larger than 10 bytes"):
        fetch_image(url, max_bytes=10)
    with pytest.raises(InvalidImageError, match="HTTP 302"):
        fetch_image(server.base_url + "/moved.png")
    with pytest.raises(InvalidImageError, match="HTTP 404"):
        fetch_image(server.base_url + "/missing.png")
    with pytest.raises(InvalidImageError, match="not an image"):
        fetch_image(server.base_url + "/text")
    with pytest.raises(InvalidImageError, match="not an http"):
        fetch_image("file:///etc/passwd")
