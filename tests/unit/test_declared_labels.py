"""The declared-confidence warm-up's labels: the start model's answers on both views of each pair, the held-out
comparison of the label scores, and the warm-up examples a labels file makes."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Sequence
from pathlib import Path

import pytest

from catts_graph.benchmarks import load_benchmark
from nodes.protocol import Message
from nodes.stated import stated_answer_confidence
from nodes.testing import ScriptedModel
from trainers.cdrl.data import PairNoise, build_pairs
from trainers.declared.label_fit import (
    PSEUDO_ITEMS,
    choose,
    compare_labels,
    fit_cells,
    folds_of,
    held_out_scores,
    label_views,
)
from trainers.declared.labels import LabelSettings, collect_views, read_pairs
from trainers.declared.warmup import labelled_examples


@pytest.fixture(scope="module")
def pairs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("labels") / "pairs"
    build_pairs(
        load_benchmark("shapes:100", limit=3).items, out, PairNoise(kind="occlusion", level=1.0, region="objects")
    )
    return out


def test_each_view_is_answered_greedily_and_sampled_and_k_counts_the_agreeing_samples(
    pairs: Path, tmp_path: Path
) -> None:
    records = read_pairs(pairs)
    gold = records[0]["answer"]

    def greedy(messages: Sequence[Message]) -> str:  # right on the clean image, wrong on its twin
        clean = messages[0].images[0] == Message.user("", [str(pairs / records[0]["image"])]).images[0]
        return f"\\boxed{{{gold}}}" if clean else "\\boxed{99}"

    model = ScriptedModel([f"\\boxed{{{gold}}}", "\\boxed{99}", "\\boxed{99}", "none"], greedy=greedy)
    rows = asyncio.run(collect_views(model, pairs, tmp_path / "views.jsonl", LabelSettings(samples=4, limit=1)))
    assert [(r["id"], r["view"]) for r in rows] == [(records[0]["id"], "clean"), (records[0]["id"], "noised")]
    clean, noised = rows
    assert clean["correct"] and not noised["correct"]
    assert (clean["k"], noised["k"], clean["n"]) == (1, 2, 4)
    assert len(clean["answers"]) == 4 and clean["answers"].count(None) == 1  # each sample's answer, kept
    assert noised["image"] == records[0]["noised_image"] and len(clean["signals"]) == 3
    sampled = [c.params for c in model.calls if c.params is not None and c.params.temperature > 0]
    assert len(sampled) == 2 and all(p.n == 4 and p.temperature == 1.0 for p in sampled)


def test_an_interrupted_collection_resumes_without_redoing_views(pairs: Path, tmp_path: Path) -> None:
    out, settings = tmp_path / "views.jsonl", LabelSettings(samples=2)
    first = ScriptedModel(["\\boxed{1}"])
    asyncio.run(collect_views(first, pairs, out, LabelSettings(samples=2, limit=1)))
    second = ScriptedModel(["\\boxed{1}"])
    rows = asyncio.run(collect_views(second, pairs, out, settings))
    assert len(rows) == 6 and len(out.read_text().splitlines()) == 6
    assert len(second.calls) == 2 * 4  # greedy + samples for the 4 views not done yet


def synthetic(n_pairs: int, seed: int = 0) -> list[dict]:
    """Views whose correctness follows k (and the view); the signals are noise."""
    rng = random.Random(seed)
    rows = []
    for i in range(n_pairs):
        for view in ("clean", "noised"):
            k = rng.randint(0, 8)
            p = (0.15 + 0.8 * k / 8) * (1.0 if view == "clean" else 0.5)
            rows.append({"id": str(i), "view": view, "correct": rng.random() < p, "k": k, "n": 8,
                         "signals": [rng.random(), rng.random(), rng.random()]})  # fmt: skip
    return rows


def test_cells_are_shrunk_toward_the_mean() -> None:
    rows = [{"id": "0", "view": "clean", "k": 8, "correct": True}] * 4 + [
        {"id": "1", "view": "noised", "k": 0, "correct": False}
    ] * 4
    fit = fit_cells(rows)
    assert fit.mean == 0.5
    assert fit.score(rows[0]) == pytest.approx((4 + PSEUDO_ITEMS * 0.5) / (4 + PSEUDO_ITEMS))
    assert fit.score({"view": "clean", "k": 3}) == 0.5  # an unseen cell


def test_folds_keep_both_views_of_a_pair_together_and_scores_are_held_out() -> None:
    rows = synthetic(50)
    folds = folds_of(rows, 5)
    assert all(folds[i] == folds[i + 1] for i in range(0, len(rows), 2))
    assert sorted(set(folds)) == [0, 1, 2, 3, 4]
    lone = [*rows, {"id": "x", "view": "clean", "k": 8, "n": 8, "correct": False, "signals": [0.5] * 3}]
    held = held_out_scores(lone, "cells", folds=5)
    assert held[-1] != fit_cells(lone).score(lone[-1])  # its own wrong answer did not set its label


def test_the_label_score_that_ranks_best_on_held_out_pairs_is_chosen() -> None:
    rows = synthetic(300)
    comparison = compare_labels(rows)
    assert comparison["signals"]["auroc"] < 0.6  # noise
    assert comparison["cells"]["auroc"] > 0.7 and comparison["logistic"]["auroc"] > 0.7
    assert {"ece", "brier", "auroc_stated", "ece_stated", "clean", "noised"} <= set(comparison["cells"])
    assert choose(comparison) == max(("cells", "logistic"), key=lambda m: comparison[m]["auroc"])
    labels, fit = label_views(rows, "logistic")
    assert len(labels) == len(rows) and fit["features"][-2:] == ("agreement", "noised")


def test_the_warm_up_teaches_both_views_with_their_labels(pairs: Path, tmp_path: Path) -> None:
    rows = asyncio.run(collect_views(ScriptedModel(["\\boxed{1}"]), pairs, tmp_path / "v.jsonl", LabelSettings(2)))
    labelled = [{**r, "greedy": r["greedy"] + " (answer confidence: 9/10)", "label": 0.1 * i + 0.02}
                for i, r in enumerate(rows)]  # fmt: skip
    examples = labelled_examples(labelled, pairs, limit=2)
    assert len(examples) == 4  # two pairs, both views
    assert [stated_answer_confidence(e.answer) for e in examples] == pytest.approx([0.05, 0.15, 0.25, 0.35])
    assert all(e.answer.count("answer confidence") == 1 for e in examples)  # the old statement stripped
    assert examples[1].images[0].tobytes() != examples[0].images[0].tobytes()  # the twin's image
    assert json.loads(json.dumps(rows[0]))["view"] == "clean"
    assert all(e.loss_from == 0 for e in examples)  # the loss covers the whole response by default
    alone = labelled_examples(labelled, pairs, limit=2, statement_only=True)
    assert [e.answer for e in alone] == [e.answer for e in examples]
    assert all(e.answer[e.loss_from :].startswith(" (answer confidence: ") for e in alone)  # the statement alone
