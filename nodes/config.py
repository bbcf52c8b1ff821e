"""Frozen per-stage configuration of the nodes, with the paper's defaults (docs/method.md section 4).

Every field is documented where it is declared; invalid values fail at construction with a message that says
what to set instead. `CATTSConfig` bundles these under the names `sampling`, `vote`, `critic`, `self_check`,
`planner`, `routing`, `grounding`, `steps` and `confidence`; a node reads its stage from a run's LangGraph context
when one is given there.

Pass a `CATTSConfig` to `catts_graph.create_catts_graph(config=...)` for the graph's defaults, or as a run's
LangGraph context (`graph.invoke(inputs, context=CATTSConfig(...))`) to override them for that run only (which
contexts carry overrides, and how they merge: `nodes.run_context`).

Example:
    >>> config = CATTSConfig(sampling=SamplingConfig(n=16), routing=RoutingConfig(policy="adaptive"))
    >>> config.sampling.n, config.routing.policy, config.vote.tau1
    (16, 'adaptive', 0.5)
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from nodes.declared import ConfidenceSource, Elicit
from nodes.grounding import BoxFrame
from nodes.perturb import Kind
from nodes.protocol import SamplingParams
from nodes.steps import SIGNALS, Splitter
from nodes.voting import Weighting


class StageConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)


class Gate(StageConfig):
    """When the adaptive policy stops sampling or skips a module: the leader's vote share, its confidence and its
    weakest reasoning step all clear these."""

    min_share: float = Field(default=0.75, ge=0.0, le=1.0)
    """The leading answer's share of the vote table (>= clears)."""
    min_confidence: float | None = None
    """The mean declared confidence of the leader's samples (>= clears; NMLP or stated: see `confidence`); None = not
    checked. Calibrate on a dev set."""
    min_weakest_step: float | None = Field(default=None, ge=0.0, le=1.0)
    """The mean, over the leader's samples, of each one's weakest step confidence (>= clears; see `steps`); None =
    not checked."""

    def clears(self, share: float, confidence: float, weakest_step: float = math.nan) -> tuple[bool, str]:
        """Whether a vote clears this gate (>= on every threshold set), and the comparisons as text."""
        checks = [("share", share, self.min_share), ("confidence", confidence, self.min_confidence),
                  ("weakest step", weakest_step, self.min_weakest_step)]  # fmt: skip
        ok, texts = True, []
        for name, value, threshold in checks:
            if threshold is None:
                continue
            passed = math.isfinite(value) and value >= threshold
            ok = ok and passed
            texts.append(f"{name} {value:.3f} {'>=' if passed else '<'} {threshold:g}")
        return ok, ", ".join(texts)


class SamplingConfig(StageConfig):
    """Self-consistency sampling (paper: N = 8, T = 1.0, top-k 40)."""

    n: int = Field(default=8, ge=1, le=64)
    """Samples per question, drawn in one request."""
    temperature: float = Field(default=1.0, ge=0.0, le=5.0)
    """Sampling temperature (0 = greedy; then n > 1 repeats the same answer)."""
    top_k: int = Field(default=40, ge=0)
    """Top-k sampling cut-off (0 = off)."""
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    """Nucleus sampling cut-off (1 = off)."""
    min_p: float = Field(default=0.0, ge=0.0, lt=1.0)
    """Min-p cut-off (0 = off): only tokens at least `min_p` times as likely as the most likely one are sampled, so a
    hot temperature widens the choice where the model is unsure and not where it is sure."""
    max_tokens: int = Field(default=256, ge=1)
    """Generation limit per sample; a sample cut off here usually has no parseable answer."""
    top_logprobs: int = Field(default=20, ge=1, le=20)
    """k of the confidence formula c_t = -(1/k) sum_j log p_t(j)."""

    def params(self) -> SamplingParams:
        return SamplingParams(
            n=self.n,
            temperature=self.temperature,
            top_p=self.top_p,
            top_k=self.top_k,
            min_p=self.min_p,
            max_tokens=self.max_tokens,
            top_logprobs=self.top_logprobs,
        )


class VoteConfig(StageConfig):
    """Confidence-weighted self-consistency plus the expert as Voter."""

    weighting: Weighting = "confidence"
    """Per-sample vote weight: `confidence` (NMLP, the paper), `majority` (1 each), `probability`
    (exp mean log-prob), DeepConf's `tail`, `bottom_window`, `lowest_window`, or `weakest_step` (the confidence of the
    sample's weakest reasoning step, MMBoundary: see `steps`)."""
    voter: bool = True
    """Ask the expert for a probability per candidate (skipped when there is only one candidate)."""
    voter_form: Literal["text", "score", "answer"] = "text"
    """How the Voter gives its probabilities: `text` (the paper's: shown the candidates, it writes
    ``candidate: p`` lines; any chat model), `answer` (it answers the question itself, greedy, and its answer gets
    probability 1 when it is a candidate; any chat model; for experts that read the image worse when shown
    candidates) or `score` (softmax of its mean token log-prob of each candidate's representative response, at
    `voter_temperature`; needs a `VisionLanguageModel` expert, else falls back to `text`, recorded). The bundled
    ShapesVQA expert votes in the `answer` form: docs/experiments/expert-history.md."""
    voter_temperature: float = Field(default=0.1, gt=0.0)
    """Temperature of the `score` Voter's softmax over mean log-probs (small: mean log-probs differ by little)."""
    tau1: float = Field(default=0.5, ge=0.0)
    """Weight of the Voter's probabilities in the vote table."""
    window: int = Field(default=2048, ge=1)
    """Token window of the DeepConf weightings (traces shorter than it use one window)."""
    voter_max_tokens: int = Field(default=128, ge=1)
    """Length limit of the Voter's reply."""


class CriticConfig(StageConfig):
    """Self-reflection: the expert critiques the leading answer; the base model re-answers (greedy)."""

    enabled: bool = True
    """Include the critic in the graph."""
    show_weakest_step: bool = False
    """Show the Critic the least confident step of the leading response and ask about it first (MMBoundary). Off
    by default: an expert trained on the plain critic prompt (the bundled ShapesVQA one) has not seen it."""
    tau2: float = Field(default=0.5, ge=0.0)
    """Weight of the re-answer in the vote table."""
    critique_max_tokens: int = Field(default=128, ge=1)
    """Length limit of the critique."""
    reanswer_max_tokens: int = Field(default=256, ge=1)
    """Length limit of the base model's re-answer."""


class NoiseConfig(StageConfig):
    """How the perturbed twin of each image is made (see `nodes.perturb`)."""

    kind: Kind = "ddpm"
    """Perturbation: `ddpm` (the paper's), `gaussian`, `occlusion`, `mosaic`, `blur` or `viewpoint`."""
    level: float = Field(default=0.5, ge=0.0, le=1.0)
    """Strength from 0 (none) to 1 (strongest); for `ddpm` the step is round(level * 999)."""
    region: Literal["question", "global", "box", "model"] = "question"
    """Where to perturb: `question` = the patches most relevant to the question (needs a relevance model, e.g. the
    graph's `relevance=`; without one the whole image, recorded as a fallback), `global` = the whole image,
    `box` = inside `box`, `model` = the boxes each candidate's own grounded response names (needs `grounding`
    enabled; a response that names none falls back to `question`, recorded)."""
    top_fraction: float = Field(default=0.25, gt=0.0, le=1.0)
    """For `question`: the fraction of image patches perturbed, most relevant first."""
    box: tuple[float, float, float, float] | None = None
    """For `box`: (left, top, right, bottom) as fractions of the image size."""
    seed: int = 0
    """Noise seed: the same seed gives the same twin."""

    @model_validator(mode="after")
    def _box_matches_region(self) -> NoiseConfig:
        if (self.region == "box") != (self.box is not None):
            raise ValueError("set region='box' together with box=(left, top, right, bottom), or neither")
        return self


Scored = Literal["answer", "answer_given_rationale", "response"]


class SelfCheckConfig(StageConfig):
    """Visual self-check by contrast between the clean and a perturbed image (docs/method.md section 4.3)."""

    enabled: bool = True
    """Include the self-check in the graph."""
    form: Literal["score", "decode"] = "score"
    """`score`: contrastive answer scoring, s(a) = (1+alpha) log P(a|i) - alpha log P(a|i'), works with any vLLM
    server. `decode`: true step-wise contrastive decoding; needs a model with `contrastive_generate` (the in-process
    `TransformersEngine`); other models fall back to `score` (recorded)."""
    scored: Scored = "answer"
    """`score` form: what P(a) reads: ``answer`` (the answer alone as the reply, the spec's form and the best of the
    three on held-out ShapesVQA: docs/experiments/self-check-forms.md), ``answer_given_rationale`` (the answer span
    of the candidate's representative response, its rationale teacher-forced before it) or ``response`` (the whole
    representative response, length-normalised). See `nodes.self_check`."""
    decode_max_tokens: int = Field(default=64, ge=1)
    """Length limit of the contrastive decode."""
    tau3: float = Field(default=0.5, ge=0.0)
    """Weight of the self-check's pick in the vote table."""
    alpha: float = Field(default=0.5, ge=0.0)
    """Contrast strength."""
    beta: float = Field(default=0.1, gt=0.0, le=1.0)
    """Plausibility cut-off: only candidates with P(a|i) >= beta * max_a' P(a'|i) (sequence probabilities) can be
    picked."""
    max_candidates: int = Field(default=4, ge=1)
    """Score at most this many candidates (the top of the vote table)."""
    noise: NoiseConfig = NoiseConfig()
    """The noised twin."""


class GroundingConfig(StageConfig):
    """The base model answers in the grounded format (SATORI-R1, `nodes.grounding`): a caption, the boxes of its
    evidence, then the answer. The frame must be the one the model writes boxes in (its processor's resize for
    Qwen2.5-VL), or every box lands in the wrong place."""

    enabled: bool = False
    """Ask for grounded responses (the prompt of `nodes.prompts.grounded_prompt`); answers are read from
    ``<answer>``."""
    frame: Literal["resized", "normalized", "original"] = "resized"
    """The model's box frame: `resized` = pixels of the processor's resized input (Qwen2.5-VL), `normalized` = a
    0-`scale` grid (Qwen2-VL and Qwen3-VL write text on 0-1000; a model with location tokens writes bins),
    `original` = the image's own pixels."""
    scale: float = Field(default=1000.0, gt=0.0)
    """`normalized`: the grid's largest coordinate (1000 for Qwen2-VL and Qwen3-VL; bins - 1 for a model that writes
    ``<loc_K>`` tokens on a grid of bins per axis)."""
    min_pixels: int = Field(default=56 * 56, ge=1)
    """`resized`: the processor's min_pixels."""
    max_pixels: int = Field(default=28 * 28 * 16384, ge=1)
    """`resized`: the processor's max_pixels."""
    factor: int = Field(default=28, ge=1)
    """`resized`: patch size times merge size (28 for Qwen2.5-VL)."""

    @model_validator(mode="after")
    def _pixels_ordered(self) -> GroundingConfig:
        if self.min_pixels > self.max_pixels:
            raise ValueError("set min_pixels <= max_pixels (the processor's own values)")
        return self

    def box_frame(self) -> BoxFrame:
        """The frame as `nodes.grounding.BoxFrame`."""
        return BoxFrame(self.frame, self.min_pixels, self.max_pixels, self.factor, self.scale)


class StepConfig(StageConfig):
    """Step-level confidence (MMBoundary, `nodes.steps`): how responses are cut into steps and how each step's
    signals (likelihood, top-k certainty, visual agreement) combine into its confidence."""

    splitter: Splitter = "sentences"
    """`sentences`, or `clauses` (sentences cut again at commas, semicolons and colons: one listed item a step)."""
    weights: dict[str, float] = Field(default_factory=lambda: dict.fromkeys(SIGNALS, 1.0))
    """Weight per signal (`likelihood`, `certainty`, `visual`); 0 leaves a signal out."""
    bias: float | None = None
    """None: a step's confidence is the weighted mean of its signals. A number (fitted by `catts calibrate`): the
    logistic sigmoid(bias + sum of weight * signal)."""

    @model_validator(mode="after")
    def _known_signals(self) -> StepConfig:
        unknown = sorted(set(self.weights) - set(SIGNALS))
        if unknown:
            raise ValueError(f"steps.weights has unknown signal(s) {unknown}; use {list(SIGNALS)}")
        if self.bias is None and any(w < 0 for w in self.weights.values()):
            raise ValueError("steps.weights must be >= 0 for the weighted mean (set bias for a fitted combination)")
        return self


class PlannerConfig(StageConfig):
    """The expert as Planner orders the verification modules (invalid plans fall back to the default order)."""

    enabled: bool = False
    """Ask the expert for the module order (one extra expert call per question)."""
    max_tokens: int = Field(default=32, ge=1)
    """Length limit of the plan."""


class StopRule(StageConfig):
    """When the sequential policy stops drawing: the posterior probability that the vote's leader stays the leader
    (`nodes.stopping`), from the samples' confidence-weighted votes and the expert's own answer. Fit it on a dev set
    with ``catts calibrate --stop``."""

    first: int = Field(default=1, ge=1, le=64)
    """Samples in the first round; each later round draws as many again as drawn so far, up to N."""
    threshold: float = Field(default=0.85, gt=0.0, le=1.0)
    """Stop once P(leader stays the leader) reaches this."""
    prior: float = Field(default=1.0, gt=0.0)
    """Beta pseudo-count added to the leader's and the runner-up's effective counts (larger: more samples)."""
    expert_weight: float = Field(default=1.0, ge=0.0)
    """Votes the expert's own answer to the plain question counts for (asked once, beside the first round; the
    Voter in the `answer` form reuses it; without an expert the base model answers greedily); 0 = not asked. With
    the defaults, one sample that agrees with the expert settles the vote."""
    min_weakest_step: float | None = Field(default=None, ge=0.0, le=1.0)
    """Also needed before stopping: the mean, over the leader's samples, of each one's weakest step confidence
    (>= stops; see `steps`); None = not checked. A leader no sample gave, or whose steps are unsure, draws on."""


class RoutingConfig(StageConfig):
    """How much work runs: `paper` draws N samples and runs every enabled module once; `adaptive` stops sampling at
    half of N and skips modules when the vote is already decisive; `sequential` draws in rounds (2, 4, 8, ... up to
    N) until the `stop` rule says the leader is settled, then skips modules as `adaptive` does."""

    policy: Literal["paper", "adaptive", "sequential"] = "paper"
    """Routing policy."""
    sampling: Gate = Gate()
    """Draw half of N first and stop there when its vote clears this gate (adaptive only, N >= 4)."""
    stop: StopRule = StopRule()
    """When to stop drawing rounds (sequential only)."""
    critic: Gate = Gate()
    """Skip the critic when the vote clears this gate (adaptive and sequential)."""
    self_check: Gate = Gate()
    """Skip the self-check when the vote clears this gate (adaptive and sequential)."""
    skip_futile: bool = False
    """Under every policy, skip the modules left when even their largest votes (``tau2``, ``tau3``) all given to one
    other answer could not overturn the leader: the answer is the same, the calls are saved (the confidence, the
    leader's share of the table, is then read without their votes). False (the default) runs them, as the paper
    does."""


class ConfidenceConfig(StageConfig):
    """Which confidence the graph reads as each sample's declared one (`nodes.declared`): in the `confidence`
    weighting of the vote, the gates' `min_confidence` and the self-check's plausibility cut-off."""

    source: ConfidenceSource = "auto"
    """`nmlp` (the paper's, for a model that states nothing), `stated` (the confidence a calibrated model declares
    after its answer, ``(answer confidence: 7/10)``) or `auto`: `stated` when at least half of the run's samples
    declare one, else `nmlp`. A run's output `settings` record the source in force."""
    elicit: Elicit = "missing"
    """Under `stated`, which samples have their statement elicited by a short teacher-forced request
    (`nodes.elicit`): `missing` (those that wrote none readable; the rest are read as written) or `all` (the samples,
    and eval's greedy answer, are drawn with generation stopped where the statement opens, and every one has its
    statement elicited: a sampled answer is never followed by a sampled statement). `all` needs `source='stated'`."""

    @model_validator(mode="after")
    def _all_needs_stated(self) -> ConfidenceConfig:
        if self.elicit == "all" and self.source != "stated":
            raise ValueError(
                f"confidence.elicit='all' draws the samples without their statements and elicits every one, so the "
                f"statements are the declared confidence: set confidence.source='stated' (got '{self.source}'), or "
                "keep elicit='missing'"
            )
        return self


class CATTSConfig(StageConfig):
    """Every stage of CA-TTS, with the paper's defaults (N = 8, T = 1.0, top-k 40, tau1 = tau2 = tau3 = 0.5,
    alpha = 0.5, beta = 0.1, every module run once)."""

    sampling: SamplingConfig = SamplingConfig()
    """Self-consistency sampling."""
    vote: VoteConfig = VoteConfig()
    """Vote weighting and the expert as Voter."""
    critic: CriticConfig = CriticConfig()
    """Self-reflection with the expert as Critic."""
    self_check: SelfCheckConfig = SelfCheckConfig()
    """Visual self-check."""
    planner: PlannerConfig = PlannerConfig()
    """The expert as Planner (off by default)."""
    routing: RoutingConfig = RoutingConfig()
    """`paper` (run all), `adaptive` (skip decisive modules) or `sequential` (draw until settled, then as
    `adaptive`)."""
    grounding: GroundingConfig = GroundingConfig()
    """Grounded responses (caption, evidence boxes, answer); off by default."""
    steps: StepConfig = StepConfig()
    """Reasoning steps and their confidence, recorded for every sample."""
    confidence: ConfidenceConfig = ConfidenceConfig()
    """The declared confidence the graph reads: NMLP, stated, or detected from the samples (the default)."""

    @model_validator(mode="after")
    def _model_region_needs_grounding(self) -> CATTSConfig:
        if self.self_check.noise.region == "model" and not self.grounding.enabled:
            raise ValueError(
                "self_check.noise.region='model' noises the boxes a grounded response names: enable grounding "
                "(grounding.enabled=True, with the model's box frame) or pick another region"
            )
        return self
