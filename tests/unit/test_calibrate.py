"""`catts calibrate`: re-weighting recorded votes, the grid search, and the `--weights` / `--voter-form` options."""

from __future__ import annotations

import argparse
import asyncio
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from in_process import catts

from catts_graph.benchmarks import load_benchmark
from catts_graph.cli.options import apply_graph_options
from catts_graph.evaluation.calibrate import PAPER, Weights, answer, calibrate
from catts_graph.evaluation.harness import EvalSettings, run_evaluation
from catts_graph.evaluation.results import ResultsFile
from catts_graph.evaluation.step_calibration import fit_steps
from catts_graph.graph.config import CATTSConfig
from nodes.errors import InvalidInputError
from nodes.testing import ScriptedExpert, ScriptedModel


def line(correct: str, **modules: dict[str, float]) -> dict[str, Any]:
    contributions = [{"module": m, "votes": v} for m, v in modules.items()]
    return {"method": "catts-paper", "n": 8, "contributions": contributions, "correct_candidates": [correct]}


@pytest.mark.parametrize(
    ("weights", "expected"),
    [
        (PAPER, "2"),  # as recorded: {2: 0.6 + 0.5, 3: 0.4 + 0.5}
        (Weights(1.0, 0.5, 0.5), "3"),  # {2: 1.1, 3: 1.4}
        (Weights(0.5, 0.5, 0.0), "3"),  # the self-check removed: {2: 0.6, 3: 0.9}
        (Weights(0.0, 0.5, 0.5), "2"),  # the voter removed: {2: 1.1, 3: 0.4}
    ],
)
def test_reweighting_rescales_each_module_from_its_recorded_weight(weights: Weights, expected: str) -> None:
    recorded = line("3", self_consistency={"2": 0.6, "3": 0.4}, voter={"3": 0.5}, self_check={"2": 0.5})
    assert answer(recorded["contributions"], PAPER, weights) == expected


def test_grid_search_finds_the_weights_that_fix_the_dev_items_and_prefers_the_papers_among_ties() -> None:
    voter_right = line("3", self_consistency={"2": 0.6, "3": 0.4}, voter={"3": 0.5}, critic={"2": 0.5})
    sc_right = line("2", self_consistency={"2": 0.9, "3": 0.1}, voter={"3": 0.5}, critic={"2": 0.5})
    result = calibrate([voter_right, sc_right], PAPER, grid=(0.0, 0.5, 1.0, 2.0))
    assert result.paper.accuracy == result.recorded.accuracy == 0.5
    assert result.best.accuracy == 1.0
    w = result.best.weights
    assert 0.2 < w.tau1 - w.tau2 < 0.8  # the voter outweighs the critic, but not a confident vote
    assert [s.accuracy for s in result.ranking] == sorted((s.accuracy for s in result.ranking), reverse=True)
    assert result.best is result.ranking[0]
    assert w == Weights(0.5, 0.0, 0.5)  # of the right ones, one of the two 0.5 from the paper's (grid order)


def test_calibration_refuses_runs_it_cannot_rescale() -> None:
    with pytest.raises(InvalidInputError, match="no recorded votes"):
        calibrate([{"method": "catts-paper", "n": 8}], PAPER)
    with pytest.raises(InvalidInputError, match="voter votes with weight 0"):
        calibrate([line("2", self_consistency={"2": 1.0}, voter={"2": 0.0})], Weights(0.0, 0.5, 0.5))


@pytest.fixture
def recorded_run(tmp_path: Path) -> Path:
    """A real `catts eval` run folder (scripted model and expert), as `catts calibrate` reads it."""
    items = load_benchmark("shapes", limit=4).items
    model = ScriptedModel(
        [(f"\\boxed{{{items[0].answer}}}", 6.0), ("\\boxed{9}", 2.0), ("\\boxed{1}", 1.0)],
        greedy="\\boxed{1}",
        score_fn=lambda messages, a: -1.0,
    )
    settings = EvalSettings(("catts-paper",), (4,), CATTSConfig())
    out = tmp_path / "run"
    out.mkdir()

    results = ResultsFile(out / "results.jsonl")
    asyncio.run(run_evaluation(model, ScriptedExpert(voter="9: 1"), items, settings, results))
    (out / "run.json").write_text(json.dumps({"benchmark": "shapes", "settings": settings.to_json()}))
    return out


def test_recorded_weights_reproduce_every_recorded_answer(recorded_run: Path) -> None:
    lines = ResultsFile(recorded_run / "results.jsonl").read()
    assert all(line["contributions"][0]["module"] == "self_consistency" for line in lines)
    for line in lines:
        assert answer(line["contributions"], PAPER, PAPER) == line["prediction"]
        assert (line["prediction"] in line["correct_candidates"]) == line["correct"]
    result = calibrate(lines, PAPER)
    assert result.recorded.accuracy == sum(line["correct"] for line in lines) / len(lines)


def test_cli_writes_weights_that_the_other_commands_read(recorded_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "weights.json"
    result = catts("calibrate", str(recorded_run), "--n", "4", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert "(the paper's)" in result.stdout and "<- best" in result.stdout
    weights = json.loads(out.read_text())
    args = argparse.Namespace(voter_form="answer", weights=out)
    config = apply_graph_options(CATTSConfig(), args, bundled=False)
    assert config.vote.voter_form == "answer"
    assert (config.vote.tau1, config.critic.tau2, config.self_check.tau3) == (
        weights["tau1"],
        weights["tau2"],
        weights["tau3"],
    )
    plain = argparse.Namespace(voter_form=None, weights=None)
    assert apply_graph_options(CATTSConfig(), plain, bundled=False) == CATTSConfig()  # the paper's text Voter
    bundled = apply_graph_options(CATTSConfig(), plain, bundled=True)
    assert bundled.vote.voter_form == "answer"
    assert bundled.steps.splitter == "clauses" and bundled.steps.bias is not None  # the base model's fitted one


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "no such file"), ("{}", "not a weights file"), ('{"tau1": -1, "tau2": 0, "tau3": 0}', "must be >= 0")],
)
def test_bad_weights_files_are_refused_with_what_to_do(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "w.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(InvalidInputError, match=message):
        apply_graph_options(CATTSConfig(), argparse.Namespace(voter_form=None, weights=path), bundled=False)


def test_cli_errors_exit_2_without_traceback(tmp_path: Path) -> None:
    result = catts("calibrate", str(tmp_path))
    assert result.returncode == 2 and "not a `catts eval` output folder" in result.stderr
    assert "Traceback" not in result.stderr


def test_step_fit_weighs_the_signal_that_separates_right_from_wrong_steps() -> None:
    rng = np.random.default_rng(0)
    correct = rng.random(400) < 0.6  # (S,)
    likelihood = np.where(correct, rng.uniform(0.5, 1.0, 400), rng.uniform(0.0, 0.6, 400))  # informative
    certainty = rng.uniform(0, 1, 400)  # noise
    rows = [
        [False, lk, ct, math.nan, math.nan, 0.5, math.nan, bool(y)]
        for lk, ct, y in zip(likelihood, certainty, correct, strict=True)
    ]
    fit = fit_steps(rows)
    assert fit.weights["likelihood"] > 3 * abs(fit.weights["certainty"]) and fit.weights["visual"] == 0.0
    assert fit.weights["chain"] == 0.0  # a signal the run did not measure is left out
    assert fit.after["auroc"] > 0.9 and fit.before["auroc"] == 0.5  # the recorded constant ranks nothing
    with pytest.raises(InvalidInputError, match="right and wrong ones"):
        fit_steps([row for row in rows if row[-1]])


def test_cli_fits_step_weights_that_the_other_commands_read(tmp_path: Path) -> None:
    items = load_benchmark("shapes", limit=6).items
    right = f"{', '.join(items[0].steps or ())}. \\boxed{{{items[0].answer}}}"
    model = ScriptedModel([(right, 6.0), ("purple hexagon, red circle. \\boxed{9}", 2.0)], greedy=right)
    settings = EvalSettings(
        ("greedy", "majority"), (4,), CATTSConfig.model_validate({"steps": {"splitter": "clauses"}})
    )
    run = tmp_path / "run"
    run.mkdir()
    asyncio.run(run_evaluation(model, ScriptedExpert(), items, settings, ResultsFile(run / "results.jsonl")))
    (run / "run.json").write_text(json.dumps({"benchmark": "shapes", "settings": settings.to_json()}))
    out = tmp_path / "steps.json"
    result = catts("calibrate", str(run), "--steps", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert "judged steps" in result.stdout and "fitted (same steps)" in result.stdout
    args = argparse.Namespace(voter_form=None, weights=None, step_weights=out, step_splitter=None)
    steps = apply_graph_options(CATTSConfig(), args, bundled=False).steps
    written = json.loads(out.read_text())
    assert steps.splitter == "clauses" and steps.bias == written["bias"] and steps.weights == written["weights"]
    bad = tmp_path / "bad.json"
    bad.write_text('{"weights": {}}')
    with pytest.raises(InvalidInputError, match="not a step-weights file"):
        apply_graph_options(CATTSConfig(), argparse.Namespace(voter_form=None, weights=None, step_weights=bad),
                            bundled=False)  # fmt: skip
