"""Vote tables: per-sample weights, confidence-weighted self-consistency, and the leading answer (pure maths).

A vote table maps a normalised answer to its accumulated weight V[a]. Modules add contributions (docs/method.md
section 4): self-consistency ``V_int[a] = sum_i w_i * 1[A_i = a]`` normalised to sum 1, the Voter ``tau1 * p_a``,
the Critic's re-answer ``tau2`` and the visual self-check ``tau3``. The final answer is ``argmax V``; ties go to the
answer that entered the table first (i.e. the self-consistency ranking), so results are deterministic.

Example:
    >>> table = self_consistency_votes(["2", "3", "2", None], [1.0, 4.0, 1.0, 9.0])
    >>> {a: round(v, 3) for a, v in table.items()}
    {'3': 0.667, '2': 0.333}
    >>> leader(add_tables(table, {"2": 0.5}))
    ('2', 0.5555555555555555)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Literal

Weighting = Literal["majority", "confidence", "probability", "tail", "bottom_window", "lowest_window", "weakest_step"]


def usable_weight(weight: float) -> float:
    """A vote weight, with NaN, infinities and negatives mapped to 0 (they cannot vote)."""
    return weight if math.isfinite(weight) and weight > 0 else 0.0


def self_consistency_votes(answers: Sequence[str | None], weights: Sequence[float]) -> dict[str, float]:
    """Weighted votes of the parsed answers, normalised to sum 1; unparseable answers (None) do not vote.

    When every parsed answer has zero usable weight (e.g. NaN confidences) the vote falls back to plain counts,
    so a usable answer is never dropped. Answers are ordered by weight (desc), ties by first appearance.
    """
    if len(answers) != len(weights):
        raise ValueError(f"{len(answers)} answers but {len(weights)} weights")
    parsed = [(a, usable_weight(w)) for a, w in zip(answers, weights, strict=True) if a is not None]
    if not parsed:
        return {}
    if sum(w for _, w in parsed) == 0:
        parsed = [(a, 1.0) for a, _ in parsed]
    totals: dict[str, float] = {}
    for answer, weight in parsed:
        totals[answer] = totals.get(answer, 0.0) + weight
    norm = sum(totals.values())
    ranked = sorted(totals.items(), key=lambda kv: -kv[1])  # stable: ties keep first-appearance order
    return {a: w / norm for a, w in ranked}


def add_tables(*tables: Mapping[str, float]) -> dict[str, float]:
    """The sum of vote tables, keeping first-appearance order of answers."""
    out: dict[str, float] = {}
    for table in tables:
        for answer, weight in table.items():
            out[answer] = out.get(answer, 0.0) + weight
    return out


def sum_contributions(contributions: Iterable[Mapping[str, float]]) -> dict[str, float]:
    return add_tables(*contributions)


def leader(table: Mapping[str, float]) -> tuple[str | None, float]:
    """The answer with the most weight and its share of the total; ``(None, 0.0)`` for an empty table."""
    total = sum(max(w, 0.0) for w in table.values())
    if not table or total <= 0:
        return None, 0.0
    best = max(table, key=lambda a: table[a])  # max keeps the first of equal weights
    return best, table[best] / total


def cannot_overturn(table: Mapping[str, float], additions: Sequence[float]) -> bool:
    """Whether the table's leader stays the leader whatever answers `additions` go to (each addition, in order, to
    one answer: a candidate, or a new one, which enters the table last and so loses ties). Exact, ties included:
    `leader` of the table after any such additions is the leader now.

    Example:
        >>> cannot_overturn({"2": 1.0}, [0.5, 0.5])  # one sample: a new answer can at most tie, and loses the tie
        True
        >>> cannot_overturn({"2": 0.6, "3": 0.4}, [0.5])
        False
    """
    best, _ = leader(table)
    if best is None:
        return False
    order = list(table)
    for answer in [*order, None]:  # None: an answer not in the table yet
        if answer == best:
            continue
        reach = table[answer] if answer is not None else 0.0
        for addition in additions:  # summed in the order the modules would add them, as the table would
            reach += addition
        wins_ties = answer is not None and order.index(answer) < order.index(best)
        if reach > table[best] or (reach == table[best] and wins_ties):
            return False
    return True


def ranked(table: Mapping[str, float]) -> list[str]:
    """The table's answers, most weight first (equal weights keep the table's order)."""
    return sorted(table, key=lambda a: -table[a])


def shares(table: Mapping[str, float]) -> dict[str, float]:
    """The table normalised to sum 1 (empty stays empty)."""
    total = sum(max(w, 0.0) for w in table.values())
    return {a: max(w, 0.0) / total for a, w in table.items()} if total > 0 else {}
