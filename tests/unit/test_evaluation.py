"""The evaluation harness with scripted models: methods on shared samples, DeepConf, resume, metrics."""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Self

import pytest

from catts_graph.benchmarks import load_benchmark
from catts_graph.evaluation.harness import EvalSettings, degraded_warnings, run_evaluation
from catts_graph.evaluation.methods import deepconf_online, expand_methods, vote_prediction
from catts_graph.evaluation.report import aggregate, markdown_report, table
from catts_graph.evaluation.results import ResultsFile, check_resume
from catts_graph.graph.config import CATTSConfig, ConfidenceConfig
from nodes.elicit import STOP
from nodes.errors import InvalidInputError
from nodes.state import SampleRecord
from nodes.testing import ScriptedExpert, ScriptedModel


def rec(answer: str | None, conf: float = 5.0, lowest: float = 5.0, tokens: int = 10) -> SampleRecord:
    return {
        "text": "", "answer": answer, "confidence": conf, "probability": 0.9, "answer_probability": 0.9,
        "tail_confidence": conf,
        "bottom_window_confidence": lowest, "lowest_window_confidence": lowest, "completion_tokens": tokens,
        "finish_reason": "stop",
    }  # fmt: skip


def test_expand_methods() -> None:
    methods = expand_methods(["greedy", "deepconf", "catts[sc+critic]", "greedy"])
    assert methods[0] == "greedy" and "deepconf-online" in methods and "deepconf-top10" in methods
    assert methods.count("greedy") == 1 and "catts[sc+critic]" in methods
    for bad in ("beam", "catts[sc+magic]", "catts[]"):
        with pytest.raises(ValueError, match="unknown method"):
            expand_methods([bad])


def test_deepconf_offline_filtering() -> None:
    samples = [rec("2", lowest=1.0), rec("2", lowest=1.5), rec("3", lowest=9.0)]
    assert vote_prediction(samples, "majority", 5).answer == "2"
    top = vote_prediction(samples, "lowest_window", 5, keep_top_percent=10)  # keeps ceil(0.3) = 1 trace
    assert top.answer == "3" and top.confidence == 1.0
    assert top.completion_tokens == 30  # every trace was generated


def test_deepconf_online_stops_low_confidence_traces_and_on_consensus() -> None:
    warm = [rec("2", lowest=4.0), rec("2", lowest=6.0)]  # threshold: 90th percentile of (4, 6) = 5.8
    later = [rec("3", lowest=1.0, tokens=10), rec("2", tokens=10)]
    confs = [[5.0] * 10] * 2 + [[6.0, 6.0, 1.0, 1.0, 1.0, 6, 6, 6, 6, 6], [7.0] * 10]
    pred = deepconf_online([*warm, *later], confs, 5, window=2, warmup=2, consensus=1.01)
    # trace 3 stops when the window (6, 1) -> 3.5 < 5.8 at tokens 2..3 -> 3 tokens paid, no vote; trace 4 votes
    assert pred.answer == "2" and pred.completion_tokens == 20 + 3 + 10
    consensus = deepconf_online([*warm, *later], confs, 5, window=2, warmup=2, consensus=0.95)
    assert consensus.completion_tokens == 20  # warm-up already unanimous: nothing more is generated


@pytest.fixture
def items() -> list:
    return load_benchmark("shapes", limit=4).items


def model_for(items: list) -> ScriptedModel:
    return ScriptedModel(
        [(f"\\boxed{{{items[0].answer}}}", 6.0), ("\\boxed{9}", 2.0), ("none", 1.0)], greedy="\\boxed{1}"
    )


async def test_every_method_at_every_n_on_shared_samples(items: list, tmp_path: Path) -> None:
    model = model_for(items)
    settings = EvalSettings(
        ("greedy", "majority", "deepconf-mean", "catts-paper", "catts[sc]"), (1, 2, 4), CATTSConfig()
    )
    results = ResultsFile(tmp_path / "results.jsonl")
    done = await run_evaluation(model, ScriptedExpert(voter="9: 1"), items, settings, results)
    assert sorted(done) == sorted(i.id for i in items)
    lines = results.read()
    assert len(lines) == len(items) * (1 + 4 * 3)
    sampling_calls = [c for c in model.calls if c.kind == "sample" and c.params and c.params.temperature > 0]
    assert len(sampling_calls) == len(items) and {c.params.n for c in sampling_calls} == {4}  # one draw of max N
    by = {(line["id"], line["method"], line["n"]): line for line in lines}
    first = items[0].id
    assert by[(first, "catts[sc]", 2)]["prediction"] == by[(first, "majority", 2)]["prediction"]  # same samples
    metrics = aggregate(lines)
    assert set(metrics["methods"]) >= {"greedy@1", "majority@4", "catts-paper@4"}
    assert math.isfinite(metrics["slopes"]["majority"]) and math.isfinite(metrics["token_slopes"]["majority"])
    versus = {(c["method"], c["n_samples"], c["versus"]) for c in metrics["comparisons"]}
    assert {("catts-paper", 4, "majority"), ("catts-paper", 4, "greedy")} <= versus
    assert not any(c["method"] in ("greedy", "majority") for c in metrics["comparisons"])
    report = markdown_report(
        metrics, {"benchmark": "shapes", "n_items": 4, "model": "m", "expert": "e", "settings": settings.to_json()}
    )
    assert "catts-paper" in table(metrics) and "| majority | 4 |" in report
    span = metrics["methods"]["greedy@1"]["answer_probability"]  # greedy's second declared confidence
    assert 0.0 <= span["ece"] <= 1.0 and "P(answer | its rationale)" in report
    assert "answer_probability" not in metrics["methods"]["majority@4"]


async def test_resume_completes_every_item_exactly_once(items: list, tmp_path: Path) -> None:
    settings = EvalSettings(("greedy", "majority"), (2,))
    results = ResultsFile(tmp_path / "results.jsonl")
    await run_evaluation(model_for(items), None, items[:2], settings, results)
    with results.path.open("a") as f:
        f.write('{"id": "half-writ')  # killed in the middle of a write
    model = model_for(items)
    done = await run_evaluation(model, None, items, settings, results)
    assert sorted(done) == sorted(i.id for i in items[2:])  # finished items are not redone
    lines = results.read()
    ids = [line["id"] for line in lines]
    assert sorted(set(ids)) == sorted(i.id for i in items) and len(lines) == 2 * len(items)


def test_resume_guards(tmp_path: Path) -> None:
    info = {"benchmark": "shapes", "settings": {"methods": ["greedy"]}}
    check_resume(tmp_path / "run", info, resume=False)
    with pytest.raises(InvalidInputError, match="--resume"):
        check_resume(tmp_path / "run", info, resume=False)
    with pytest.raises(InvalidInputError, match="other settings"):
        check_resume(tmp_path / "run", {**info, "benchmark": "other"}, resume=True)
    check_resume(tmp_path / "run", info, resume=True)
    assert json.loads((tmp_path / "run" / "run.json").read_text()) == info


def test_bench_replays_requests_that_overlapped_together() -> None:
    from catts_graph.evaluation.bench import Recorded, overlap_groups

    def rec(name: str, start: float, end: float) -> Recorded:
        return Recorded(name, b"", start, end, b"")

    records = [rec("c", 2.0, 3.0), rec("a", 0.0, 1.0), rec("b1", 1.5, 2.5), rec("d", 4.0, 5.0), rec("b0", 1.2, 1.8)]
    assert [[r.url for r in g] for g in overlap_groups(records)] == [["a"], ["b0", "b1", "c"], ["d"]]


async def test_presampled_model_hands_out_consecutive_samples_then_refuses() -> None:
    from catts_graph.evaluation.catts_runs import PresampledModel
    from nodes.protocol import SamplingParams
    from nodes.testing import ScriptedModel, scripted_sample

    drawn = [scripted_sample(f"\\boxed{{{i}}}") for i in range(6)]
    model = PresampledModel(ScriptedModel(), drawn)
    first = await model.sample([], SamplingParams(n=4, temperature=1.0))
    second = await model.sample([], SamplingParams(n=2, temperature=1.0))
    assert [s.text for s in first + second] == [s.text for s in drawn]  # adaptive sampling's two draws: no repeats
    with pytest.raises(InvalidInputError, match="asked for 7 samples in all, 6 were drawn"):
        await model.sample([], SamplingParams(n=1, temperature=1.0))


def test_a_failing_expert_is_recorded_and_warned_about(tmp_path: Path) -> None:
    items = load_benchmark("shapes", limit=2).items
    model = ScriptedModel([("\\boxed{1}", 6.0), ("\\boxed{2}", 2.0)], greedy="\\boxed{1}", score_fn=lambda m, a: -1.0)
    expert = ScriptedExpert(errors=[ConnectionError("refused")] * 50)
    results = ResultsFile(tmp_path / "results.jsonl")
    settings = EvalSettings(("catts-paper",), (2,), CATTSConfig())
    asyncio.run(run_evaluation(model, expert, items, settings, results))
    lines = results.read()
    assert all(any("last ConnectionError: refused" in f for f in line["fallbacks"]) for line in lines)
    [warning] = degraded_warnings(lines)
    assert warning.startswith("warning: catts-paper@2 ran degraded on 2 of 2 items; most often: ")
    assert degraded_warnings([{**line, "fallbacks": []} for line in lines]) == []


def test_a_catts_line_keeps_the_self_checks_scores_and_pick(tmp_path: Path) -> None:
    items = load_benchmark("shapes", limit=1).items
    model = ScriptedModel([("\\boxed{1}", 6.0), ("\\boxed{2}", 2.0)], greedy="\\boxed{1}", score_fn=lambda m, a: -1.0)
    results = ResultsFile(tmp_path / "results.jsonl")
    settings = EvalSettings(("catts-paper", "majority"), (2,), CATTSConfig())
    asyncio.run(run_evaluation(model, ScriptedExpert(), items, settings, results))
    lines = {line["method"]: line for line in results.read()}
    record = lines["catts-paper"]["self_check"]
    assert record["picked"] in {"1", "2"} and "noise" not in record  # the run's settings hold the noise
    assert {c["answer"] for c in record["candidates"]} == {"1", "2"}
    assert all({"logp_clean", "logp_noised", "logp_sequence", "plausible"} <= set(c) for c in record["candidates"])
    assert "self_check" not in lines["majority"]


def test_eval_reads_the_declared_confidence_of_a_model_that_states_one(tmp_path: Path) -> None:
    items = load_benchmark("shapes", limit=2).items
    stated = "\\boxed{1} (answer confidence: 3/10)"
    model = ScriptedModel([(stated, 6.0)], greedy=stated, score_fn=lambda m, a: -1.0)
    results = ResultsFile(tmp_path / "results.jsonl")
    settings = EvalSettings(("greedy", "catts[sc]"), (2,), CATTSConfig())
    asyncio.run(run_evaluation(model, ScriptedExpert(), items, settings, results))
    lines = results.read()
    greedy = [line for line in lines if line["method"] == "greedy"]
    assert all(g["confidence"] == 0.35 and g["confidence_source"] == "stated" for g in greedy)
    assert all(0 < g["probability"] <= 1 for g in greedy)
    assert all(line["confidence_source"] == "stated" for line in lines if line["method"] == "catts[sc]")


def test_eval_under_stated_elicits_a_statement_the_answers_did_not_write(tmp_path: Path) -> None:
    items = load_benchmark("shapes", limit=1).items
    model = ScriptedModel([("\\boxed{1}", 6.0)], greedy="\\boxed{1}", digits=[("2", -0.01)])
    results = ResultsFile(tmp_path / "results.jsonl")
    config = CATTSConfig(confidence=ConfidenceConfig(source="stated"))
    settings = EvalSettings(("greedy", "catts[sc]"), (2,), config)
    asyncio.run(run_evaluation(model, ScriptedExpert(), items, settings, results))
    greedy, graph = sorted(results.read(), key=lambda line: line["method"] != "greedy")
    assert greedy["stated_from"] == "elicited" and greedy["confidence"] == pytest.approx(0.25)
    assert greedy["calls"] == 2  # the greedy answer and its elicitation
    assert graph["statements"] == {"written": 0, "elicited": 2, "none": 0}


def test_eval_under_elicit_all_stops_every_answer_at_the_statement_and_elicits_it(tmp_path: Path) -> None:
    items = load_benchmark("shapes", limit=1).items
    stated = "\\boxed{1} (answer confidence: 9/10)"  # a scripted model writes it anyway: it is not read
    model = ScriptedModel([(stated, 6.0)], greedy=stated, digits=[("2", -0.01)])
    results = ResultsFile(tmp_path / "results.jsonl")
    config = CATTSConfig(confidence=ConfidenceConfig(source="stated", elicit="all"))
    settings = EvalSettings(("greedy", "majority", "catts[sc]"), (2,), config)
    asyncio.run(run_evaluation(model, ScriptedExpert(), items, settings, results))
    answers = [call.params for call in model.calls if call.kind == "sample" and call.params]
    assert [(params.n, params.stop) for params in answers] == [(1, (STOP,)), (2, (STOP,))]  # greedy, the samples
    lines = {line["method"]: line for line in results.read()}
    greedy = lines["greedy"]
    assert greedy["stated_from"] == "elicited" and greedy["confidence"] == pytest.approx(0.25)
    assert greedy["stated_written"] == 0.95 and greedy["calls"] == 2  # the greedy answer and its elicitation
    assert lines["catts[sc]"]["statements"] == {"written": 0, "elicited": 2, "none": 0}
    assert settings.to_json()["config"]["confidence"] == {"source": "stated", "elicit": "all"}


class _ServedModel(ScriptedModel):
    """A scripted model standing in for a `VLLMClient` behind `catts_graph.cli.endpoints.model_endpoints`."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None


def served_by(model: ScriptedModel) -> Callable[..., Any]:
    @contextlib.contextmanager
    def endpoints(args: object, *, want_expert: bool, timeout: float) -> Iterator[SimpleNamespace]:
        yield SimpleNamespace(
            client=lambda timeout_s: model, expert=None, expert_name="base model", model=model.name,
            base_url="http://stub", relevance=None, expert_model=None,
        )  # fmt: skip

    return endpoints


def test_eval_without_matplotlib_writes_everything_else_and_says_how_to_get_the_plots(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from catts_graph.cli import evaluate, main

    monkeypatch.setattr(evaluate, "model_endpoints", served_by(_ServedModel(greedy="\\boxed{1}")))
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as without the `train` extra: importing it fails
    out = tmp_path / "run"
    code = main(
        ["eval", "--limit", "2", "--methods", "greedy", "--n", "1", "--base-url", "http://stub", "--out", str(out)]
    )
    err = capsys.readouterr().err
    assert code == 0, err
    assert all((out / name).is_file() for name in ("results.jsonl", "metrics.json", "report.md"))
    assert not list(out.glob("*.png"))
    assert "Traceback" not in err and "plots skipped" in err and "--extra train" in err
