"""The runnable examples in the docstrings of the modules that need no server: they run and say what they show."""

from __future__ import annotations

import doctest
import importlib

import pytest

SELF_CONTAINED = (
    "catts_graph.benchmarks.grading",
    "catts_graph.benchmarks.registry",
    "catts_graph.evaluation.calibrate",
    "catts_graph.evaluation.compute",
    "catts_graph.evaluation.counting",
    "catts_graph.evaluation.logistic",
    "catts_graph.evaluation.metrics",
    "catts_graph.evaluation.rh_auc",
    "catts_graph.evaluation.stop_calibration",
    "catts_graph.shapes.world",
    "nodes.answers",
    "nodes.confidence",
    "nodes.config",
    "nodes.contrastive",
    "nodes.elicit",
    "nodes.events",
    "nodes.images",
    "nodes.parsing",
    "nodes.perturb",
    "nodes.protocol",
    "nodes.relevance",
    "nodes.stated",
    "nodes.stopping",
    "nodes.voting",
    "trainers.cdrl.rewards",
)


@pytest.mark.parametrize("name", SELF_CONTAINED)
def test_docstring_examples_run(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0, f"{name} has no examples"
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples in {name} failed (see above)"
