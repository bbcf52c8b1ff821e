"""Compute per item: parameters x tokens of each model a method called, the base model and the expert apart.

A forward pass costs about 2 x parameters FLOPs per token; the factor is common to every method, so compute is
reported in parameter-tokens: ``base_parameters * base_tokens + expert_parameters * expert_tokens`` per item, each
model's prompt and completion tokens as its server reports them (``base_tokens`` and ``expert_tokens`` of every
result line, `catts_graph.evaluation.counting`). The parameter counts are read from the served models' folders
(`catts_graph.serving.parameters`) when a run starts and recorded in its ``run.json`` (``parameters``). Where a
needed count is missing (a remote server, a run recorded before counts were kept) or lines lack per-model tokens,
every cost comparison of the run (the cost plot, cost ratios, slopes against cost) uses tokens instead, and the
report says why (`cost_basis`).

Example:
    >>> parameters = {"base": {"count": 1000, "source": "a"}, "expert": {"count": 3000, "source": "b"}}
    >>> line_compute({"base_tokens": 10, "expert_tokens": 2}, parameters)
    16000.0
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from catts_graph.serving.parameters import ParameterCount, folder_parameters, served_parameters
from catts_graph.serving.vllm_client import VLLMClient
from nodes.protocol import VisionLanguageModel

COMPUTE_LABEL = "compute per item (parameters x tokens)"
TOKENS_LABEL = "tokens per item (prompt + completion)"


async def parameter_counts(
    model: VisionLanguageModel,
    expert: Any,
    expert_model: VisionLanguageModel | None,
    *,
    base_folder: Path | None = None,
) -> dict[str, Any]:
    """``run.json``'s ``parameters``: the base model's count and the expert's, each with its source or the reason
    it is missing. The base model is counted in `base_folder` (an in-process model) or in the folder its server
    lists; the expert in its server's folder (`expert_model`). With no expert at all (the base model is its own
    expert, and its expert calls count as the base model's tokens) the expert's entry is None."""

    async def read(what: VisionLanguageModel, label: str) -> ParameterCount:
        if isinstance(what, VLLMClient):
            return await served_parameters(what)
        return ParameterCount(None, f"the {label} ({what.name}) is no served model to ask for its folder")

    base = folder_parameters(base_folder) if base_folder is not None else await read(model, "base model")
    if expert_model is not None:
        expert_count: ParameterCount | None = await read(expert_model, "expert")
    elif expert is None:
        expert_count = None
    else:
        name = getattr(expert, "model_name", None) or getattr(expert, "name", None) or type(expert).__name__
        expert_count = ParameterCount(None, f"the expert ({name}) has no server here to ask for its folder")
    return {"base": base.to_json(), "expert": None if expert_count is None else expert_count.to_json()}


def _count(parameters: Mapping[str, Any] | None, role: str) -> int | None:
    entry = (parameters or {}).get(role)
    return None if entry is None else entry.get("count")


def line_compute(line: Mapping[str, Any], parameters: Mapping[str, Any] | None) -> float | None:
    """One result line's compute in parameter-tokens; None when a count it needs or its per-model tokens are
    missing."""
    base, expert = _count(parameters, "base"), _count(parameters, "expert")
    if base is None or "base_tokens" not in line or "expert_tokens" not in line:
        return None
    if line["expert_tokens"] and expert is None:
        return None
    return float(base * line["base_tokens"] + (expert or 0) * line["expert_tokens"])


def cost_basis(lines: Sequence[Mapping[str, Any]], parameters: Mapping[str, Any] | None) -> dict[str, Any]:
    """What a run's cost comparisons use: ``{"field": "compute", ...}`` when every line's compute is known, else
    ``{"field": "tokens", ..., "note": why}``; with the parameter counts behind it."""
    note = None
    if parameters is None:
        note = "run.json records no parameter counts (the run was recorded before they were read)"
    elif _count(parameters, "base") is None:
        note = f"the base model's parameters could not be read: {parameters['base']['source']}"
    elif any("base_tokens" not in line for line in lines):
        missing = sum("base_tokens" not in line for line in lines)
        note = f"{missing} result lines were recorded without per-model tokens (before compute was tracked)"
    elif any(line["expert_tokens"] for line in lines) and _count(parameters, "expert") is None:
        entry = parameters.get("expert")
        note = "the expert's parameters could not be read" + (f": {entry['source']}" if entry else "")
    if note is not None:
        return {"field": "tokens", "label": TOKENS_LABEL, "note": note, "parameters": parameters}
    return {"field": "compute", "label": COMPUTE_LABEL, "note": None, "parameters": parameters}


def mean_compute(rows: Sequence[Mapping[str, Any]], parameters: Mapping[str, Any] | None) -> float:
    """Mean compute per item of one method's lines (NaN when any line's is unknown)."""
    values = [line_compute(r, parameters) for r in rows]
    if not values or any(v is None for v in values):
        return math.nan
    return sum(v for v in values if v is not None) / len(values)


def describe(basis: Mapping[str, Any]) -> str:
    """The report's sentence on what cost means in this run."""
    if basis["field"] == "tokens":
        return f"Cost: tokens (prompt + completion), not compute: {basis['note']}."
    parameters = basis["parameters"]
    parts = [f"base model {parameters['base']['count']:,} ({parameters['base']['source']})"]
    if parameters.get("expert") is not None and parameters["expert"]["count"] is not None:
        parts.append(f"expert {parameters['expert']['count']:,} ({parameters['expert']['source']})")
    return (
        "Cost: compute per item, parameters x tokens of each model called (prompt + completion tokens as the servers "
        f"report them); parameters: {'; '.join(parts)}."
    )


def format_compute(value: float) -> str:
    """Parameter-tokens in a short form: ``3.1e9``; ``-`` when unknown."""
    return f"{value:.2e}" if math.isfinite(value) else "-"
