"""Sequential sampling's stopping rule: draw in rounds, stop once the vote's leader is settled (pure maths).

After each round the weighted vote table (shares summing to 1 over the parsed samples) becomes effective counts,
``c_a = share_a * m`` for m parsed samples. Following Adaptive-Consistency's Beta rule, the leader is settled when
the posterior probability that its share exceeds the runner-up's,

    P(p_1 > p_2) = 1 - I_{1/2}(c_1 + prior, c_2 + prior)      (I: the regularised incomplete Beta function)

reaches `threshold`. Confidence enters through the weights: a confident leader has a larger effective count than
an unsure one with the same number of votes. `prior` and `threshold` are fitted on a dev set (`catts calibrate
--stop`) so that the stopped vote's leader agrees with the full budget's leader as often as asked.

Example:
    >>> round(leader_posterior({"4": 1.0}, parsed=4, prior=1.0), 4)
    0.9688
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


def leader_posterior(shares: Mapping[str, float], *, parsed: int, prior: float) -> float:
    """P(the leader's share exceeds the runner-up's) under a Beta posterior on the two leading effective counts;
    0.0 for an empty table (nothing to be settled about)."""
    if not shares or parsed == 0:
        return 0.0
    top = sorted(shares.values(), reverse=True)  # (A,) shares, summing to 1
    first = top[0] * parsed  # effective count of the leader
    second = (top[1] if len(top) > 1 else 0.0) * parsed  # and of the runner-up
    return float(1.0 - betainc(first + prior, second + prior, 0.5))


def settled(shares: Mapping[str, float], *, parsed: int, prior: float, threshold: float) -> tuple[bool, str]:
    """Whether to stop drawing, and the comparison as text."""
    posterior = leader_posterior(shares, parsed=parsed, prior=prior)
    ok = posterior >= threshold
    return ok, f"P(leader stays) {posterior:.3f} {'>=' if ok else '<'} {threshold:g}"
