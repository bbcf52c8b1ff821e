"""Sequential sampling: the stopping rule's maths, its replay on recorded draws, the fit and `catts calibrate --stop`,
and the eval method that runs the graph's sequential policy on shared samples."""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path
from typing import cast

import pytest
from in_process import catts

from catts_graph.benchmarks import load_benchmark
from catts_graph.cli.options import routing_from
from catts_graph.evaluation.harness import EvalSettings, run_evaluation
from catts_graph.evaluation.report import aggregate
from catts_graph.evaluation.results import ResultsFile
from catts_graph.evaluation.stop_calibration import fit_stop, replay
from catts_graph.graph.config import CATTSConfig
from nodes.config import RoutingConfig, StopRule
from nodes.errors import InvalidInputError
from nodes.sample import enough_drawn
from nodes.state import SampleRecord
from nodes.stopping import draw_rounds, leader_posterior, settled, vote_counts
from nodes.testing import ScriptedExpert, ScriptedModel


@pytest.mark.parametrize(
    ("n", "first", "rounds"),
    [(16, 2, [2, 2, 4, 8]), (8, 2, [2, 2, 4]), (5, 2, [2, 2, 1]), (1, 2, [1]), (12, 3, [3, 3, 6]), (4, 8, [4])],
)
def test_rounds_double_what_was_drawn_and_sum_to_the_budget(n: int, first: int, rounds: list[int]) -> None:
    assert draw_rounds(n, first=first) == rounds and sum(rounds) == n


@pytest.mark.parametrize(
    ("shares", "parsed", "prior", "expected"),
    [
        ({"2": 1.0}, 2, 1.0, 0.875),  # Beta(3, 1): 1 - 0.5^3
        ({"2": 1.0}, 4, 1.0, 0.96875),  # Beta(5, 1)
        ({"2": 0.5, "3": 0.5}, 4, 1.0, 0.5),  # a tie settles nothing
        ({"2": 1.0}, 4, 4.0, 1 - 232 / 2048),  # Beta(8, 4): a larger prior asks for more samples
        ({}, 0, 1.0, 0.0),
    ],
)
def test_the_posterior_is_the_beta_probability_that_the_leader_leads(
    shares: dict[str, float], parsed: int, prior: float, expected: float
) -> None:
    counts = vote_counts(shares, parsed=parsed)
    assert leader_posterior(counts, prior=prior) == pytest.approx(expected, abs=1e-6)


def test_confidence_weights_and_the_expert_move_the_posterior() -> None:
    confident = leader_posterior(vote_counts({"2": 0.9, "3": 0.1}, parsed=4), prior=1.0)
    even = leader_posterior(vote_counts({"2": 0.5, "3": 0.5}, parsed=4), prior=1.0)
    assert confident > 0.9 and even == 0.5
    assert settled({"2": 4.0}, prior=1.0, threshold=0.95) == (True, "P(leader stays) 0.969 >= 0.95")
    agrees = vote_counts({"2": 1.0}, parsed=1, expert="2", expert_weight=1.0)
    differs = vote_counts({"2": 1.0}, parsed=1, expert="7", expert_weight=1.0)
    assert agrees == {"2": 2.0} and differs == {"2": 1.0, "7": 1.0}
    assert leader_posterior(agrees, prior=1.0) == 0.875 and leader_posterior(differs, prior=1.0) == 0.5
    assert vote_counts({}, parsed=0, expert="7", expert_weight=1.0) == {"7": 1.0}  # the expert alone can lead


def test_replay_stops_where_the_graph_would() -> None:
    agree = [["2", 1.0]] * 8
    split = [["2", 1.0], ["3", 1.0]] * 4
    assert replay(agree, StopRule(threshold=0.95)) == ("2", 4)
    assert replay(agree, StopRule(threshold=0.8)) == ("2", 2)
    assert replay(split, StopRule(threshold=0.95)) == ("2", 8)  # never settled: the whole budget
    assert replay([[None, 0.0]] * 4 + [["5", 1.0]] * 4, StopRule(threshold=0.5)) == ("5", 8)
    with_expert = StopRule(first=1, threshold=0.85, expert_weight=1.0)
    assert replay(agree, with_expert, "2") == ("2", 1)  # one sample and the expert agree: settled
    assert replay(agree, with_expert, "7") == ("2", 4)  # they differ: draw on until the samples outweigh it


def test_the_rule_can_also_wait_for_the_leaders_weakest_step() -> None:
    rule = StopRule(first=1, threshold=0.85, expert_weight=1.0)
    sure = [cast(SampleRecord, {"answer": "2", "weakest_step": 0.8})]
    unsure = [cast(SampleRecord, {"answer": "2", "weakest_step": 0.3})]
    plain = RoutingConfig(policy="sequential", stop=rule)
    stepwise = RoutingConfig(policy="sequential", stop=rule.model_copy(update={"min_weakest_step": 0.5}))
    assert enough_drawn(plain, unsure, "majority", expert="2")[0]
    assert enough_drawn(stepwise, sure, "majority", expert="2") == (
        True,
        "P(leader stays) 0.875 >= 0.85, weakest step 0.800 >= 0.5",
    )
    assert not enough_drawn(stepwise, unsure, "majority", expert="2")[0]
    heavy = RoutingConfig(policy="sequential", stop=StopRule(first=1, expert_weight=5.0, min_weakest_step=0.5))
    assert enough_drawn(heavy, sure, "majority", expert="7")[1].endswith("weakest step nan < 0.5")  # no sample gave it


def test_the_fit_keeps_the_cheapest_rule_that_agrees_with_the_full_budget() -> None:
    early_wrong = {"draws": [["3", 1.0]] * 2 + [["2", 1.0]] * 6}  # two early votes for an answer that loses
    easy = {"draws": [["2", 1.0]] * 8}
    fit = fit_stop([early_wrong, easy, easy, easy], agreement=1.0)
    stopped = [replay(line["draws"], fit.best.rule) for line in (early_wrong, easy)]
    assert stopped[0][0] == "2" and fit.best.agreement == 1.0  # the fitted rule waits past the early pair
    assert fit.best.drawn < 1.0 and fit.budget == 8 and fit.n_items == 4
    loose = fit_stop([early_wrong, easy, easy, easy], agreement=0.75)
    assert loose.best.drawn <= fit.best.drawn and loose.best.agreement >= 0.75
    with pytest.raises(InvalidInputError, match="no recorded draws"):
        fit_stop([{"method": "catts-paper"}], agreement=0.9)
    with pytest.raises(InvalidInputError, match="no setting reaches"):
        fit_stop([{"draws": [["3", 1.0]] * 4 + [["2", 1.0]] * 12}], agreement=1.0, thresholds=(0.5,))
    with_expert = fit_stop([{**easy, "expert": "2"}] * 3 + [{**early_wrong, "expert": "2"}], agreement=1.0)
    assert with_expert.best.rule.expert_weight > 0 and with_expert.best.drawn < fit.best.drawn  # it helps here


def test_eval_runs_the_sequential_policy_on_the_shared_samples_and_calibrate_fits_its_rule(tmp_path: Path) -> None:
    items = load_benchmark("shapes", limit=4).items
    model = ScriptedModel([("\\boxed{2}", 6.0)] * 3 + [("\\boxed{3}", 2.0)], greedy="\\boxed{2}")
    settings = EvalSettings(("majority", "catts-paper", "catts-sequential"), (8,), CATTSConfig())
    run = tmp_path / "run"
    run.mkdir()
    asyncio.run(run_evaluation(model, ScriptedExpert(), items, settings, ResultsFile(run / "results.jsonl")))
    (run / "run.json").write_text(json.dumps({"benchmark": "shapes", "settings": settings.to_json()}))
    lines = {(line["id"], line["method"]): line for line in ResultsFile(run / "results.jsonl").read()}
    for item in items:
        sequential, paper = lines[(item.id, "catts-sequential")], lines[(item.id, "catts-paper")]
        assert len(sequential["draws"]) == 8 and sequential["drawn"] in (2, 4, 8)
        assert sequential["completion_tokens"] < paper["completion_tokens"]  # it paid for what it drew
    versus = {(c["method"], c["versus"]): c for c in aggregate(list(lines.values()))["comparisons"]}
    assert 0 < versus[("catts-sequential", "catts-paper")]["completion_token_ratio"] < 1
    assert ("catts-paper", "catts-paper") not in versus and ("catts-sequential", "majority") in versus
    out = tmp_path / "stop.json"
    result = catts("calibrate", str(run), "--stop", "--agreement", "0.5", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert "<- cheapest reaching the agreement" in result.stdout
    args = argparse.Namespace(min_share=0.75, min_confidence=None, min_weakest_step=None, stop_rule=out)
    assert routing_from(args, "sequential").stop == StopRule.model_validate(json.loads(out.read_text()))


@pytest.mark.parametrize(
    ("content", "message"), [(None, "no such file"), ('{"threshold": 2}', "not a stopping-rule file")]
)
def test_bad_stop_rule_files_are_refused_with_what_to_do(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "stop.json"
    if content is not None:
        path.write_text(content)
    args = argparse.Namespace(min_share=0.75, min_confidence=None, min_weakest_step=None, stop_rule=path)
    with pytest.raises(InvalidInputError, match=message):
        routing_from(args, "sequential")
    result = catts("calibrate", str(tmp_path), "--stop")
    assert result.returncode == 2 and "Traceback" not in result.stderr
