"""The expert-alone baselines and compute (parameters x tokens per model) in `catts eval`, with scripted models."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from catts_graph.benchmarks import load_benchmark
from catts_graph.evaluation.expert_baselines import ExpertRequiredError
from catts_graph.evaluation.harness import EvalSettings, run_evaluation
from catts_graph.evaluation.metrics import paired_bootstrap_ci
from catts_graph.evaluation.report import aggregate, markdown_report, table
from catts_graph.evaluation.results import ResultsFile, check_resume
from catts_graph.graph.config import CATTSConfig
from nodes.errors import InvalidInputError
from nodes.testing import ScriptedExpert, ScriptedModel

PARAMETERS = {"base": {"count": 1_000, "source": "base-folder"}, "expert": {"count": 7_000, "source": "expert-folder"}}
METHODS = ("greedy", "majority", "expert", "expert-majority", "catts-paper")


@pytest.fixture
def items() -> list:
    return load_benchmark("shapes", limit=4).items


def base_model() -> ScriptedModel:
    return ScriptedModel([("\\boxed{2}", 6.0), ("\\boxed{3}", 2.0)], greedy="\\boxed{1}", score_fn=lambda m, a: -1.0)


def expert_model() -> ScriptedModel:
    """The expert's server: its own greedy answer (7) and samples (5, 5, 6, ...), never the base model's."""
    return ScriptedModel(["\\boxed{5}", "\\boxed{5} for sure", "\\boxed{6}"], greedy="\\boxed{7}", name="expert")


def evaluate(items: list, tmp_path: Path, expert: object, model: ScriptedModel, expert_alone: ScriptedModel | None,
             methods: tuple[str, ...] = METHODS) -> list[dict]:  # fmt: skip
    results = ResultsFile(tmp_path / "results.jsonl")
    settings = EvalSettings(methods, (1, 3), CATTSConfig())
    asyncio.run(run_evaluation(model, expert, items, settings, results, expert_model=expert_alone))
    return results.read()


def test_the_expert_methods_answer_with_the_experts_own_answers(items: list, tmp_path: Path) -> None:
    model, alone = base_model(), expert_model()
    lines = evaluate(items, tmp_path, ScriptedExpert(answer="\\boxed{9}"), model, alone)
    by = {(line["id"], line["method"], line["n"]): line for line in lines}
    for item in items:
        assert by[(item.id, "greedy", 1)]["prediction"] == "1"
        assert by[(item.id, "expert", 1)]["prediction"] == "7"  # the expert's greedy answer, not the base model's
        assert by[(item.id, "expert-majority", 1)]["prediction"] == "5"  # its first sample
        assert by[(item.id, "expert-majority", 3)]["prediction"] == "5"  # 5, 5, 6: a plain majority
        assert (item.id, "expert", 3) not in by  # one greedy answer, reported at N = 1 as greedy is
    base_greedy = [c for c in model.calls if c.kind == "sample" and c.params and c.params.temperature == 0]
    asked = [c for c in alone.calls if c.params and c.params.temperature == 0]
    assert len(asked) == len(items)  # the expert is asked what greedy asks the base model, and nothing else
    assert [(c.messages, c.params) for c in asked] == [(c.messages, c.params) for c in base_greedy[: len(items)]]
    drawn = [c for c in alone.calls if c.params and c.params.temperature > 0]
    assert len(drawn) == len(items) and {c.params.n for c in drawn} == {3}  # one draw of max N, as for the base
    assert {c.params.temperature for c in drawn} == {CATTSConfig().sampling.temperature}


def test_every_line_records_each_models_tokens_and_compute_is_parameters_times_tokens(
    items: list, tmp_path: Path
) -> None:
    expert = ScriptedExpert(voter="2: 0.7\n3: 0.3")
    lines = evaluate(items, tmp_path, expert, base_model(), expert_model())
    for line in lines:
        if line["method"].startswith("expert"):
            assert line["base_tokens"] == 0 and line["expert_tokens"] == line["tokens"] > 0
        elif line["method"] == "catts-paper":  # both models, counted where the graph called them
            assert line["expert_tokens"] > 0 and line["base_tokens"] + line["expert_tokens"] == line["tokens"]
        else:
            assert line["base_tokens"] == line["tokens"] > 0 and line["expert_tokens"] == 0
    replies = sum(20 + len(str(getattr(expert, expert.role_of(m))).split()) for m in expert.calls)
    assert sum(line["expert_tokens"] for line in lines if line["method"] == "catts-paper") == replies
    metrics = aggregate(lines, PARAMETERS)
    assert metrics["cost"]["field"] == "compute" and metrics["cost"]["note"] is None
    for row in metrics["methods"].values():
        rows = [line for line in lines if line["method"] == row["method"] and line["n"] == row["n_samples"]]
        exact = sum(1_000 * r["base_tokens"] + 7_000 * r["expert_tokens"] for r in rows) / len(rows)
        assert row["compute"] == pytest.approx(exact, rel=1e-12)
    greedy, alone = metrics["methods"]["greedy@1"], metrics["methods"]["expert@1"]
    assert greedy["compute"] == 1_000 * greedy["tokens"] and alone["compute"] == 7_000 * alone["tokens"]


def test_the_base_model_as_its_own_expert_counts_as_the_base_model(items: list, tmp_path: Path) -> None:
    lines = evaluate(items, tmp_path, None, base_model(), None, methods=("majority", "catts-paper"))
    catts = [line for line in lines if line["method"] == "catts-paper"]
    assert all(line["expert_calls"] > 0 and line["expert_tokens"] == 0 for line in catts)
    assert all(line["base_tokens"] == line["tokens"] for line in catts)
    parameters = {"base": PARAMETERS["base"], "expert": None}  # no expert model: none is needed
    assert aggregate(lines, parameters)["cost"]["field"] == "compute"


def test_reports_show_the_expert_beside_ca_tts_with_paired_intervals_and_compute(items: list, tmp_path: Path) -> None:
    lines = evaluate(items, tmp_path, ScriptedExpert(answer="\\boxed{9}"), base_model(), expert_model())
    metrics = aggregate(lines, PARAMETERS)
    info = {"benchmark": "shapes", "n_items": 4, "model": "m", "expert": "e", "parameters": PARAMETERS,
            "settings": EvalSettings(METHODS, (1, 3)).to_json()}  # fmt: skip
    report = markdown_report(metrics, info)
    assert "| expert | 1 |" in report and "| expert-majority | 3 |" in report and "| catts-paper | 3 |" in report
    assert "compute/item" in report and "base model 1,000 (base-folder); expert 7,000 (expert-folder)" in report
    terminal = table(metrics)
    assert "compute" in terminal.splitlines()[0] and "expert-majority" in terminal
    assert f"{metrics['methods']['expert@1']['compute']:.2e}" in terminal
    versus = {(c["method"], c["n_samples"], c["versus"]): c for c in metrics["comparisons"]}
    assert {("catts-paper", 1, "expert"), ("catts-paper", 3, "expert")} <= set(versus)
    assert not any(c["versus"] == "expert" and not c["method"].startswith("catts") for c in metrics["comparisons"])
    ids = sorted(item.id for item in items)
    by = {(line["id"], line["method"], line["n"]): line for line in lines}
    catts = [float(by[(i, "catts-paper", 3)]["correct"]) for i in ids]
    alone = [float(by[(i, "expert", 1)]["correct"]) for i in ids]
    comparison = versus[("catts-paper", 3, "expert")]
    diff, low, high = paired_bootstrap_ci(catts, alone)
    assert comparison["diff"] == diff and comparison["ci95"] == [low, high]
    spent = [sum(1_000 * by[(i, m, n)]["base_tokens"] + 7_000 * by[(i, m, n)]["expert_tokens"] for i in ids)
             for m, n in (("catts-paper", 3), ("expert", 1))]  # fmt: skip
    assert comparison["cost_ratio"] == pytest.approx(spent[0] / spent[1], rel=1e-12)
    assert f"- catts-paper@3 vs expert: {100 * diff:+.1f} points" in report
    assert f"at {spent[0] / spent[1]:.2f}x its compute" in report


def test_without_parameter_counts_cost_falls_back_to_tokens_and_the_report_says_why(
    items: list, tmp_path: Path
) -> None:
    lines = evaluate(items, tmp_path, ScriptedExpert(), base_model(), expert_model())
    info = {"benchmark": "shapes", "n_items": 4, "settings": EvalSettings(METHODS, (1, 3)).to_json()}
    cases = [
        (None, "records no parameter counts"),
        ({"base": {"count": None, "source": "a remote server"}, "expert": None}, "a remote server"),
        ({"base": PARAMETERS["base"], "expert": {"count": None, "source": "no folder"}}, "expert's parameters"),
    ]
    for parameters, reason in cases:
        metrics = aggregate(lines, parameters)
        assert metrics["cost"]["field"] == "tokens" and reason in metrics["cost"]["note"]
        report = markdown_report(metrics, {**info, "parameters": parameters})
        assert "Cost: tokens (prompt + completion), not compute" in report and reason in report
        assert "x its tokens" in report and "x its compute" not in report
        comparison = next(c for c in metrics["comparisons"] if c["versus"] == "expert")
        assert comparison["cost_ratio"] > 0
    old = [{k: v for k, v in line.items() if k not in ("base_tokens", "expert_tokens")} for line in lines[:3]]
    assert "without per-model tokens" in aggregate([*old, *lines[3:]], PARAMETERS)["cost"]["note"]


def test_an_expert_method_without_an_expert_model_is_a_typed_error_before_any_call(
    items: list, tmp_path: Path
) -> None:
    model = base_model()
    for methods in (("expert",), ("greedy", "expert-majority")):
        with pytest.raises(ExpertRequiredError, match="no expert model is configured") as raised:
            evaluate(items, tmp_path, ScriptedExpert(), model, None, methods=methods)
        assert isinstance(raised.value, InvalidInputError)
    assert model.calls == [] and not (tmp_path / "results.jsonl").exists()


def test_the_cli_refuses_an_expert_method_without_an_expert_in_one_line_before_serving(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from catts_graph.cli import evaluate as command
    from catts_graph.cli import main

    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("no server may be reached")

    monkeypatch.setattr(command, "model_endpoints", never)
    out = tmp_path / "run"
    code = main(["eval", "--methods", "greedy,expert", "--base-url", "http://stub", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert "expert ask the expert alone" in err and "--expert-base-url" in err and not out.exists()


def test_a_run_recorded_before_parameter_counts_still_resumes(tmp_path: Path) -> None:
    old = {"benchmark": "shapes", "settings": {"methods": ["greedy"]}}
    check_resume(tmp_path, old, resume=False)
    check_resume(tmp_path, {**old, "parameters": PARAMETERS}, resume=True)  # the old record had none: it resumes
    assert json.loads((tmp_path / "run.json").read_text())["parameters"] == PARAMETERS  # and records them now
    moved = {**PARAMETERS, "base": {"count": 1_000, "source": "the same model, moved"}}
    check_resume(tmp_path, {**old, "parameters": moved}, resume=True)  # counts, not folders, tell runs apart
    other = {"base": {"count": 2_000, "source": "another model"}, "expert": None}
    with pytest.raises(InvalidInputError, match="other settings"):  # once recorded, other counts are another run
        check_resume(tmp_path, {**old, "parameters": other}, resume=True)


def test_the_demo_summary_gives_each_methods_compute_from_each_models_tokens() -> None:
    from catts_graph.cli.demo import compute_line, compute_per_item

    rows = [
        {"greedy_tokens": 40, "majority_tokens": 300, "catts_base_tokens": 500, "catts_expert_tokens": 90,
         "expert_greedy_tokens": 45},
        {"greedy_tokens": 60, "majority_tokens": 340, "catts_base_tokens": 700, "catts_expert_tokens": 110,
         "expert_greedy_tokens": 55},
    ]  # fmt: skip
    compute = compute_per_item(rows, PARAMETERS)
    assert compute == {"greedy": 1_000 * 50, "majority": 1_000 * 320, "catts": 1_000 * 600 + 7_000 * 100,
                       "expert_greedy": 7_000 * 50}  # fmt: skip
    line = compute_line(compute, PARAMETERS)
    assert "base model 1,000, expert 7,000 parameters" in line and "expert 3.50e+05" in line
    unknown = {"base": PARAMETERS["base"], "expert": {"count": None, "source": "no folder here"}}
    assert "unknown" in compute_line(compute_per_item(rows, unknown), unknown) and "expert: no folder here" in (
        compute_line(compute_per_item(rows, unknown), unknown)
    )


@pytest.mark.parametrize(
    ("servers", "methods"),
    [
        ([], ("greedy", "majority", "expert", "catts-paper")),  # the bundled models: the bundled expert is served
        (["--base-url", "http://x"], ("greedy", "majority", "catts-paper")),  # the base model is its own expert
        (["--base-url", "http://x", "--expert-base-url", "http://y", "--expert-model", "big"],
         ("greedy", "majority", "expert", "catts-paper")),
    ],
)  # fmt: skip
def test_the_default_methods_put_the_expert_beside_ca_tts_whenever_there_is_one(
    servers: list[str], methods: tuple[str, ...]
) -> None:
    from catts_graph.cli import build_parser, parse
    from catts_graph.cli.evaluate import job_from

    assert job_from(parse(build_parser(), ["eval", *servers, "--out", "o"])).settings.methods == methods
