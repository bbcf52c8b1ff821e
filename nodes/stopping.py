"""Sequential sampling's stopping rule: draw in rounds, stop once the vote's leader is settled (pure maths).

After each round the weighted vote table (shares summing to 1 over the parsed samples) becomes effective counts,
``c_a = share_a * m`` for m parsed samples, and the expert's own answer, when asked, adds `expert_weight` to its
answer's count. Following Adaptive-Consistency's Beta rule, the leader is settled when the posterior probability
that its share exceeds the runner-up's,

    P(p_1 > p_2) = 1 - I_{1/2}(c_1 + prior, c_2 + prior)      (I: the regularised incomplete Beta function)

reaches `threshold`. Confidence enters through the weights: a confident leader has a larger effective count than
an unsure one with the same number of votes. The rule's parameters are fitted on a dev set (`catts calibrate
--stop`) so that the stopped vote's leader agrees with the full budget's leader as often as asked.

Example:
    >>> counts = vote_counts({"4": 1.0}, parsed=4)
    >>> round(leader_posterior(counts, prior=1.0), 4)
    0.9688
    >>> round(leader_posterior(vote_counts({"4": 1.0}, parsed=1, expert="4", expert_weight=1.0), prior=1.0), 4)
    0.875
    >>> draw_rounds(16, first=2)
    [2, 2, 4, 8]
"""

from __future__ import annotations

from collections.abc import Mapping

from scipy.special import betainc


def draw_rounds(n: int, *, first: int) -> list[int]:
    """How many samples each round draws: `first`, then as many again as drawn so far (totals 2, 4, 8, ...),
    capped so the rounds sum to `n`."""
    rounds: list[int] = []
    drawn = 0
    while drawn < n:
        size = min(first if not rounds else drawn, n - drawn)
        rounds.append(size)
        drawn += size
    return rounds


def vote_counts(
    shares: Mapping[str, float], *, parsed: int, expert: str | None = None, expert_weight: float = 0.0
) -> dict[str, float]:
    """Effective vote counts: each answer's share of the weighted vote times the `parsed` samples, plus
    `expert_weight` for the `expert`'s own answer (None: it gave none)."""
    counts = {answer: share * parsed for answer, share in shares.items()}
    if expert is not None and expert_weight > 0:
        counts[expert] = counts.get(expert, 0.0) + expert_weight
    return counts


def leader_posterior(counts: Mapping[str, float], *, prior: float) -> float:
    """P(the leader's share exceeds the runner-up's) under a Beta posterior on the two largest effective counts;
    0.0 without a vote (nothing to be settled about)."""
    top = sorted(counts.values(), reverse=True)  # (A,) effective counts
    if not top or top[0] <= 0:
        return 0.0
    second = top[1] if len(top) > 1 else 0.0
    return float(1.0 - betainc(top[0] + prior, second + prior, 0.5))


def settled(counts: Mapping[str, float], *, prior: float, threshold: float) -> tuple[bool, str]:
    """Whether to stop drawing, and the comparison as text."""
    posterior = leader_posterior(counts, prior=prior)
    ok = posterior >= threshold
    return ok, f"P(leader stays) {posterior:.3f} {'>=' if ok else '<'} {threshold:g}"
