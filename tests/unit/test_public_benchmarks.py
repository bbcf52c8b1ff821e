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


def mmmu_columns(subject: str, n: int) -> dict[str, list[Any]]:
    return {
        "id": [f"validation_{subject}_{i}" for i in range(n)],
        "question": [f"<image 1> {subject} question {i}?" for i in range(n)],
        "options": ["['x', 'y']"] * n,
        "image_1": [img((i, 2, 3)) for i in range(n)],
        "answer": ["A"] * n,
        "question_type": ["multiple-choice"] * n,
        "subfield": [subject] * n,
    }


def test_mmmu_reads_every_subject_of_a_local_copy_in_the_hubs_layout(tmp_path: Path) -> None:
    for subject in ("Art", "Math"):  # the hub's files: one folder per subject, one file per split
        (tmp_path / subject).mkdir()
        for split in ("dev", "validation"):
            columns = mmmu_columns(subject if split == "validation" else f"{subject}-{split}", 2)
            write_parquet(tmp_path / subject / f"{split}-00000-of-00001.parquet", columns, ("image_1",))
    ids = [item.id for item in load_benchmark(f"mmmu:{tmp_path}").items]
    assert ids == ["validation_Art_0", "validation_Art_1", "validation_Math_0", "validation_Math_1"]


def test_mmmu_from_the_hub_is_every_subject_loaded_as_needed(monkeypatch: pytest.MonkeyPatch) -> None:
    import datasets

    from catts_graph.benchmarks.public import MMMU_SUBJECTS

    asked: list[tuple[str, str | None, str]] = []

    def load_dataset(path: str, name: str | None = None, *, split: str) -> list[dict[str, Any]]:
        asked.append((path, name, split))
        columns = mmmu_columns(str(name), 1)
        return [{k: v[0] for k, v in columns.items()}]

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    bench = load_benchmark("mmmu")
    assert len(MMMU_SUBJECTS) == 30 and {"Math", "Art", "Sociology"} <= set(MMMU_SUBJECTS)
    assert asked == [("MMMU/MMMU", subject, "validation") for subject in MMMU_SUBJECTS]
    assert len(bench.items) == 30
    asked.clear()
    assert len(load_benchmark("mmmu", limit=2).items) == 2 and len(asked) == 2  # --limit loads only what it needs


def test_a_record_with_a_blank_question_is_skipped_and_counted(tmp_path: Path) -> None:
    columns = {"index": [0, 1], "question": ["  ", "What? Options: A: a, B: b"], "image": [img((1, 1, 1))] * 2,
               "answer": ["A", "B"], "category": ["c", "c"]}  # fmt: skip
    bench = load_benchmark(f"mmstar:{write_parquet(tmp_path / 'mmstar.parquet', columns, ('image',))}")
    assert [item.id for item in bench.items] == ["1"] and len(bench.skipped) == 1
