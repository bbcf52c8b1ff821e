"""Dev-set fit of the sequential policy's stopping rule (`nodes.stopping`) from a recorded `catts eval` run.

Every ``catts-sequential`` line holds every draw the policy could have made at its N (``draws``: each sample's
answer and vote weight, in draw order). Replaying the rule over them gives, per setting of `prior` and `threshold`,
how many samples it draws and whether its stopped leader is the full budget's leader, with no model call. The fit
keeps the cheapest setting whose leader agrees with the full budget's on at least `agreement` of the items.

Example:
    >>> line = {"draws": [["2", 1.0], ["2", 1.0], ["2", 1.0], ["3", 1.0]]}
    >>> replay(line["draws"], StopRule(first=2, threshold=0.8, prior=1.0))
    ('2', 2)
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from nodes.config import StopRule
from nodes.errors import InvalidInputError
from nodes.stopping import draw_rounds, settled
from nodes.voting import leader, self_consistency_votes

THRESHOLDS = (0.8, 0.85, 0.9, 0.925, 0.95, 0.975, 0.99)
PRIORS = (0.5, 1.0, 2.0, 4.0)


@dataclass(frozen=True)
class StopScore:
    rule: StopRule
    agreement: float  # share of items whose stopped leader is the full budget's leader
    drawn: float  # mean share of the budget drawn


@dataclass(frozen=True)
class StopFit:
    best: StopScore
    ranking: list[StopScore]  # every grid point, cheapest first
    n_items: int
    budget: int


def _leader(draws: Sequence[Sequence[Any]]) -> tuple[str | None, dict[str, float], int]:
    answers = [d[0] for d in draws]
    table = self_consistency_votes(answers, [float(d[1]) for d in draws])
    return leader(table)[0], table, sum(a is not None for a in answers)


def replay(draws: Sequence[Sequence[Any]], rule: StopRule) -> tuple[str | None, int]:
    """The leader where `rule` stops over the recorded `draws` (answer, weight), and how many it drew."""
    drawn, answer = 0, None
    for size in draw_rounds(len(draws), first=rule.first):
        drawn += size
        answer, table, parsed = _leader(draws[:drawn])
        if answer is not None and settled(table, parsed=parsed, prior=rule.prior, threshold=rule.threshold)[0]:
            break
    return answer, drawn


def fit_stop(
    lines: Sequence[Mapping[str, Any]],
    *,
    agreement: float,
    first: int = 2,
    thresholds: Sequence[float] = THRESHOLDS,
    priors: Sequence[float] = PRIORS,
) -> StopFit:
    """Score every (prior, threshold) on the recorded draws; the best is the cheapest reaching `agreement`."""
    runs = [line["draws"] for line in lines if line.get("draws")]
    if not runs:
        raise InvalidInputError(
            "no recorded draws: run `catts eval --methods catts-sequential --n N ...` (this version records them) "
            "on a dev set"
        )
    budget = max(len(d) for d in runs)
    full = [_leader(d)[0] for d in runs]
    scores = []
    for prior, threshold in itertools.product(priors, thresholds):
        rule = StopRule(first=first, threshold=threshold, prior=prior)
        stops = [replay(d, rule) for d in runs]
        agree = sum(a == f for (a, _), f in zip(stops, full, strict=True)) / len(runs)
        drawn = sum(k / len(d) for (_, k), d in zip(stops, runs, strict=True)) / len(runs)
        scores.append(StopScore(rule, agree, drawn))
    ranking = sorted(scores, key=lambda s: (s.drawn, -s.agreement))
    passing = [s for s in ranking if s.agreement >= agreement]
    if not passing:
        most = max(s.agreement for s in scores)
        raise InvalidInputError(
            f"no setting reaches agreement {agreement:g} (the best reaches {most:.3f}); ask for less with "
            "--agreement, or add higher thresholds to the grid"
        )
    return StopFit(passing[0], ranking, len(runs), budget)
