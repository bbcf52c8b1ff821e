"""Dev-set calibration of CA-TTS's module weights (tau1, tau2, tau3) from the votes a `catts eval` run recorded.

Every catts line of `results.jsonl` holds what each module added to the vote table (`contributions`) and which
of those answers were right (`correct_candidates`). Rescaling the Voter's, the Critic's and the self-check's
votes gives the answer the graph would have chosen under other weights, with no model call, so a grid of weights
is scored on a dev set in milliseconds. One approximation: the Critic critiqued the leader under the recorded
weights, and its re-answer is kept as recorded; check the chosen weights with a real run on held-out items.

Example:
    >>> line = {"method": "catts-paper", "n": 8, "correct_candidates": ["3"], "contributions": [
    ...     {"module": "self_consistency", "votes": {"2": 0.6, "3": 0.4}},
    ...     {"module": "voter", "votes": {"3": 0.5}}]}
    >>> answer(line["contributions"], Weights(0.5, 0.5, 0.5), Weights(0.0, 0.5, 0.5))
    '2'
    >>> calibrate([line], Weights(0.5, 0.5, 0.5), grid=(0.0, 0.5)).best.weights.tau1
    0.5
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from nodes.errors import InvalidInputError
from nodes.voting import add_tables, leader

DEFAULT_GRID = (0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0)


@dataclass(frozen=True)
class Weights:
    tau1: float  # the Voter's probabilities
    tau2: float  # the Critic's re-answer
    tau3: float  # the visual self-check's pick

    def of(self, module: str) -> float | None:
        """The weight of `module`'s votes; None for self-consistency, which is never rescaled."""
        return {"voter": self.tau1, "critic": self.tau2, "self_check": self.tau3}.get(module)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Weights:
        """The weights of a `CATTSConfig.model_dump()`."""
        return cls(config["vote"]["tau1"], config["critic"]["tau2"], config["self_check"]["tau3"])


PAPER = Weights(0.5, 0.5, 0.5)


@dataclass(frozen=True)
class Score:
    weights: Weights
    accuracy: float


@dataclass(frozen=True)
class Calibration:
    best: Score  # the most accurate weights (ties: the ones closest to the paper's)
    paper: Score  # the paper's weights, 0.5 each
    recorded: Score  # the weights the run used
    ranking: list[Score]  # every grid point, most accurate first
    n_items: int


def answer(contributions: Sequence[Mapping[str, Any]], recorded: Weights, weights: Weights) -> str | None:
    """The leader of the vote table after rescaling each module's recorded votes from `recorded` to `weights`."""
    tables = []
    for c in contributions:
        old, new = recorded.of(c["module"]), weights.of(c["module"])
        scale = 1.0 if old is None or new is None else new / old
        tables.append({a: v * scale for a, v in c["votes"].items()})
    return leader(add_tables(*tables))[0]


def calibrate(
    lines: Sequence[Mapping[str, Any]], recorded: Weights, *, grid: Sequence[float] = DEFAULT_GRID
) -> Calibration:
    """Score every (tau1, tau2, tau3) in `grid`^3 on the recorded catts lines (one per item)."""
    lines = [line for line in lines if "contributions" in line]
    if not lines:
        raise InvalidInputError(
            "no recorded votes: run `catts eval --methods catts-paper ...` (this version records them) on a dev set"
        )
    for module in ("voter", "critic", "self_check"):
        ran = any(c["module"] == module for line in lines for c in line["contributions"])
        if ran and not recorded.of(module):
            raise InvalidInputError(f"the run recorded {module} votes with weight 0; rerun with a positive weight")

    def score(weights: Weights) -> Score:
        right = sum(answer(line["contributions"], recorded, weights) in line["correct_candidates"] for line in lines)
        return Score(weights, right / len(lines))

    def distance_to_paper(s: Score) -> float:
        w = s.weights
        return abs(w.tau1 - PAPER.tau1) + abs(w.tau2 - PAPER.tau2) + abs(w.tau3 - PAPER.tau3)

    scores = [score(Weights(*taus)) for taus in itertools.product(grid, repeat=3)]
    ranking = sorted(scores, key=lambda s: (-s.accuracy, distance_to_paper(s)))
    return Calibration(ranking[0], score(PAPER), score(recorded), ranking, len(lines))
