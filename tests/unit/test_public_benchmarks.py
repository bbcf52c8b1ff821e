"""Public benchmark loaders on small local fixtures written in each dataset's own schema (no hub here)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from catts_graph.benchmarks import BenchmarkError, load_benchmark, matches

pytestmark = pytest.mark.slow


def write_parquet(path: Path, columns: dict[str, list[Any]], image_columns: tuple[str, ...]) -> str:
    import datasets

    ds = datasets.Dataset.from_dict(columns)
    for name in image_columns:
        ds = ds.cast_column(name, datasets.Image())
    ds.to_parquet(str(path))
    return str(path)


def img(color: tuple[int, int, int]) -> Image.Image:
    return Image.new("RGB", (32, 32), color)


def test_mathvista_schema(tmp_path: Path) -> None:
    path = write_parquet(
        tmp_path / "mathvista.parquet",
        {
            "pid": ["1", "2", "3"],
            "question": ["What is the area?", "Which shape is red?", "Value of x?"],
            "decoded_image": [img((255, 0, 0)), img((0, 255, 0)), img((0, 0, 255))],
            "choices": [None, ["circle", "square"], None],
            "answer": ["12", "square", "1.5"],
            "question_type": ["free_form", "multi_choice", "free_form"],
            "answer_type": ["integer", "text", "float"],
            "precision": [None, None, 1.0],
        },
        ("decoded_image",),
    )
    bench = load_benchmark(f"mathvista:{path}")
    first, second, third = bench.items
    assert (first.answer, first.answer_type) == ("12", "integer")
    assert (second.answer, second.choices) == ("B", ("circle", "square"))
    assert first.image.startswith("data:image/png;base64,")
    assert matches("1.54", third) and not matches("1.6", third)  # MathVista's precision rule


def test_mathvision_mmmu_mmstar_schemas(tmp_path: Path) -> None:
    mathvision = write_parquet(
        tmp_path / "mathvision.parquet",
        {
            "id": ["a"],
            "question": ["How many?"],
            "options": [["1", "2", "3"]],
            "decoded_image": [img((9, 9, 9))],
            "answer": ["C"],
            "subject": ["counting"],
            "level": [1],
        },
        ("decoded_image",),
    )
    mmmu = write_parquet(
        tmp_path / "mmmu.parquet",
        {
            "id": ["v_1", "v_2"],
            "question": ["<image 1> Which?", "Compute it."],
            "options": ["['x', 'y']", "[]"],
            "image_1": [img((1, 2, 3)), img((3, 2, 1))],
            "answer": ["B", "7"],
            "question_type": ["multiple-choice", "open"],
            "subfield": ["s", "s"],
        },
        ("image_1",),
    )
    mmstar = write_parquet(
        tmp_path / "mmstar.parquet",
        {
            "index": [0],
            "question": ["What? Options: A: a, B: b, C: c, D: d"],
            "image": [img((5, 5, 5))],
            "answer": ["D"],
            "category": ["coarse"],
        },
        ("image",),
    )
    assert load_benchmark(f"mathvision:{mathvision}").items[0].answer == "C"
    mm = load_benchmark(f"mmmu:{mmmu}").items
    assert mm[0].answer == "B" and mm[0].question == "the image Which?" and mm[1].answer == "7"
    assert load_benchmark(f"mmstar:{mmstar}").items[0].answer == "D"


def test_unreadable_local_copy_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(BenchmarkError, match="cannot load mmstar"):
        load_benchmark(f"mmstar:{tmp_path / 'missing.parquet'}")
