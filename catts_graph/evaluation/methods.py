"""Test-time-scaling methods evaluated on shared, pre-drawn samples, so every method at the same N sees the same
traces (paired comparisons).

Methods (docs/method.md section 5):

- ``greedy``: one greedy answer (pass@1).
- ``majority``: plain majority over the first N samples.
- DeepConf offline (arXiv 2508.15260): ``deepconf-mean``, ``deepconf-tail``, ``deepconf-bottom``,
  ``deepconf-lowest`` (confidence-weighted votes) and ``deepconf-top10``, ``deepconf-top90`` (keep the top eta% of
  traces by lowest-window confidence, then weighted vote).
- DeepConf online, ``deepconf-online``: 16 warm-up traces (or N if fewer) set the threshold at the
  (100 - eta)-th percentile (eta = 10) of their lowest-window confidences; each later trace stops at the first window
  below it (its tokens up to there are paid, it does not vote); sampling stops early once the weighted consensus
  reaches 95%. Simulated on the full pre-drawn traces, as DeepConf's own analysis does.
- The graph, run on the first N samples: ``catts-paper``, ``catts-adaptive``, ``catts-sequential`` (draws them in
  rounds of 2, 4, 8, ... and stops once the leader is settled: its cost is what it drew) and ablations
  ``catts[MODULES]`` with MODULES joined by ``+`` from ``sc`` (N samples; without it, one), ``voter``, ``critic``,
  ``check``. A preset with ``/REGION`` (``catts-paper/model``, ``catts-paper/question``, ``catts-paper/global``)
  overrides where the self-check noises the image, so regions are compared on the same samples; a trailing
  ``+skip-futile`` (``catts-paper+skip-futile``) turns `routing.skip_futile` on, so the modules it skips are
  measured against the same samples with them run.
- The expert alone: ``expert`` (its greedy answer) and ``expert-majority`` (a majority over N of its own samples),
  in `catts_graph.evaluation.expert_baselines`.

Every method returns a `Prediction`: the answer, a confidence in [0, 1] (its vote share; for greedy, its declared
confidence: the one it states, or exp mean log-prob for a model that states none, `nodes.declared`) and its cost.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from nodes.confidence import group_confidences
from nodes.declared import ConfidenceSource, resolve_source
from nodes.state import SampleRecord
from nodes.vote import sample_weights
from nodes.voting import Weighting, leader, self_consistency_votes

DEEPCONF_OFFLINE: dict[str, tuple[Weighting, float | None]] = {
    "deepconf-mean": ("confidence", None),
    "deepconf-tail": ("tail", None),
    "deepconf-bottom": ("bottom_window", None),
    "deepconf-lowest": ("lowest_window", None),
    "deepconf-top10": ("lowest_window", 10.0),
    "deepconf-top90": ("lowest_window", 90.0),
}
WEIGHTED_VOTES: dict[str, tuple[Weighting, float | None]] = {
    **DEEPCONF_OFFLINE,
    "step-vote": ("weakest_step", None),  # MMBoundary: each sample weighs by its weakest step's confidence
}
DEEPCONF_ONLINE = "deepconf-online"
EXPERT_BASELINES = ("expert", "expert-majority")  # the expert alone (`catts_graph.evaluation.expert_baselines`)
CATTS_PRESETS = ("catts-paper", "catts-adaptive", "catts-sequential")
_VARIANT = re.compile(r"^(catts-paper|catts-adaptive|catts-sequential)(?:/(question|global|model))?(\+skip-futile)?$")
_ABLATION = re.compile(r"^catts\[((?:sc|voter|critic|check)(?:\+(?:sc|voter|critic|check))*)\]$")
ONLINE_WARMUP = 16
ONLINE_ETA = 10.0
ONLINE_CONSENSUS = 0.95


@dataclass(frozen=True)
class Prediction:
    answer: str | None
    confidence: float
    prompt_tokens: int
    completion_tokens: int
    model_calls: int
    expert_calls: int = 0
    base_tokens: int | None = None  # tokens the base model processed (None: all of `tokens`)
    expert_tokens: int = 0  # tokens the expert processed

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def tokens_by_model(self) -> tuple[int, int]:
        """(base model's, expert's) tokens: what compute (parameters x tokens) counts."""
        return (self.tokens if self.base_tokens is None else self.base_tokens), self.expert_tokens


def expand_methods(names: Sequence[str]) -> list[str]:
    """Method names with ``deepconf`` expanded to every DeepConf variant; unknown names raise `ValueError`."""
    out: list[str] = []
    for name in names:
        expanded = [*DEEPCONF_OFFLINE, DEEPCONF_ONLINE] if name == "deepconf" else [name]
        for method in expanded:
            if not (
                method in ("greedy", "majority", *EXPERT_BASELINES, DEEPCONF_ONLINE, *WEIGHTED_VOTES, *CATTS_PRESETS)
                or _ABLATION.match(method)
                or _VARIANT.match(method)
            ):
                raise ValueError(
                    f"unknown method {method!r}; use greedy, majority, expert, expert-majority, deepconf (or one "
                    f"variant: {', '.join([*DEEPCONF_OFFLINE, DEEPCONF_ONLINE])}), step-vote, catts-paper, "
                    "catts-adaptive, "
                    "catts-sequential "
                    "(optionally /question, /global or /model: the self-check's noise region; then optionally "
                    "+skip-futile: routing.skip_futile on) or "
                    "catts[sc+voter+critic+check] "
                    "(any subset)"
                )
            if method not in out:
                out.append(method)
    return out


def region_override(method: str) -> tuple[str, str | None]:
    """A catts preset and the self-check region its ``/REGION`` suffix names (None without one)."""
    match = _VARIANT.match(method)
    return (match.group(1), match.group(2)) if match else (method, None)


def skips_futile(method: str) -> bool:
    """Whether a catts preset ends in ``+skip-futile`` (`routing.skip_futile` on for that method)."""
    match = _VARIANT.match(method)
    return bool(match and match.group(3))


def ablation_modules(method: str) -> set[str] | None:
    """The modules of a ``catts[...]`` ablation, or None for other methods."""
    match = _ABLATION.match(method)
    return set(match.group(1).split("+")) if match else None


def vote_prediction(
    samples: Sequence[SampleRecord], weighting: Weighting, prompt_tokens: int, keep_top_percent: float | None = None
) -> Prediction:
    """Weighted vote over `samples`, optionally over the top `keep_top_percent`% by lowest-window confidence."""
    voters = list(samples)
    if keep_top_percent is not None and voters:
        keep = max(1, math.ceil(len(voters) * keep_top_percent / 100))
        ranked = sorted(
            voters,
            key=lambda s: -s["lowest_window_confidence"] if math.isfinite(s["lowest_window_confidence"]) else math.inf,
        )
        voters = ranked[:keep]
    table = self_consistency_votes([s["answer"] for s in voters], sample_weights(voters, weighting))
    answer, share = leader(table)
    return Prediction(answer, share, prompt_tokens, sum(s["completion_tokens"] for s in samples), 1)


def deepconf_online(
    samples: Sequence[SampleRecord],
    token_confidences: Sequence[Sequence[float]],
    prompt_tokens: int,
    *,
    window: int,
    warmup: int = ONLINE_WARMUP,
    eta: float = ONLINE_ETA,
    consensus: float = ONLINE_CONSENSUS,
) -> Prediction:
    """DeepConf online on pre-drawn traces: warm-up threshold, early-stopped traces, consensus stop."""
    n_warm = min(warmup, len(samples))
    warm = samples[:n_warm]
    lowest = [s["lowest_window_confidence"] for s in warm if math.isfinite(s["lowest_window_confidence"])]
    threshold = float(np.percentile(lowest, 100 - eta)) if lowest else -math.inf
    voters = list(warm)
    completion = sum(s["completion_tokens"] for s in warm)
    for sample, token_conf in zip(samples[n_warm:], token_confidences[n_warm:], strict=True):
        table = self_consistency_votes([s["answer"] for s in voters], sample_weights(voters, "confidence"))
        if leader(table)[1] >= consensus:
            break  # consensus reached: the remaining traces are never generated
        stop = _first_stop(token_conf, window, threshold)
        if stop is None:
            voters.append(sample)
            completion += sample["completion_tokens"]
        else:
            completion += stop  # paid up to the stopping token; a stopped trace does not vote
    table = self_consistency_votes([s["answer"] for s in voters], sample_weights(voters, "confidence"))
    answer, share = leader(table)
    return Prediction(answer, share, prompt_tokens, completion, 1)


def _first_stop(token_conf: Sequence[float], window: int, threshold: float) -> int | None:
    """Tokens generated before the first full window whose mean falls below `threshold` (None: never)."""
    c = np.asarray(token_conf, dtype=np.float64)  # (T,)
    if c.size < window:
        return None
    groups = group_confidences(c, window)  # (T - W + 1,)
    below = np.nonzero(groups < threshold)[0]  # window starts that fall below
    return int(below[0]) + window if below.size else None


def greedy_prediction(sample: SampleRecord, prompt_tokens: int, source: ConfidenceSource = "auto") -> Prediction:
    """The greedy answer with its declared confidence: the one it states (`source` ``stated``, or ``auto`` and it
    states one), else exp mean log-prob (the probability scale of the paper's NMLP); 0 where undefined."""
    stated = resolve_source([sample], source) == "stated"
    value = sample.get("stated_confidence", math.nan) if stated else sample["probability"]
    confidence = value if math.isfinite(value) else 0.0
    return Prediction(sample["answer"], confidence, prompt_tokens, sample["completion_tokens"], 1)
