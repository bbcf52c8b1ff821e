"""Unit-suite fixtures shared across modules."""

from __future__ import annotations

from pathlib import Path

import pytest

from trainers.shapes.smoke import make_smoke_model


@pytest.fixture(scope="session")
def quick_smoke_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny Qwen2.5-VL fine-tuned for 20 steps on ShapesVQA, built once per worker: the trainers' start model (their
    tests read it and write elsewhere)."""
    return make_smoke_model(tmp_path_factory.mktemp("quick") / "smoke", steps=20).out_dir
