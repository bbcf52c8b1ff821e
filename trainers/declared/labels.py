"""What a served start model does on both views of every training pair: the raw material of the declared-confidence
warm-up's labels (docs/method.md section 9.5; `trainers.declared.label_fit` turns it into labels).

For each pair and view (the clean image, and its twin with the evidence destroyed), the model answers once greedily
and `samples` times at the graph's temperature. A view's row keeps the greedy response (the warm-up's target text),
whether it is right, its signals (`trainers.declared.warmup.SIGNALS`), and `k`: how many of the samples give the
greedy answer (the model's own agreement with it), with every sample's answer (`answers`, None where none parses)
for richer agreement measures. Rows are appended as they finish, so an interrupted run resumes.

Example:
    >>> out = "runs/declared/views.jsonl"
    >>> asyncio.run(collect_views(client, "runs/declared/pairs", out, LabelSettings()))  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nodes.answers import extract_answer
from nodes.prompts import question_prompt
from nodes.protocol import Message, SamplingParams, VisionLanguageModel
from trainers.cdrl.rewards import is_correct
from trainers.declared.warmup import signals

VIEWS = {"clean": "image", "noised": "noised_image"}  # a view, and the pairs.jsonl field naming its image
LABEL_FIT_FILE = "label_fit.json"  # beside a labels file: the held-out comparison, the choice and its fit


@dataclass(frozen=True)
class LabelSettings:
    samples: int = 8  # sampled answers per view, at `temperature`
    temperature: float = 1.0  # the graph's (CA-TTS samples at the paper's 1.0)
    max_tokens: int = 128  # the warm-up's --max-completion-length
    top_logprobs: int = 20  # k of the NMLP signal
    concurrency: int = 8  # views in flight
    limit: int | None = None  # the first pairs only
    min_p: float = 0.0  # min-p cut-off of the samples (0 = off), as the graph's `sampling.min_p`


def read_pairs(pairs_dir: str | Path) -> list[dict[str, Any]]:
    """The records of a `catts data pairs` folder, each with its ``id`` as a string."""
    lines = (Path(pairs_dir) / "pairs.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines if line.strip()]
    return [{**r, "id": str(r.get("id", index))} for index, r in enumerate(records)]


def read_rows(path: str | Path) -> list[dict[str, Any]]:
    """The rows of a labels or views file (none when it does not exist yet)."""
    file = Path(path)
    if not file.exists():
        return []
    return [json.loads(line) for line in file.read_text().splitlines() if line.strip()]


async def view_row(
    model: VisionLanguageModel, folder: Path, record: dict[str, Any], view: str, settings: LabelSettings
) -> dict[str, Any]:
    """One view's row: the greedy response, whether it is right, its signals, and the samples agreeing with it."""
    image = record[VIEWS[view]]
    choices, answer_type = record.get("choices"), record.get("answer_type")
    messages = [Message.user(question_prompt(record["question"], choices), [str(folder / image)])]
    params = SamplingParams(n=1, temperature=0.0, max_tokens=settings.max_tokens, top_logprobs=settings.top_logprobs)
    greedy, drawn = await asyncio.gather(
        model.sample(messages, params),
        model.sample(
            messages,
            dataclasses.replace(params, n=settings.samples, temperature=settings.temperature, min_p=settings.min_p),
        ),
    )
    text = greedy[0].text
    answer = extract_answer(text, answer_type=answer_type, choices=choices)
    answers = [extract_answer(s.text, answer_type=answer_type, choices=choices) for s in drawn]
    return {
        "id": record["id"],
        "view": view,
        "image": image,
        "question": record["question"],
        "choices": choices,
        "answer": record["answer"],
        "answer_type": answer_type,
        "greedy": text,
        "correct": is_correct(text, record["answer"], answer_type, choices),
        "signals": signals(greedy[0]),
        "k": sum(a == answer for a in answers) if answer is not None else 0,
        "n": len(drawn),
        "answers": answers,
    }


def append(path: Path, line: str) -> None:
    with path.open("a") as file:
        file.write(line)


async def collect_views(
    model: VisionLanguageModel,
    pairs_dir: str | Path,
    out: str | Path,
    settings: LabelSettings,
    on_view: Callable[[], None] = lambda: None,
) -> list[dict[str, Any]]:
    """Every view's row of the first `settings.limit` pairs, appended to `out` as each finishes (the views already
    in `out` are kept, not redone); returns all rows in pair order, clean before noised."""
    folder, path = Path(pairs_dir), Path(out)
    records = read_pairs(folder)[: settings.limit]
    done = {(r["id"], r["view"]): r for r in read_rows(path)}
    gate = asyncio.Semaphore(settings.concurrency)
    path.parent.mkdir(parents=True, exist_ok=True)

    async def one(record: dict[str, Any], view: str) -> None:
        async with gate:
            row = await view_row(model, folder, record, view, settings)
        append(path, json.dumps(row) + "\n")  # one short line: no need to leave the loop for it
        done[(row["id"], row["view"])] = row
        on_view()

    todo = [(r, v) for r in records for v in VIEWS if (r["id"], v) not in done]
    await asyncio.gather(*(one(r, v) for r, v in todo))
    return [done[(r["id"], v)] for r in records for v in VIEWS]
