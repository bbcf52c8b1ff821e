"""Step-level evaluation: step truth against reference steps, step rows in the results, step ECE/AUROC."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from catts_graph.benchmarks import load_benchmark
from catts_graph.benchmarks.jsonl import read_jsonl
from catts_graph.evaluation.harness import EvalSettings, run_evaluation
from catts_graph.evaluation.report import aggregate, markdown_report
from catts_graph.evaluation.results import ResultsFile
from catts_graph.evaluation.steps import step_metrics, step_truth
from catts_graph.graph.config import CATTSConfig
from catts_graph.shapes.world import make_item
from nodes.testing import ScriptedExpert, ScriptedModel


@pytest.mark.parametrize(
    ("texts", "answers", "reference", "answer_correct", "truth"),
    [
        (["red circle,", "blue square.", "2"], [False, False, True], ("red circle", "blue square"), True,
         [True, True, True]),
        (["Red Circle, blue square.", "2"], [False, True], ("blue square", "red circle"), True, [True, True]),
        (["red circle,", "red circle.", "2"], [False, False, True], ("red circle",), False, [True, False, False]),
        (["none.", "0"], [False, True], ("none",), True, [True, True]),
        (["none.", "0"], [False, True], ("green square",), False, [False, False]),
        (["So the answer is", "3"], [False, True], None, True, [None, True]),  # no reference: answer step only
        ([",", "3"], [False, True], ("x",), True, [False, True]),  # a step with no words is not a reference step
    ],
)  # fmt: skip
def test_step_truth(
    texts: list[str], answers: list[bool], reference: tuple[str, ...] | None, answer_correct: bool, truth: list
) -> None:
    assert step_truth(texts, answers, reference, answer_correct) == truth


def test_shapes_reference_steps_are_the_rationales_items() -> None:
    items = [make_item(2, k) for k in range(40)]
    for item in items:
        assert ", ".join(item.reference_steps) + "." == item.rationale
    assert any(item.reference_steps == ["none"] for item in items)
    loaded = load_benchmark("shapes:2", limit=3).items
    assert [list(i.steps or ()) for i in loaded] == [make_item(2, k).reference_steps for k in range(3)]


def test_jsonl_reads_reference_steps_and_says_what_is_wrong(tmp_path: Path) -> None:
    image = tmp_path / "a.png"
    make_item(0, 0).render().save(image)
    good = {"id": "1", "image": "a.png", "question": "q?", "answer": "2", "steps": ["red circle", "blue square"]}
    bad = {**good, "id": "2", "steps": "red circle"}
    (tmp_path / "items.jsonl").write_text(json.dumps(good) + "\n" + json.dumps(bad) + "\n")
    items, skipped = read_jsonl(tmp_path / "items.jsonl", skip_bad_lines=True)
    assert items[0].steps == ("red circle", "blue square") and "steps" not in items[0].meta
    assert len(skipped) == 1 and "items.jsonl:2:" in skipped[0] and "`steps` must be a list of texts" in skipped[0]


def test_step_metrics_per_signal() -> None:
    nan = math.nan
    rows = [[False, 0.9, 0.9, nan, 0.8, 0.9, 0.9, True], [False, 0.2, 0.8, nan, 0.2, 0.5, 0.7, False],
            [True, 0.95, 0.9, nan, 0.2, 0.92, 0.5, True], [False, 0.5, 0.5, nan, 0.5, 0.5, 0.1, None]]  # fmt: skip
    metrics = step_metrics([{"method": "greedy", "steps": rows}, {"method": "catts-paper"}])
    assert (
        len(metrics) == 1 and metrics[0]["method"] == "greedy" and metrics[0]["steps"] == 3
    )  # unknown truth left out
    assert metrics[0]["wrong"] == pytest.approx(1 / 3)
    assert metrics[0]["likelihood"]["auroc"] == 1.0 and math.isnan(metrics[0]["visual"]["auroc"])
    assert metrics[0]["stated"]["auroc"] == 0.5 and metrics[0]["chain"]["auroc"] == 0.75


async def test_eval_records_steps_of_greedy_and_of_the_samples(tmp_path: Path) -> None:
    items = load_benchmark("shapes", limit=3).items
    right = f"{', '.join(items[0].steps or ())}. \\boxed{{{items[0].answer}}}"
    model = ScriptedModel([(right, 6.0), ("purple hexagon. \\boxed{9}", 2.0)], greedy=right)
    config = CATTSConfig.model_validate({"steps": {"splitter": "clauses"}})
    settings = EvalSettings(("greedy", "majority", "step-vote"), (2, 4), config)
    results = ResultsFile(tmp_path / "results.jsonl")
    await run_evaluation(model, ScriptedExpert(), items, settings, results)
    lines = results.read()
    by = {(line["id"], line["method"], line["n"]): line for line in lines}
    first = items[0].id
    greedy_steps = by[(first, "greedy", 1)]["steps"]
    assert [row[-1] for row in greedy_steps] == [True] * len(greedy_steps)  # the reference rationale, right answer
    assert len(by[(first, "majority", 4)]["steps"]) == 2 * len(greedy_steps) + 2 * 2  # 4 samples' steps
    assert "steps" not in by[(first, "majority", 2)] and "steps" not in by[(first, "step-vote", 4)]
    metrics = aggregate(lines)
    sources = {row["method"]: row for row in metrics["steps"]}
    assert set(sources) == {"greedy", "majority"} and sources["majority"]["wrong"] > 0
    report = markdown_report(metrics, {"benchmark": "shapes", "n_items": 3, "model": "m", "expert": "e",
                                       "settings": settings.to_json()})  # fmt: skip
    assert "Step confidence" in report and "| combined | stated |" in report
    section = report.split("Step confidence")[1].split("\n\n")[1].splitlines()  # the step table's lines
    assert len(section) == 4 and len({line.count("|") for line in section}) == 1  # rows have the header's columns
