"""`CATTSConfig` and the stage configs it bundles (defined in `nodes.config`; re-exported here for the graph's users).

Pass it to `create_catts_graph(config=...)` for the graph's defaults, or as a run's LangGraph context
(`graph.invoke(inputs, context=CATTSConfig(...))`) to override them for that run only.
"""

from __future__ import annotations

from nodes.config import (
    CATTSConfig,
    ConfidenceConfig,
    CriticConfig,
    Gate,
    GroundingConfig,
    NoiseConfig,
    PlannerConfig,
    RoutingConfig,
    SamplingConfig,
    SelfCheckConfig,
    VoteConfig,
)

__all__ = [
    "CATTSConfig",
    "ConfidenceConfig",
    "CriticConfig",
    "Gate",
    "GroundingConfig",
    "NoiseConfig",
    "PlannerConfig",
    "RoutingConfig",
    "SamplingConfig",
    "SelfCheckConfig",
    "VoteConfig",
]
