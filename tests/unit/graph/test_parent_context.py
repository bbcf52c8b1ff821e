"""The graph inside other graphs: a parent's own context is ignored, a ``catts`` entry in it overrides the run, and
partial overrides merge before they are validated (scripted models; the same paths against the real server are in
tests/integration/test_composition_vllm.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypedDict

import pytest
from langgraph.graph import END, START, StateGraph
from pydantic import BaseModel

from catts_graph.graph import create_catts_graph
from catts_graph.graph.config import CATTSConfig
from nodes.errors import InvalidInputError
from nodes.run_context import catts_overrides, run_settings, with_overrides
from nodes.testing import ScriptedModel

SCRIPT = [("\\boxed{2}", 9.0), ("\\boxed{3}", 1.0)]


class Shared(TypedDict, total=False):
    question: str
    images: list[str]
    answer: str | None
    confidence: float


class DictContext(TypedDict, total=False):
    user_id: str
    catts: dict[str, Any]


class PydanticContext(BaseModel):
    user_id: str = "u1"
    catts: dict[str, Any] | None = None


@dataclass
class DataclassContext:
    user_id: str = "u1"
    catts: dict[str, Any] = field(default_factory=dict)


def parent(model: ScriptedModel, schema: type[Any]) -> Any:
    builder = StateGraph(Shared, context_schema=schema)
    builder.add_node("catts", create_catts_graph(model))
    builder.add_edge(START, "catts")
    builder.add_edge("catts", END)
    return builder.compile()


def sampled_ns(model: ScriptedModel) -> list[int]:
    return [c.params.n for c in model.calls if c.kind == "sample" and c.params and c.params.temperature > 0]


FOREIGN = [
    (dict, {"user_id": "u1"}),
    (DictContext, {"user_id": "u1"}),
    (PydanticContext, PydanticContext()),
    (DataclassContext, DataclassContext()),
]


@pytest.mark.parametrize(("schema", "context"), FOREIGN, ids=["dict", "typeddict", "pydantic", "dataclass"])
async def test_a_parents_own_context_is_ignored(image: str, schema: type[Any], context: Any) -> None:
    model = ScriptedModel(SCRIPT)
    graph = parent(model, schema)
    out = await graph.ainvoke({"question": "How many?", "images": [image]}, context=context)
    assert out["answer"] == "2"
    assert sampled_ns(model) == [8]  # the graph's own defaults
    assert graph.invoke({"question": "How many?", "images": [image]}, context=context)["answer"] == "2"


NAMESPACED = [
    (dict, {"user_id": "u1", "catts": {"sampling": {"n": 3}}}),
    (DictContext, {"user_id": "u1", "catts": {"sampling": {"n": 3}}}),
    (PydanticContext, PydanticContext(catts={"sampling": {"n": 3}})),
    (DataclassContext, DataclassContext(catts={"sampling": {"n": 3}})),
]


@pytest.mark.parametrize(("schema", "context"), NAMESPACED, ids=["dict", "typeddict", "pydantic", "dataclass"])
async def test_a_catts_entry_in_a_parents_context_overrides(image: str, schema: type[Any], context: Any) -> None:
    model = ScriptedModel(SCRIPT)
    out = await parent(model, schema).ainvoke({"question": "How many?", "images": [image]}, context=context)
    assert out["answer"] == "2" and sampled_ns(model) == [3]


def test_which_contexts_carry_overrides() -> None:
    overrides = {"sampling": {"n": 4}}
    assert catts_overrides(None) is None and catts_overrides({}) is None
    assert catts_overrides(overrides) == overrides  # the graph's own shape
    assert catts_overrides({"user_id": "u1", "catts": overrides}) == overrides
    assert catts_overrides({"catts": CATTSConfig()}) == CATTSConfig()
    assert catts_overrides({"catts": {"catts": overrides}}) == overrides  # a grandparent's entry passed down
    assert catts_overrides(object()) is None and catts_overrides("text") is None
    with pytest.raises(InvalidInputError, match="stages \\['sampling'\\] with other keys \\['samplng'\\]"):
        catts_overrides({"sampling": {"n": 4}, "samplng": {"n": 2}})
    with pytest.raises(InvalidInputError, match="'catts' entry must be"):
        catts_overrides({"catts": 4})


async def test_a_mixed_context_is_refused_before_any_node_runs(image: str) -> None:
    model = ScriptedModel(SCRIPT)
    with pytest.raises(InvalidInputError, match="put the CA-TTS overrides under the key 'catts'"):
        await create_catts_graph(model).ainvoke({"question": "q", "images": [image]}, context={"sampling": {}, "x": 1})
    assert model.calls == []


GROUNDED = CATTSConfig.model_validate({"grounding": {"enabled": True}})


@pytest.mark.parametrize("call", ["invoke", "ainvoke"])
async def test_a_partial_context_is_validated_after_the_merge(image: str, call: str) -> None:
    model = ScriptedModel(SCRIPT)
    graph = create_catts_graph(model, config=GROUNDED)
    context = {"self_check": {"noise": {"region": "model"}}}  # valid only beside the graph's grounding
    inputs = {"question": "How many?", "images": [image]}
    out = await graph.ainvoke(inputs, context=context) if call == "ainvoke" else graph.invoke(inputs, context=context)
    assert out["settings"]["self_check"]["noise"]["region"] == "model"
    plain = create_catts_graph(ScriptedModel(SCRIPT))  # without grounding the merged settings do not fit
    with pytest.raises(InvalidInputError, match="enable grounding"):
        plain.invoke(inputs, context=context)


def test_dict_fields_merge_entry_by_entry() -> None:
    merged = with_overrides(CATTSConfig(), {"steps": {"weights": {"visual": 0.0}}})
    assert merged.steps.weights == {**CATTSConfig().steps.weights, "visual": 0.0}
    with pytest.raises(InvalidInputError, match="unknown signal"):
        run_settings(CATTSConfig(), {"steps": {"weights": {"visul": 0.0}}})
