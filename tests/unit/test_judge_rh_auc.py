"""The LLM judge (pinned, recorded, parsed as data) and RH-AUC (hand-computed values, the budget sweep)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

from catts_graph.benchmarks import BenchmarkItem, load_benchmark
from catts_graph.evaluation.harness import EvalSettings, run_evaluation
from catts_graph.evaluation.judge import JUDGE_PROMPT_VERSION, AnswerJudge, judge_prompt, parse_verdict
from catts_graph.evaluation.results import ResultsFile
from catts_graph.evaluation.rh_auc import category, rh_auc, run_rh_sweep, summarize_rh
from nodes.testing import ScriptedModel


@pytest.mark.parametrize(
    ("reply", "verdict"),
    [("yes", True), ("No.", False), ("  YES, they match", True), ("maybe", None), ("", None), ("no" + "x" * 9, None)],
)
def test_parse_verdict(reply: str, verdict: bool | None) -> None:
    assert parse_verdict(reply) is verdict


def fake_judge(*replies: str) -> AnswerJudge:
    return AnswerJudge(GenericFakeChatModel(messages=iter([AIMessage(r) for r in replies])), name="fake-judge")


async def test_the_judge_records_model_prompt_and_verdict() -> None:
    record = await fake_judge("yes").verdict("How many?", gold="2", prediction="two")
    assert record == {"model": "fake-judge", "prompt": JUDGE_PROMPT_VERSION, "verdict": True}
    assert "Reference answer: 2" in judge_prompt("q", "2", "two") and "Candidate answer: two" in judge_prompt(
        "q", "2", "two"
    )
    garbled = await fake_judge("I cannot tell").verdict("q", gold="2", prediction="3")
    assert garbled["verdict"] is None and "unparseable" in garbled["error"]


async def test_a_failing_judge_is_recorded_and_the_rule_stands() -> None:
    judge = AnswerJudge(GenericFakeChatModel(messages=iter([])), name="empty")  # raises on the first call
    record = await judge.verdict("q", gold="2", prediction="3")
    assert record["verdict"] is None and "error" in record


async def test_the_judge_rescues_only_what_the_rule_rejected_and_every_line_says_so(tmp_path: Path) -> None:
    items = load_benchmark("shapes", limit=1).items
    gold = items[0].answer
    model = ScriptedModel([(f"\\boxed{{{gold}}}", 6.0)], greedy="\\boxed{99}")  # the rule rejects 99
    settings = EvalSettings(("greedy", "majority"), (2,), judge=fake_judge("yes"))
    results = ResultsFile(tmp_path / "results.jsonl")
    await run_evaluation(model, None, items, settings, results)
    by = {line["method"]: line for line in results.read()}
    assert by["greedy"]["correct_rule"] is False and by["greedy"]["correct"] is True
    assert by["greedy"]["judge"] == {"model": "fake-judge", "prompt": JUDGE_PROMPT_VERSION, "verdict": True}
    assert by["majority"]["correct_rule"] is True and by["majority"]["judge"] is None  # the judge was not asked
    assert settings.to_json()["judge"] == {"model": "fake-judge", "prompt": JUDGE_PROMPT_VERSION}


def test_rh_auc_hand_computed() -> None:
    assert rh_auc([0.2, 0.5, 0.8], [0.9, 0.6, 0.3]) == pytest.approx(0.5)  # H falls linearly as R rises
    assert rh_auc([0.1, 0.4], [0.5, 0.5]) == pytest.approx(1.0)  # perception never drops
    assert rh_auc([0.8, 0.2, 0.5], [0.3, 0.9, 0.6]) == pytest.approx(0.5)  # order of budgets does not matter
    # R = (0, 0.25, 1), H = (0, 1, 0.5): 0.25 * 0.5 + 0.75 * 0.75 = 0.6875
    assert rh_auc([0.0, 0.1, 0.4], [0.2, 0.6, 0.4]) == pytest.approx(0.6875)
    assert math.isnan(rh_auc([0.3, 0.3], [0.1, 0.9]))  # no reasoning sweep: undefined
    with pytest.raises(ValueError):
        rh_auc([0.1], [0.2])


def test_categories_from_meta_or_shapes_question_types() -> None:
    def item(**meta: Any) -> BenchmarkItem:
        return BenchmarkItem("x", "q", "img", "1", "integer", None, meta)

    assert category(item(category="reasoning")) == "reasoning"
    assert category(item(question_type="largest")) == "perception"
    assert category(item(question_type="count_color")) == "reasoning"
    assert category(item()) is None


async def test_the_budget_sweep_caps_tokens_and_summarises(tmp_path: Path) -> None:
    items = load_benchmark("shapes", limit=6).items
    model = ScriptedModel([("x", 1.0)], greedy="\\boxed{1}")
    results = ResultsFile(tmp_path / "rh.jsonl")
    await run_rh_sweep(model, items, [4, 16], results.append, concurrency=2)
    lines = results.read()
    assert len(lines) == 2 * len(items) and {line["budget"] for line in lines} == {4, 16}
    budgets = sorted(c.params.max_tokens for c in model.calls if c.params)
    assert budgets == [4] * len(items) + [16] * len(items)
    summary = summarize_rh(lines)
    assert [row["budget"] for row in summary["budgets"]] == [4, 16]
    assert summary["budgets"][0]["n_reasoning"] + summary["budgets"][0]["n_perception"] == len(items)
