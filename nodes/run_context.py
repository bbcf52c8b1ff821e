"""A run's CA-TTS overrides: which LangGraph contexts carry them, and how they merge into the graph's config.

LangGraph hands a parent graph's runtime context to every subgraph, and an agent's context to the tools it calls,
so the CA-TTS graph sees contexts that were never meant for it. A context carries CA-TTS overrides when it is

- a `CATTSConfig` (only the fields it was given count),
- a mapping whose keys are all stage names (``{"sampling": {"n": 4}}``, the `CATTSContext` shape), or
- any context with a ``catts`` key or attribute holding either of those (``{"user_id": "u1", "catts": {...}}``, a
  parent's dataclass or pydantic context with a ``catts`` field): the way a parent graph passes overrides down.

Any other context (a parent's ``{"user_id": ...}``, its own dataclass or pydantic model) is foreign and ignored. A
mapping that mixes stage names with other keys is refused with `InvalidInputError` (most likely a misspelt stage).
Overrides merge into the graph's config field by field, nested stages and dict fields (``steps.weights``)
included, and are validated once, after the merge.

Example:
    >>> base = CATTSConfig()
    >>> run_settings(base, {"user_id": "u1"}) == base  # a parent's context: ignored
    True
    >>> run_settings(base, {"user_id": "u1", "catts": {"sampling": {"n": 4}}}).sampling.n
    4
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypedDict, TypeVar

from pydantic import BaseModel

from nodes.config import CATTSConfig, StageConfig
from nodes.errors import InvalidInputError

NAMESPACE = "catts"
STAGES = frozenset(CATTSConfig.model_fields)


class CATTSContext(TypedDict, total=False):
    """The CA-TTS graph's context schema: partial overrides per stage (each a dict of that stage's fields).

    A TypedDict, so LangGraph passes a dict context through as it is and the overrides are validated after they are
    merged into the graph's config, not before (a partial stage alone may not satisfy `CATTSConfig`'s checks)."""

    sampling: dict[str, Any]
    vote: dict[str, Any]
    critic: dict[str, Any]
    self_check: dict[str, Any]
    planner: dict[str, Any]
    routing: dict[str, Any]
    grounding: dict[str, Any]
    steps: dict[str, Any]


def catts_overrides(context: Any) -> Mapping[str, Any] | CATTSConfig | None:
    """The CA-TTS overrides a run's context carries (see the module docstring), or None for a foreign context."""
    if context is None or isinstance(context, CATTSConfig):
        return context
    nested = context.get(NAMESPACE) if isinstance(context, Mapping) else getattr(context, NAMESPACE, None)
    if nested is not None:
        if not isinstance(nested, Mapping | CATTSConfig):
            raise InvalidInputError(
                f"the context's {NAMESPACE!r} entry must be a dict of stage overrides or a CATTSConfig, "
                f"got {type(nested).__name__}"
            )
        return catts_overrides(nested) if isinstance(nested, Mapping) and NAMESPACE in nested else nested
    if not isinstance(context, Mapping) or not context:
        return None
    stages = sorted(str(k) for k in context if k in STAGES)
    others = sorted(str(k) for k in context if k not in STAGES)
    if not stages:
        return None
    if others:
        raise InvalidInputError(
            f"the context mixes CA-TTS stages {stages} with other keys {others}: put the CA-TTS overrides under the "
            f"key {NAMESPACE!r} ({{{NAMESPACE!r}: {{...}}, ...}}) or fix the misspelt stage (valid: {sorted(STAGES)})"
        )
    return context


def set_fields(overrides: Any) -> dict[str, Any]:
    """The fields a caller set: a mapping's items, or a config's `model_fields_set` (defaults it did not set are
    not overrides). Anything else sets nothing."""
    if isinstance(overrides, Mapping):
        return dict(overrides)
    if isinstance(overrides, BaseModel):
        return {name: getattr(overrides, name) for name in overrides.model_fields_set}
    return {}


StageT = TypeVar("StageT", bound=StageConfig)


def with_overrides(base: StageT, overrides: Any) -> StageT:
    """`base` with only the fields `overrides` sets replaced, nested stages and dict fields (``steps.weights``)
    merged field by field.

    `overrides` is a partial mapping (``{"sampling": {"n": 4}}``) or a config whose set fields count
    (``CATTSConfig(sampling=SamplingConfig(n=4))`` changes `n` and nothing else). Each level is validated once it is
    merged, so a combination no config allows raises pydantic's `ValidationError` naming the field.

    Example:
        >>> from nodes.config import SamplingConfig
        >>> with_overrides(SamplingConfig(n=4, temperature=0.7), {"n": 16})
        SamplingConfig(n=16, temperature=0.7, top_k=40, top_p=1.0, min_p=0.0, max_tokens=256, top_logprobs=20)
    """
    update = set_fields(overrides)
    if not update:
        return base
    fields = type(base).model_fields
    unknown = sorted(set(update) - set(fields))
    if unknown:
        raise ValueError(f"{type(base).__name__} has no field(s) {unknown}; valid: {sorted(fields)}")
    merged = {name: getattr(base, name) for name in fields}
    for name, value in update.items():
        current = merged[name]
        if isinstance(current, StageConfig) and isinstance(value, Mapping | StageConfig):
            merged[name] = with_overrides(current, value)
        elif isinstance(current, dict) and isinstance(value, Mapping):
            merged[name] = {**current, **value}  # the entries not named stay
        else:
            merged[name] = value
    return type(base).model_validate(merged)


def run_settings(config: CATTSConfig, context: Any) -> CATTSConfig:
    """The settings a run uses: `config` (the graph's) with the overrides its `context` carries; a foreign context
    changes nothing; a bad override raises `InvalidInputError` naming the field."""
    try:
        return with_overrides(config, catts_overrides(context))
    except ValueError as e:  # pydantic's ValidationError included
        raise InvalidInputError(f"the run's context does not fit CATTSConfig: {e}") from None


def stage_from_context(context: Any, field: str, default: StageT) -> StageT:
    """The stage `field` for this run: `default` (the node's own config) with what the run's context sets for it.

    `context` is a run's LangGraph context (see `catts_overrides` for which ones carry CA-TTS overrides); only the
    fields it sets override `default`.
    """
    return with_overrides(default, set_fields(catts_overrides(context)).get(field))
