"""The declared confidence in the graph: a model that states one after its answer is detected, its statements weigh
the votes, clear the gate and set the self-check's cut-off, and the run's settings name the source in force; a
model that states nothing keeps the paper's NMLP."""

from __future__ import annotations

import math

import pytest

from catts_graph.graph import create_catts_graph
from catts_graph.graph.config import (
    CATTSConfig,
    ConfidenceConfig,
    CriticConfig,
    Gate,
    RoutingConfig,
    SamplingConfig,
    SelfCheckConfig,
)
from nodes.declared import declared_confidences, declared_log_confidences, resolve_source
from nodes.elicit import STOP
from nodes.stated import ANSWER_PREFIX, digit_expectation
from nodes.testing import ScriptedModel

SURE, UNSURE = "\\boxed{2} (answer confidence: 9/10)", "\\boxed{3} (answer confidence: 1/10)"
ONLY_VOTES = {"critic": CriticConfig(enabled=False), "self_check": SelfCheckConfig(enabled=False)}


def graph(samples: list, **config: object) -> object:
    # NMLP 1.0 for the "2" sample, 9.0 for the "3" ones: NMLP and the statements disagree
    model = ScriptedModel(samples)
    built = CATTSConfig(sampling=SamplingConfig(n=3), **{**ONLY_VOTES, **config})  # type: ignore[arg-type]
    return create_catts_graph(model, config=built)


async def test_a_stating_model_is_detected_and_its_statements_weigh_the_vote(image: str) -> None:
    out = await graph([(SURE, 1.0), (UNSURE, 9.0), (UNSURE, 9.0)]).ainvoke({"question": "q", "images": [image]})
    assert out["settings"]["confidence"]["source"] == "stated"
    assert [s["stated_confidence"] for s in out["samples"]] == [0.95, 0.15, 0.15]
    assert out["answer"] == "2"  # 0.95 outweighs 0.15 + 0.15; by NMLP "3" would win 18 to 1
    assert out["confidence"] == pytest.approx(0.95 / 1.25)


async def test_nmlp_is_kept_for_a_model_that_states_nothing_or_when_asked(image: str) -> None:
    plain = [("\\boxed{2}", 1.0), ("\\boxed{3}", 9.0), ("\\boxed{3}", 9.0)]
    out = await graph(plain).ainvoke({"question": "q", "images": [image]})
    assert out["settings"]["confidence"]["source"] == "nmlp" and out["answer"] == "3"
    assert all(math.isnan(s["stated_confidence"]) for s in out["samples"])
    forced = graph([(SURE, 1.0), (UNSURE, 9.0), (UNSURE, 9.0)], confidence=ConfidenceConfig(source="nmlp"))
    out = await forced.ainvoke({"question": "q", "images": [image]})
    assert out["settings"]["confidence"]["source"] == "nmlp" and out["answer"] == "3"


async def test_the_gate_reads_the_declared_confidence(image: str) -> None:
    gate = Gate(min_share=0.0, min_confidence=0.9)  # in the statements' units
    routing = RoutingConfig(policy="adaptive", critic=gate, self_check=gate)
    built = CATTSConfig(sampling=SamplingConfig(n=2), routing=routing)
    model = ScriptedModel([(SURE, 1.0)])
    out = await create_catts_graph(model, config=built).ainvoke({"question": "q", "images": [image]})
    skipped = [m for r in out["routes"] for m in r["skipped"]]
    assert skipped == ["critic", "self_check"] and "confidence 0.950 >= 0.9" in out["routes"][-1]["reason"]


def test_resolution_and_the_cut_off_values() -> None:
    samples = [{"answer": "2", "confidence": 3.0, "stated_confidence": 0.95},
               {"answer": "3", "confidence": 3.0, "stated_confidence": math.nan}]  # fmt: skip
    assert resolve_source(samples, "auto") == "stated"  # half of them state one
    assert resolve_source(samples[1:], "auto") == "nmlp"
    assert declared_confidences(samples, "nmlp") == [3.0, 3.0]
    logs = declared_log_confidences(samples, {"2": "", "3": "\\boxed{3}", "4": "\\boxed{4} (answer confidence: 4/10)"})
    assert logs == {"2": pytest.approx(math.log(0.95)), "3": -math.inf, "4": pytest.approx(math.log(0.45))}


@pytest.mark.parametrize(("source", "plausible"), [("stated", ["2"]), ("nmlp", ["3"])])
async def test_the_self_check_cut_off_reads_the_declared_confidence(image: str, source: str, plausible: list) -> None:
    doubtful = "\\boxed{3} (answer confidence: 0/10)"  # the image favours "3", the model declares it unsure
    model = ScriptedModel(
        [(SURE, 5.0), (doubtful, 5.0)], score_fn=lambda messages, answer: -1.0 if "3" in answer else -9.0
    )
    config = CATTSConfig(
        sampling=SamplingConfig(n=2), critic=CriticConfig(enabled=False), confidence=ConfidenceConfig(source=source)
    )
    out = await create_catts_graph(model, config=config).ainvoke({"question": "q", "images": [image]})
    check = out["self_check"]
    assert sorted(c["answer"] for c in check["candidates"] if c["plausible"]) == plausible
    assert check["picked"] == plausible[0]


async def test_under_stated_a_sample_without_a_statement_has_it_elicited_and_it_votes(image: str) -> None:
    plain = "two circles. \\boxed{3}"
    model = ScriptedModel([(SURE, 1.0), (plain, 9.0), (plain, 9.0)], digits=[("9", -0.01), ("1", -5.0)])
    config = CATTSConfig(sampling=SamplingConfig(n=3), confidence=ConfidenceConfig(source="stated"), **ONLY_VOTES)
    out = await create_catts_graph(model, config=config).ainvoke({"question": "q", "images": [image]})
    scored = [c.answer for c in model.calls if c.kind == "score"]
    assert scored == ["two circles. \\boxed{3} (answer confidence: 5"] * 2  # one short request per silent sample
    assert [s["stated_from"] for s in out["samples"]] == ["written", "elicited", "elicited"]
    assert out["samples"][1]["stated_confidence"] == pytest.approx(digit_expectation([("9", -0.01), ("1", -5.0)]))
    assert out["answer"] == "3"  # 0.94 + 0.94 against 0.95: without the elicited weights (NaN) "2" would win
    assert not [f for f in out.get("fallbacks", []) if "undefined (NaN)" in f]  # every sample weighed
    assert out["usage"]["model_calls"] == 3  # the sampling call and the two elicitations


@pytest.mark.parametrize(("samples", "elicited"), [(2, 1), (1, 0)])
async def test_under_auto_statements_are_elicited_only_where_the_samples_state(
    image: str, samples: int, elicited: int
) -> None:
    script = [(SURE, 1.0)] * samples + [("\\boxed{3}", 9.0)] * (3 - samples)
    model = ScriptedModel(script, digits=[("4", -0.1)])
    built = create_catts_graph(model, config=CATTSConfig(sampling=SamplingConfig(n=3), **ONLY_VOTES))
    out = await built.ainvoke({"question": "q", "images": [image]})
    assert sum(c.kind == "score" for c in model.calls) == elicited
    assert out["settings"]["confidence"]["source"] == ("stated" if elicited else "nmlp")


async def test_under_elicit_all_the_samples_stop_at_the_statement_and_every_statement_is_elicited(image: str) -> None:
    plain = "two circles. \\boxed{3}"
    model = ScriptedModel([(SURE, 1.0), (plain, 9.0), (plain, 9.0)], digits=[("9", -0.01), ("1", -5.0)])
    every = ConfidenceConfig(source="stated", elicit="all")
    config = CATTSConfig(sampling=SamplingConfig(n=3), confidence=every, **ONLY_VOTES)
    out = await create_catts_graph(model, config=config).ainvoke({"question": "q", "images": [image]})
    [drawn] = [c for c in model.calls if c.kind == "sample" and c.params and c.params.temperature > 0]
    assert drawn.params is not None and drawn.params.stop == (STOP,) and ANSWER_PREFIX.startswith(STOP + " ")
    scored = [c.answer for c in model.calls if c.kind == "score"]  # a written statement is not read: asked again
    assert scored == ["\\boxed{2} (answer confidence: 5"] + ["two circles. \\boxed{3} (answer confidence: 5"] * 2
    assert [s["stated_from"] for s in out["samples"]] == ["elicited"] * 3
    expected = digit_expectation([("9", -0.01), ("1", -5.0)])
    assert [s["stated_confidence"] for s in out["samples"]] == pytest.approx([expected] * 3)
    assert out["settings"]["confidence"] == {"source": "stated", "elicit": "all"}
    assert out["usage"]["model_calls"] == 4  # the sampling call and three elicitations


async def test_under_elicit_all_a_later_round_elicits_only_its_own_samples(image: str) -> None:
    model = ScriptedModel([("\\boxed{2}", 5.0), ("\\boxed{3}", 5.0)], digits=[("5", -0.1)])
    routing = RoutingConfig(policy="adaptive", sampling=Gate(min_share=1.0))  # split: never decisive after round 1
    every = ConfidenceConfig(source="stated", elicit="all")
    config = CATTSConfig(sampling=SamplingConfig(n=4), routing=routing, confidence=every, **ONLY_VOTES)
    out = await create_catts_graph(model, config=config).ainvoke({"question": "q", "images": [image]})
    drawn = [c.params for c in model.calls if c.kind == "sample" and c.params and c.params.temperature > 0]
    assert [params.stop for params in drawn] == [(STOP,), (STOP,)]  # both rounds
    assert sum(c.kind == "score" for c in model.calls) == 4  # 2 + 2, none twice
    assert [s["stated_from"] for s in out["samples"]] == ["elicited"] * 4


def test_elicit_all_needs_the_stated_source() -> None:
    assert ConfidenceConfig().elicit == "missing"
    for source in ("auto", "nmlp"):
        with pytest.raises(ValueError, match="source='stated'"):
            ConfidenceConfig(source=source, elicit="all")  # type: ignore[arg-type]


async def test_under_elicit_all_the_critics_re_answer_stops_at_the_statement_too(image: str) -> None:
    model = ScriptedModel([("\\boxed{2}", 5.0), ("\\boxed{3}", 5.0)], greedy="\\boxed{3}", digits=[("5", -0.1)])
    every = ConfidenceConfig(source="stated", elicit="all")
    config = CATTSConfig(sampling=SamplingConfig(n=2), self_check=SelfCheckConfig(enabled=False), confidence=every)
    out = await create_catts_graph(model, config=config).ainvoke({"question": "q", "images": [image]})
    assert "critic" in out["modules_run"]
    greedy = [c.params for c in model.calls if c.kind == "sample" and c.params and c.params.temperature == 0]
    [reanswer] = [params for params in greedy if params.top_logprobs == 1]  # the rest: the model in expert roles
    assert reanswer.stop == (STOP,)
