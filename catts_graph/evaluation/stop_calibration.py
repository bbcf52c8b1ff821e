"""Dev-set fit of the sequential policy's stopping rule (`nodes.stopping`) from a recorded `catts eval` run.

Every ``catts-sequential`` line holds every draw the policy could have made at its N (``draws``: each sample's
answer and vote weight, in draw order) and, when the rule asked it, the expert's own answer (``expert``). Replaying
the rule over them gives, per setting of the first round, the expert's weight, `prior` and `threshold`, how many
samples it draws and whether its stopped leader is the full budget's leader (every draw and the expert's vote),
with no model call. The fit keeps the cheapest setting whose leader agrees with the full budget's on at least
`agreement` of the items.

Example:
    >>> line = {"draws": [["2", 1.0], ["2", 1.0], ["2", 1.0], ["3", 1.0]], "expert": "2"}
    >>> replay(line["draws"], StopRule(first=2, threshold=0.8, prior=1.0))
    ('2', 2)
    >>> replay(line["draws"], StopRule(first=1, threshold=0.85, prior=1.0, expert_weight=1.0), line["expert"])
    ('2', 1)
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from nodes.config import StopRule
from nodes.errors import InvalidInputError
from nodes.stopping import draw_rounds, settled, vote_counts
from nodes.voting import leader, self_consistency_votes

THRESHOLDS = (0.8, 0.85, 0.9, 0.925, 0.95, 0.975, 0.99)
PRIORS = (0.5, 1.0, 2.0, 4.0)
FIRST_ROUNDS = (1, 2)
EXPERT_WEIGHTS = (0.0, 0.5, 1.0, 2.0)  # tried only on lines that recorded the expert's answer


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


def _counts(draws: Sequence[Sequence[Any]], expert: str | None, expert_weight: float) -> dict[str, float]:
    answers = [d[0] for d in draws]
    table = self_consistency_votes(answers, [float(d[1]) for d in draws])
    parsed = sum(a is not None for a in answers)
    return vote_counts(table, parsed=parsed, expert=expert, expert_weight=expert_weight)


def replay(draws: Sequence[Sequence[Any]], rule: StopRule, expert: str | None = None) -> tuple[str | None, int]:
    """The leader where `rule` stops over the recorded `draws` (answer, weight) and the expert's own answer, and
    how many samples it drew."""
    drawn, answer = 0, None
    for size in draw_rounds(len(draws), first=rule.first):
        drawn += size
        counts = _counts(draws[:drawn], expert, rule.expert_weight)
        answer = leader(counts)[0]
        if counts and settled(counts, prior=rule.prior, threshold=rule.threshold)[0]:
            break
    return answer, drawn


def fit_stop(
    lines: Sequence[Mapping[str, Any]],
    *,
    agreement: float,
    first_rounds: Sequence[int] = FIRST_ROUNDS,
    expert_weights: Sequence[float] = EXPERT_WEIGHTS,
    thresholds: Sequence[float] = THRESHOLDS,
    priors: Sequence[float] = PRIORS,
) -> StopFit:
    """Score every rule of the grid on the recorded draws; the best is the cheapest reaching `agreement` (ties: the
    one that agrees most)."""
    recorded = [line for line in lines if line.get("draws")]
    if not recorded:
        raise InvalidInputError(
            "no recorded draws: run `catts eval --methods catts-sequential --n N ...` (this version records them) "
            "on a dev set"
        )
    runs = [(line["draws"], line.get("expert")) for line in recorded]
    budget = max(len(d) for d, _ in runs)
    asked = any(expert is not None for _, expert in runs)
    scores = []
    for first, weight, prior, threshold in itertools.product(
        first_rounds, expert_weights if asked else (0.0,), priors, thresholds
    ):
        rule = StopRule(first=first, threshold=threshold, prior=prior, expert_weight=weight)
        full = [leader(_counts(d, expert, weight))[0] for d, expert in runs]  # every draw and the expert's vote
        stops = [replay(d, rule, expert) for d, expert in runs]
        agree = sum(a == f for (a, _), f in zip(stops, full, strict=True)) / len(runs)
        drawn = sum(k / len(d) for (_, k), (d, _) in zip(stops, runs, strict=True)) / len(runs)
        scores.append(StopScore(rule, agree, drawn))
    ranking = sorted(scores, key=lambda s: (s.drawn, -s.agreement))
    passing = [s for s in ranking if s.agreement >= agreement]
    if not passing:
        most = max(s.agreement for s in scores)
        raise InvalidInputError(
            f"no setting reaches agreement {agreement:g} (the best reaches {most:.3f}); ask for less with "
            "--agreement (from Python: or pass higher `thresholds`)"
        )
    return StopFit(passing[0], ranking, len(runs), budget)
