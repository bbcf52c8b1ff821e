"""Topology snapshots of the compiled graph for each combination of optional stages. The routing policy acts at run
time, in the gate, so it does not change the topology (checked once, not snapshotted twice)."""

from __future__ import annotations

import itertools

import pytest
from syrupy.assertion import SnapshotAssertion

from catts_graph.graph import create_catts_graph
from catts_graph.graph.config import CATTSConfig
from nodes.testing import ScriptedModel

COMBINATIONS = list(itertools.product([True, False], [True, False], [True, False]))


def mermaid(policy: str, planner: bool, critic: bool, self_check: bool) -> str:
    config = CATTSConfig.model_validate(
        {
            "routing": {"policy": policy},
            "planner": {"enabled": planner},
            "critic": {"enabled": critic},
            "self_check": {"enabled": self_check},
        }
    )
    return create_catts_graph(ScriptedModel(), config=config).get_graph().draw_mermaid()


@pytest.mark.parametrize(("planner", "critic", "self_check"), COMBINATIONS)
def test_topology(planner: bool, critic: bool, self_check: bool, snapshot: SnapshotAssertion) -> None:
    assert mermaid("paper", planner, critic, self_check) == snapshot


def test_the_policy_does_not_change_the_topology() -> None:
    assert mermaid("adaptive", True, True, True) == mermaid("paper", True, True, True)


def test_the_graph_is_named_for_traces() -> None:
    assert create_catts_graph(ScriptedModel(), name="ca_tts").name == "ca_tts"


def test_a_model_without_the_protocol_is_refused_early() -> None:
    with pytest.raises(TypeError, match="VisionLanguageModel"):
        create_catts_graph(object())  # type: ignore[arg-type]
