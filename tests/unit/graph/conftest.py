from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image


@pytest.fixture
def image(tmp_path: Path) -> str:
    path = tmp_path / "img.png"
    Image.new("RGB", (28, 28), (200, 30, 30)).save(path)
    return str(path)
