"""CDRL reward components (docs/method.md section 3), as small pure functions over one GRPO group of G rollouts.

``r_j = R_acc + R_format + alpha * tanh(beta * (C_j - C'_j)) + (2 * R_acc - 1) * Cnorm_j``

- `accuracy_rewards`: 1 when the rollout's answer matches the reference, graded as the graph and `catts eval` grade
  (`nodes.answers.extract_answer` with the item's options, then `catts_graph.benchmarks.matches`), else 0.
- `format_rewards`: 1 when the rollout ends its answer in exactly one parseable ``\\boxed{...}``, else 0.
- `perception_rewards`: ``alpha * tanh(beta * (C - C'))``, C the rollout's confidence on the clean image and C' the
  same text's confidence teacher-forced on the noised twin: paid when confidence falls with the evidence.
- `calibration_rewards`: ``(2 * R_acc - 1) * Cnorm``: confident-and-right is rewarded, confident-and-wrong punished.
  ``Cnorm`` (ours, documented choice): ``group`` min-max of C over the G rollouts of one prompt (default; a group
  whose confidences are all equal gets 0.5), or ``sigmoid`` of C centred on the group mean (smooth, never constant).

C and C' are NMLP response confidences (`nodes.confidence`), higher = more confident. All functions take and return
plain lists, so they pickle and table-test; `cdrl_rewards` returns every component separately for logging.
`group_members` reads the whole groups out of a batch gathered from every process: TRL spreads one prompt's G
rollouts over processes, and Cnorm must see all G of them. `cdrl_reward_funcs` gives the four components as the
reward callables TRL calls with the batch's columns (`accuracy_reward`, `format_reward`, `PerceptionReward`,
`CalibrationReward`).

Example:
    >>> calibration_rewards([1.0, 0.0], [2.0, 4.0])  # right at low confidence, wrong at the group's highest
    [0.0, -1.0]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from catts_graph.benchmarks import BenchmarkItem, matches
from catts_graph.evaluation.metrics import min_max
from nodes.answers import AnswerType, extract_answer, extract_boxed, normalize_answer

if TYPE_CHECKING:
    from trainers.cdrl.config import CDRLConfig

Normalisation = Literal["group", "sigmoid"]


def is_correct(text: str, answer: str, answer_type: AnswerType | None, choices: Sequence[str] | None = None) -> bool:
    """Whether `text` answers `answer` (a letter when `choices` are given), graded as the graph and `catts eval` do."""
    options = tuple(choices) if choices else None
    reference = normalize_answer(answer, answer_type, options) or answer
    item = BenchmarkItem(id="", question="", image="", answer=reference, answer_type=answer_type, choices=options)
    return matches(extract_answer(text, answer_type=answer_type, choices=options), item)


def accuracy_rewards(
    completions: Sequence[str],
    answers: Sequence[str],
    answer_types: Sequence[AnswerType | None],
    choices: Sequence[Sequence[str] | None] | None = None,
) -> list[float]:
    """1.0 where the rollout's answer matches the reference (`is_correct`), else 0.0; `choices` per item, or None."""
    options = choices if choices is not None else [None] * len(answers)
    rows = zip(completions, answers, answer_types, options, strict=True)
    return [1.0 if is_correct(text, gold, kind, opts) else 0.0 for text, gold, kind, opts in rows]


def format_rewards(completions: Sequence[str]) -> list[float]:
    """1.0 for exactly one ``\\boxed{...}`` with content, closing the response (only whitespace after it)."""
    out = []
    for text in completions:
        boxed = extract_boxed(text)
        single = text.count("\\boxed{") == 1 and boxed is not None and boxed.strip() != ""
        closes = single and text.rstrip().endswith("}")
        out.append(1.0 if closes else 0.0)
    return out


def perception_rewards(
    clean: Sequence[float], noised: Sequence[float], *, alpha: float = 0.5, beta: float = 1.0
) -> list[float]:
    """``alpha * tanh(beta * (C - C'))`` per rollout; a NaN confidence (no tokens) earns 0."""
    return [
        0.0 if math.isnan(c - n) else alpha * math.tanh(beta * (c - n)) for c, n in zip(clean, noised, strict=True)
    ]


def normalised_confidence(confidences: Sequence[float], how: Normalisation = "group") -> list[float]:
    """Cnorm in [0, 1] for one group of rollouts (NaN confidences count as the group minimum)."""
    finite = [c for c in confidences if math.isfinite(c)]
    if not finite:
        return [0.5] * len(confidences)
    low = min(finite)
    values = [c if math.isfinite(c) else low for c in confidences]
    if how == "sigmoid":
        mean = sum(values) / len(values)
        return [1.0 / (1.0 + math.exp(-(v - mean))) for v in values]
    return min_max(values, constant=0.5)


def group_members(
    prompt_ids: Sequence[str], values: Sequence[float], group_size: int
) -> list[tuple[list[float], int]]:
    """Per rollout of a gathered batch: the `values` of its whole group and its position in the group.

    TRL's sampler puts each prompt's `group_size` rollouts next to each other in the batch gathered from all
    processes (one process may hold only part of a group); a group whose `prompt_ids` differ is an error.
    """
    if len(prompt_ids) != len(values) or len(values) % group_size:
        raise ValueError(f"a gathered batch of {len(values)} rollouts is not whole groups of {group_size}")
    out: list[tuple[list[float], int]] = []
    for start in range(0, len(values), group_size):
        if len(set(prompt_ids[start : start + group_size])) != 1:
            raise ValueError(f"rollouts {start}..{start + group_size - 1} of the gathered batch mix prompts")
        group = list(values[start : start + group_size])
        out.extend((group, position) for position in range(group_size))
    return out


def calibration_rewards(
    accuracy: Sequence[float], confidences: Sequence[float], how: Normalisation = "group"
) -> list[float]:
    """``(2 * R_acc - 1) * Cnorm`` for one group of rollouts."""
    return [(2.0 * a - 1.0) * n for a, n in zip(accuracy, normalised_confidence(confidences, how), strict=True)]


def cdrl_rewards(
    completions: Sequence[str],
    answers: Sequence[str],
    answer_types: Sequence[AnswerType | None],
    clean: Sequence[float],
    noised: Sequence[float],
    *,
    alpha: float = 0.5,
    beta: float = 1.0,
    normalisation: Normalisation = "group",
    choices: Sequence[Sequence[str] | None] | None = None,
) -> dict[str, list[float]]:
    """Every component and the total for one group (the G rollouts of one prompt)."""
    accuracy = accuracy_rewards(completions, answers, answer_types, choices)
    fmt = format_rewards(completions)
    perception = perception_rewards(clean, noised, alpha=alpha, beta=beta)
    calibration = calibration_rewards(accuracy, clean, normalisation)
    total = [sum(parts) for parts in zip(accuracy, fmt, perception, calibration, strict=True)]
    return {"accuracy": accuracy, "format": fmt, "perception": perception, "calibration": calibration, "total": total}


def completion_texts(completions: list[Any]) -> list[str]:
    """TRL passes conversational completions as message lists; plain ones as strings."""
    return [c if isinstance(c, str) else "".join(str(m.get("content", "")) for m in c) for c in completions]


def accuracy_reward(
    completions: list[Any], answer: list[str], answer_type: list[Any], choices: list[Any] | None = None, **_: Any
) -> list[float]:
    return accuracy_rewards(completion_texts(completions), answer, answer_type, choices)


def format_reward(completions: list[Any], **_: Any) -> list[float]:
    return format_rewards(completion_texts(completions))


@dataclass(frozen=True)
class PerceptionReward:
    alpha: float = 0.5
    beta: float = 1.0

    def __call__(self, clean_confidence: list[float], noised_confidence: list[float], **_: Any) -> list[float]:
        return perception_rewards(clean_confidence, noised_confidence, alpha=self.alpha, beta=self.beta)


@dataclass(frozen=True)
class CalibrationReward:
    """(2 R_acc - 1) Cnorm, Cnorm over the rollout's whole group (`group_clean_confidence`, gathered from every
    process by `CDRLTrainer`), read at its `group_position`."""

    how: Normalisation = "group"

    def __call__(
        self,
        completions: list[Any],
        answer: list[str],
        answer_type: list[Any],
        group_clean_confidence: list[list[float]],
        group_position: list[int],
        choices: list[Any] | None = None,
        **_: Any,
    ) -> list[float]:
        accuracy = accuracy_rewards(completion_texts(completions), answer, answer_type, choices)
        groups = zip(accuracy, group_clean_confidence, group_position, strict=True)
        return [(2.0 * a - 1.0) * normalised_confidence(group, self.how)[j] for a, group, j in groups]


def confidence_reward_funcs(config: CDRLConfig) -> list[Any]:
    """The two components that read C and C' (perception, calibration); a grounding run can add them to its own."""
    how: Normalisation = "group" if config.confidence_normalisation == "group" else "sigmoid"
    return [PerceptionReward(config.perception_alpha, config.perception_beta), CalibrationReward(how)]


def cdrl_reward_funcs(config: CDRLConfig) -> list[Any]:
    """The four components, in the order TRL logs them."""
    return [accuracy_reward, format_reward, *confidence_reward_funcs(config)]
