"""Topology snapshots of the compiled graph for each policy and optional-stage combination."""

from __future__ import annotations

import itertools

import pytest
from syrupy.assertion import SnapshotAssertion

from catts_graph.graph import create_catts_graph
from catts_graph.graph.config import CATTSConfig
from nodes.testing import ScriptedModel

COMBINATIONS = list(itertools.product(["paper", "adaptive"], [True, False], [True, False], [True, False]))


@pytest.mark.parametrize(("policy", "planner", "critic", "self_check"), COMBINATIONS)
def test_topology(policy: str, planner: bool, critic: bool, self_check: bool, snapshot: SnapshotAssertion) -> None:
    config = CATTSConfig.model_validate(
        {
            "routing": {"policy": policy},
            "planner": {"enabled": planner},
            "critic": {"enabled": critic},
            "self_check": {"enabled": self_check},
        }
    )
    graph = create_catts_graph(ScriptedModel(), config=config)
    assert graph.get_graph().draw_mermaid() == snapshot


def test_the_graph_is_named_for_traces() -> None:
    assert create_catts_graph(ScriptedModel(), name="ca_tts").name == "ca_tts"


def test_a_model_without_the_protocol_is_refused_early() -> None:
    with pytest.raises(TypeError, match="VisionLanguageModel"):
        create_catts_graph(object())  # type: ignore[arg-type]
