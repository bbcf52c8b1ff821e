"""A run's context overrides only the fields it sets, in every node; what the run used is in its output and trace."""

from __future__ import annotations

from typing import Any

import pytest

from catts_graph.graph import create_catts_graph
from catts_graph.graph.config import CATTSConfig, NoiseConfig, RoutingConfig, SamplingConfig, SelfCheckConfig
from nodes.errors import InvalidInputError
from nodes.run_context import stage_from_context, with_overrides
from nodes.testing import ScriptedExpert, ScriptedModel
from tests.unit.graph.test_sync_and_tracing import Recorder

BUILT = CATTSConfig.model_validate(
    {
        "sampling": {"n": 4, "temperature": 0.7},
        "routing": {"policy": "adaptive", "sampling": {"min_share": 1.0}},
        "vote": {"voter_form": "answer"},
        "self_check": {"noise": {"region": "global", "kind": "blur"}},
    }
)


def graph_and_model() -> tuple[Any, ScriptedModel, ScriptedExpert]:
    model = ScriptedModel([("\\boxed{2}", 5.0), ("\\boxed{3}", 4.0)])
    expert = ScriptedExpert(answer="\\boxed{2}")
    return create_catts_graph(model, expert=expert, config=BUILT), model, expert


def sampled_ns(model: ScriptedModel) -> list[int]:
    return [c.params.n for c in model.calls if c.kind == "sample" and c.params and c.params.temperature > 0]


@pytest.mark.parametrize("context", [{}, CATTSConfig(), None], ids=["empty-dict", "default-config", "none"])
async def test_a_context_that_sets_nothing_keeps_every_built_setting(image: str, context: Any) -> None:
    graph, model, _ = graph_and_model()
    out = await graph.ainvoke({"question": "q", "images": [image]}, context=context)
    assert sampled_ns(model) == [2, 2]  # adaptive: half of the built n = 4, then the rest (min_share 1 never clears)
    assert all(c.params.temperature == 0.7 for c in model.calls if c.kind == "sample" and c.params.n > 1)
    detected = {"confidence": {"source": "nmlp", "elicit": "missing"}}  # the graph records the source it detected
    assert out["settings"] == BUILT.model_dump(mode="json") | detected
    assert out["settings"]["self_check"]["noise"]["kind"] == "blur"


async def test_a_partial_dict_overrides_only_its_fields(image: str) -> None:
    graph, model, _ = graph_and_model()
    context = {"sampling": {"n": 6}, "self_check": {"noise": {"level": 0.9}}}
    out = await graph.ainvoke({"question": "q", "images": [image]}, context=context)
    assert sampled_ns(model) == [3, 3]  # n from the context, policy still the built adaptive one
    assert out["settings"]["sampling"] == {**BUILT.sampling.model_dump(), "n": 6}
    assert out["settings"]["self_check"]["noise"] == {**BUILT.self_check.noise.model_dump(mode="json"), "level": 0.9}
    assert out["settings"]["vote"]["voter_form"] == "answer"  # the built Voter form survives
    voter = next(c["votes"] for c in out["contributions"] if c["module"] == "voter")
    assert voter == {"2": 0.5, "3": 0.0}  # the answer form: the expert's own answer gets probability 1


async def test_a_partial_config_overrides_only_the_fields_it_was_given(image: str) -> None:
    graph, model, _ = graph_and_model()
    context = CATTSConfig(
        sampling=SamplingConfig(n=2),
        routing=RoutingConfig(policy="paper"),
        self_check=SelfCheckConfig(noise=NoiseConfig(level=0.2)),
    )
    out = await graph.ainvoke({"question": "q", "images": [image]}, context=context)
    assert sampled_ns(model) == [2]
    assert (
        out["settings"]["sampling"]["temperature"] == 0.7 and out["settings"]["routing"]["sampling"]["min_share"] == 1
    )
    assert out["self_check"]["noise"]["kind"] == "blur" and out["self_check"]["noise"]["level"] == 0.2


async def test_a_full_config_replaces_every_setting(image: str) -> None:
    graph, model, _ = graph_and_model()
    full = CATTSConfig.model_validate(CATTSConfig().model_dump())  # every field set explicitly
    out = await graph.ainvoke({"question": "q", "images": [image]}, context=full)
    assert sampled_ns(model) == [8]  # paper policy, n = 8
    detected = {"confidence": {"source": "nmlp", "elicit": "missing"}}
    assert out["settings"] == CATTSConfig().model_dump(mode="json") | detected


async def test_the_gate_reads_the_merged_routing(image: str) -> None:
    graph, _, _ = graph_and_model()
    out = await graph.ainvoke({"question": "q", "images": [image]}, context={"routing": {"policy": "paper"}})
    assert out["settings"]["routing"]["sampling"]["min_share"] == 1.0
    gate_reasons = [r["reason"] for r in out["routes"] if r["after"] != "sample"]
    assert any("policy paper runs every module" in r for r in gate_reasons)


async def test_enabling_a_stage_the_graph_lacks_is_a_recorded_fallback(image: str) -> None:
    model = ScriptedModel([("\\boxed{2}", 5.0), ("\\boxed{3}", 4.0)])
    built = CATTSConfig.model_validate({"critic": {"enabled": False}})
    graph = create_catts_graph(model, expert=ScriptedExpert(voter="2: 1"), config=built)
    out = await graph.ainvoke(
        {"question": "q", "images": [image]}, context={"critic": {"enabled": True}, "planner": {"enabled": True}}
    )
    assert "critic" not in out["modules_run"] and "planner" not in out["modules_run"]
    assert any(f.startswith("critic: enabled by the run's context") for f in out["fallbacks"])
    assert any(f.startswith("planner: enabled by the run's context") for f in out["fallbacks"])


async def test_the_voter_can_be_switched_on_per_run(image: str) -> None:
    model = ScriptedModel([("\\boxed{2}", 5.0), ("\\boxed{3}", 4.0)])
    expert = ScriptedExpert(voter="2: 1")
    graph = create_catts_graph(model, expert=expert, config=CATTSConfig.model_validate({"vote": {"voter": False}}))
    off = await graph.ainvoke({"question": "q", "images": [image]})
    on = await graph.ainvoke({"question": "q", "images": [image]}, context={"vote": {"voter": True}})
    assert "voter" not in off["modules_run"] and "voter" in on["modules_run"]


@pytest.mark.parametrize(
    ("context", "match"),
    [
        ({"sampling": {"m": 4}}, "no field"),
        ({"sampling": {"n": 0}}, "greater than or equal to 1"),
        ({"self_check": {"noise": {"box": [0, 0, 0.5, 0.5]}}}, "region='box'"),
    ],
)
async def test_a_bad_context_is_a_typed_error_before_any_model_call(
    image: str, context: dict[str, Any], match: str
) -> None:
    graph, model, _ = graph_and_model()
    with pytest.raises(InvalidInputError, match=match):
        await graph.ainvoke({"question": "q", "images": [image]}, context=context)
    assert model.calls == []


async def test_the_trace_metadata_says_what_the_run_used(image: str) -> None:
    graph, _, _ = graph_and_model()
    recorder = Recorder()
    config = {"callbacks": [recorder]}
    await graph.ainvoke({"question": "q", "images": [image]}, config, context={"routing": {"policy": "paper"}})
    root = next(r for r in recorder.roots if r.name == "catts")
    assert root.metadata["catts_policy"] == "paper" and root.metadata["catts_n"] == 4
    assert "policy:paper" in (root.tags or []) and "policy:adaptive" not in (root.tags or [])


def test_with_overrides_nests_and_validates() -> None:
    merged = with_overrides(BUILT, {"routing": {"critic": {"min_share": 0.5}}})
    assert merged.routing.policy == "adaptive" and merged.routing.sampling.min_share == 1.0
    assert merged.routing.critic.min_share == 0.5 and merged.sampling == BUILT.sampling
    assert stage_from_context({"sampling": {"top_k": 5}}, "sampling", BUILT.sampling).temperature == 0.7
    assert stage_from_context(object(), "sampling", BUILT.sampling) is BUILT.sampling
