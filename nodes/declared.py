"""The declared confidence: the one confidence a model's answers carry into votes, gates, the self-check's cut-off,
metrics and the probe (docs/method.md section 9.5).

- ``nmlp``: the paper's response confidence (`nodes.confidence`), for a model that states nothing;
- ``stated``: the confidence a calibrated model declares after its answer (`nodes.stated`), in [0, 1];
- ``auto`` (the default setting): ``stated`` when at least half of a run's samples declare one, else ``nmlp``.
  The graph resolves it once per run, on its samples, and records the source in force in the run's settings.

Under ``stated`` the statements a run reads are elicited (`nodes.elicit`) where the samples wrote none (``missing``,
the default) or for every sample, drawn without its statement (``all``: the run's `Elicit` setting).

Example:
    >>> samples = [{"confidence": 6.1, "stated_confidence": 0.85}, {"confidence": 2.0, "stated_confidence": 0.15}]
    >>> resolve_source(samples, "auto"), declared_confidences(samples, "auto")
    ('stated', [0.85, 0.15])
    >>> declared_confidences(samples, "nmlp")
    [6.1, 2.0]
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from nodes.confidence import finite_mean
from nodes.stated import stated_answer_confidence

ConfidenceSource = Literal["auto", "nmlp", "stated"]
Resolved = Literal["nmlp", "stated"]
Elicit = Literal["missing", "all"]  # which samples have their statement elicited under ``stated``
FIELDS: dict[Resolved, str] = {"nmlp": "confidence", "stated": "stated_confidence"}  # a sample record's field


def declares(samples: Sequence[Mapping[str, Any]]) -> bool:
    """Whether at least half of `samples` (and at least one) declare a confidence for their answer."""
    stated = sum(math.isfinite(float(s.get("stated_confidence", math.nan))) for s in samples)
    return stated > 0 and 2 * stated >= len(samples)


def resolve_source(samples: Sequence[Mapping[str, Any]], source: ConfidenceSource) -> Resolved:
    """The source in force: `source` itself, or for ``auto`` what `samples` show (`declares`)."""
    if source == "auto":
        return "stated" if declares(samples) else "nmlp"
    return source


def declared_confidences(samples: Sequence[Mapping[str, Any]], source: ConfidenceSource) -> list[float]:
    """Each sample's declared confidence under `source` (NaN where it has none)."""
    field = FIELDS[resolve_source(samples, source)]
    return [float(s.get(field, math.nan)) for s in samples]


def declared_log_confidences(samples: Sequence[Mapping[str, Any]], texts: Mapping[str, str]) -> dict[str, float]:
    """log of the stated confidence of each answer in `texts`: the mean over the `samples` that gave it, else the
    statement of its text in `texts` (the response that stands for it, e.g. the critic's re-answer); -inf where
    none is stated (the self-check's cut-off then leaves it out)."""
    out = {}
    for answer, text in texts.items():
        stated = finite_mean(float(s.get("stated_confidence", math.nan)) for s in samples if s["answer"] == answer)
        if not math.isfinite(stated):
            stated = stated_answer_confidence(text)
        out[answer] = math.log(stated) if math.isfinite(stated) and stated > 0 else -math.inf
    return out


def _confidence_settings(state: Mapping[str, Any]) -> Mapping[str, Any]:
    """The ``confidence`` part of a run's recorded settings (empty without settings)."""
    return (state.get("settings") or {}).get("confidence") or {}


def run_source(state: Mapping[str, Any]) -> ConfidenceSource:
    """The source a run's settings name (``auto`` before the graph has resolved it, or without settings)."""
    source = _confidence_settings(state).get("source", "auto")
    return source if source in ("nmlp", "stated") else "auto"


def run_elicit(state: Mapping[str, Any]) -> Elicit:
    """Which statements a run elicits, as its settings name it (``missing`` without settings)."""
    return "all" if _confidence_settings(state).get("elicit") == "all" else "missing"
