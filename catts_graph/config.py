"""`CATTSConfig`: the whole graph's configuration, one frozen stage config per module.

Pass it to `create_catts_graph(config=...)` for the graph's defaults, or as a run's LangGraph context
(`graph.invoke(inputs, context=CATTSConfig(...))`) to override them for that run only.

Example:
    >>> config = CATTSConfig(sampling=SamplingConfig(n=16), routing=RoutingConfig(policy="adaptive"))
    >>> config.sampling.n, config.routing.policy, config.vote.tau1
    (16, 'adaptive', 0.5)
"""

from __future__ import annotations

from nodes.config import (
    CriticConfig,
    Gate,
    NoiseConfig,
    PlannerConfig,
    RoutingConfig,
    SamplingConfig,
    SelfCheckConfig,
    StageConfig,
    VoteConfig,
)

__all__ = [
    "CATTSConfig",
    "CriticConfig",
    "Gate",
    "NoiseConfig",
    "PlannerConfig",
    "RoutingConfig",
    "SamplingConfig",
    "SelfCheckConfig",
    "VoteConfig",
]


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
    """`paper` (run all) or `adaptive` (skip decisive modules)."""
