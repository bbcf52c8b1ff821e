"""Loaders for MathVista, MathVision, MMMU and MMStar through the `datasets` library, with their real field names.

Each loader reads the hub dataset by default (``mathvista``), or a local copy in the same schema (``mathvista:PATH``:
a parquet/JSON file, a `save_to_disk` folder, or a folder of the hub's files, whose ``SPLIT-*.parquet`` files are
all read, e.g. one per MMMU subject), and maps every record to a `BenchmarkItem` with rule-based answer matching:

- MathVista (``AI4Math/MathVista``, split ``testmini``): ``pid``, ``query``/``question``, ``decoded_image``,
  ``choices``, ``answer``, ``question_type`` (``multi_choice``/``free_form``), ``answer_type``
  (``integer``/``float``/``text``/``list``), ``precision``. Multiple choice is scored as the option letter.
- MathVision (``MathLLMs/MathVision``, split ``testmini``): ``id``, ``question``, ``options``, ``decoded_image``,
  ``answer`` (a letter when options exist).
- MMMU (``MMMU/MMMU``, split ``validation``, all 30 subjects in `MMMU_SUBJECTS` order, each loaded only when
  ``--limit`` reaches it): ``id``, ``question``, ``options`` (a Python-literal list in a string), ``image_1``,
  ``answer``, ``question_type`` (``multiple-choice``/``open``).
- MMStar (``Lin-Chen/MMStar``, split ``val``): ``index``, ``question`` (options inline), ``image``, ``answer``
  (a letter).
- VQA-Verify (``justairr/VQA-Verify``, SATORI-R1's data, split ``train``): ms-swift rows with caption and evidence
  boxes (`catts_graph.benchmarks.vqa_verify`); its items carry `boxes` and `caption`.

Images become data URLs; records that cannot be used (no image, no question, unreadable answer) are skipped and
counted.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

from catts_graph.benchmarks.items import Benchmark, BenchmarkError, BenchmarkItem
from catts_graph.benchmarks.vqa_verify import vqa_verify_item
from nodes.answers import AnswerType, normalize_answer
from nodes.errors import InvalidImageError
from nodes.images import to_data_url

MMMU_SUBJECTS = (
    "Accounting", "Agriculture", "Architecture_and_Engineering", "Art", "Art_Theory", "Basic_Medical_Science",
    "Biology", "Chemistry", "Clinical_Medicine", "Computer_Science", "Design",
    "Diagnostics_and_Laboratory_Medicine", "Economics", "Electronics", "Energy_and_Power", "Finance", "Geography",
    "History", "Literature", "Manage", "Marketing", "Materials", "Math", "Mechanical_Engineering", "Music",
    "Pharmacy", "Physics", "Psychology", "Public_Health", "Sociology",
)  # fmt: skip
HUB: dict[str, tuple[str, tuple[str | None, ...], str]] = {  # name: (hub id, configs read in turn, split)
    "mathvista": ("AI4Math/MathVista", (None,), "testmini"),
    "mathvision": ("MathLLMs/MathVision", (None,), "testmini"),
    "mmmu": ("MMMU/MMMU", MMMU_SUBJECTS, "validation"),
    "mmstar": ("Lin-Chen/MMStar", (None,), "val"),
    "vqa-verify": ("justairr/VQA-Verify", (None,), "train"),
}


def _image_url(value: Any) -> str | None:
    """A validated data URL for a `datasets` image value (PIL image or {"bytes": ...}); None if absent."""
    if isinstance(value, dict) and value.get("bytes"):
        return to_data_url(value["bytes"])
    if hasattr(value, "save"):
        return to_data_url(value)
    return None


def _item(
    id_: Any,
    question: str,
    image: Any,
    answer: Any,
    answer_type: AnswerType | None,
    choices: list[str] | None,
    meta: dict[str, Any],
) -> BenchmarkItem | None:
    try:
        url = _image_url(image)
    except InvalidImageError:
        return None  # a corrupt image: the record is skipped and counted
    gold = normalize_answer(str(answer), answer_type, choices)
    if url is None or gold is None or not question.strip():
        return None
    return BenchmarkItem(str(id_), question, url, gold, answer_type, tuple(choices) if choices else None, meta)


def mathvista(record: dict[str, Any]) -> BenchmarkItem | None:
    choices = record.get("choices") or None
    if record.get("question_type") == "multi_choice" and choices:
        letter = next((chr(65 + i) for i, c in enumerate(choices) if str(c) == str(record["answer"])), None)
        return _item(
            record["pid"],
            record["question"],
            record.get("decoded_image"),
            letter or record["answer"],
            "choice",
            list(map(str, choices)),
            {"source": "mathvista"},
        )
    kind = record.get("answer_type")
    answer_type: AnswerType = "integer" if kind == "integer" else "float" if kind == "float" else "text"
    meta = {"source": "mathvista", "precision": record.get("precision")}
    return _item(
        record["pid"], record["question"], record.get("decoded_image"), record["answer"], answer_type, None, meta
    )


def mathvision(record: dict[str, Any]) -> BenchmarkItem | None:
    options = [str(o) for o in record.get("options") or []]
    answer_type: AnswerType | None = "choice" if options else None
    meta = {"source": "mathvision", "subject": record.get("subject"), "level": record.get("level")}
    return _item(
        record["id"],
        record["question"],
        record.get("decoded_image"),
        record["answer"],
        answer_type,
        options or None,
        meta,
    )


_MAX_OPTIONS_CHARS = 20_000  # MMMU's options field, a Python-literal list in a string


def mmmu(record: dict[str, Any]) -> BenchmarkItem | None:
    raw = record.get("options") or "[]"
    if not isinstance(raw, str) or len(raw) > _MAX_OPTIONS_CHARS:
        return None
    try:
        parsed = ast.literal_eval(raw)  # literals only: dataset text is data, never code
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None
    if not isinstance(parsed, list | tuple):
        return None
    options = [str(o) for o in parsed]
    choice = record.get("question_type") == "multiple-choice" and options
    question = str(record["question"]).replace("<image 1>", "the image").strip()
    meta = {"source": "mmmu", "subfield": record.get("subfield")}
    return _item(
        record["id"],
        question,
        record.get("image_1"),
        record["answer"],
        "choice" if choice else None,
        options if choice else None,
        meta,
    )


def mmstar(record: dict[str, Any]) -> BenchmarkItem | None:
    # The question text carries its options ("Options: A: ..., B: ..."), so the answer is just the letter.
    meta = {"source": "mmstar", "category": record.get("category")}
    return _item(
        record["index"],
        record["question"],
        record.get("image"),
        record["answer"],
        "choice",
        ["A", "B", "C", "D"],
        meta,
    )


MAPPERS: dict[str, Callable[[dict[str, Any]], BenchmarkItem | None]] = {
    "mathvista": mathvista,
    "mathvision": mathvision,
    "mmmu": mmmu,
    "mmstar": mmstar,
}


def load_public(name: str, path: str | None, limit: int | None) -> Benchmark:
    """Load a public benchmark from the hub (path None) or from a local copy in the hub's schema."""
    try:
        import datasets
    except ImportError:
        raise BenchmarkError(f"loading {name} needs the `datasets` package: `uv sync --extra train`.") from None
    hub_id, configs, split = HUB[name]
    records = _hub(datasets, name, hub_id, configs, split) if path is None else _local(datasets, name, path, split)
    mapper = MAPPERS.get(name)
    if mapper is None:  # vqa-verify: its image paths are relative to the local copy
        root = Path(path).parent if path and Path(path).is_file() else Path(path or ".")
        mapper = partial(vqa_verify_item, root=root)
    items, skipped = _map(records, mapper, limit)
    return Benchmark(f"{name}:{path}" if path else name, items, skipped)


def _cannot_load(name: str, where: str, e: Exception) -> BenchmarkError:
    return BenchmarkError(f"cannot load {name} from {where}: {type(e).__name__}: {e}")


def _hub(datasets: Any, name: str, hub_id: str, configs: tuple[str | None, ...], split: str) -> Iterator[Any]:
    """The records of every config in turn, each downloaded only when the previous ones are used up."""
    for config in configs:
        try:
            data = datasets.load_dataset(hub_id, config, split=split)
        except Exception as e:  # noqa: BLE001 (datasets raises many types; the message says what to do)
            raise _cannot_load(name, f"the hub ({hub_id}{f', {config}' if config else ''})", e) from None
        yield from data


def _local(datasets: Any, name: str, path: str, split: str) -> Any:
    """A local copy: a parquet/JSON file, a `save_to_disk` folder, or the hub's files (every SPLIT-*.parquet)."""
    folder = Path(path)
    try:
        if path.endswith((".parquet", ".json", ".jsonl")):
            kind = "parquet" if path.endswith(".parquet") else "json"
            return datasets.load_dataset(kind, data_files=path, split="train")
        if not folder.is_dir() or any((folder / f).is_file() for f in ("state.json", "dataset_dict.json")):
            data = datasets.load_from_disk(path)
            return data[split] if isinstance(data, datasets.DatasetDict) else data
        files = sorted(str(f) for f in folder.rglob(f"{split}-*.parquet"))
        if not files:
            raise BenchmarkError(
                f"cannot load {name} from {path}: no {split}-*.parquet files (the hub's layout) in it, "
                "and it is not a `save_to_disk` folder."
            )
        return datasets.load_dataset("parquet", data_files=files, split="train")
    except BenchmarkError:
        raise
    except Exception as e:  # noqa: BLE001 (datasets raises many types; the message says what to do)
        raise _cannot_load(name, path, e) from None


def _map(
    records: Iterable[dict[str, Any]], mapper: Callable[[dict[str, Any]], BenchmarkItem | None], limit: int | None
) -> tuple[list[BenchmarkItem], list[str]]:
    items: list[BenchmarkItem] = []
    skipped: list[str] = []
    for i, record in enumerate(records):
        item = mapper(record)
        if item is None:
            skipped.append(f"record {i}: no image, no question or an answer that cannot be read; skipped")
        else:
            items.append(item)
        if limit is not None and len(items) >= limit:
            break  # before the next record: on the hub it may be the next subject's download
    return items, skipped
