"""catts-graph: Confidence-Aware Test-Time Scaling (CA-TTS) for vision-language models on a local vLLM server.

The data path reads from the subpackages: `graph` (create_catts_graph, its config, the sync bridge, as_tool, the
LangGraph app) calls models through `serving` (the vLLM client and server, chat models, the in-process engine);
`benchmarks` (the item contract, grading, loaders) feeds `evaluation` (catts eval, calibrate, judge, RH-AUC, probe,
bench, plots); `perception` (CLIP relevance, regions) and `shapes` (the synthetic world and the bundled models) serve
both; `cli` is the `catts` command. The stage nodes, the gate and the maths are in the `nodes` package.

Importing this package does not import torch; model building and training import it inside the functions that
need it.
"""

from catts_graph.graph.builder import build_catts_graph, create_catts_graph
from catts_graph.graph.config import (
    CATTSConfig,
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
from catts_graph.graph.tool import as_tool
from catts_graph.perception.clip_relevance import ClipRelevance
from catts_graph.serving.errors import (
    CattsError,
    ContextTooLongError,
    InvalidImageError,
    InvalidInputError,
    LogprobsNotEnabledError,
    ModelError,
    ModelNotFoundError,
    RequestRejectedError,
    RetriesExhaustedError,
    ServerError,
    ServerStartError,
    ServerTimeoutError,
    ServerUnreachableError,
    TransientModelError,
)
from catts_graph.serving.server import RunningServer, ServerOptions, VLLMServerProcess
from catts_graph.serving.vllm_client import VLLMClient
from nodes.errors import ExpertUnavailableError

__all__ = [
    "CATTSConfig",
    "CattsError",
    "ClipRelevance",
    "ContextTooLongError",
    "CriticConfig",
    "ExpertUnavailableError",
    "Gate",
    "GroundingConfig",
    "InvalidImageError",
    "InvalidInputError",
    "LogprobsNotEnabledError",
    "ModelError",
    "ModelNotFoundError",
    "NoiseConfig",
    "PlannerConfig",
    "RequestRejectedError",
    "RetriesExhaustedError",
    "RoutingConfig",
    "RunningServer",
    "SamplingConfig",
    "SelfCheckConfig",
    "ServerError",
    "ServerOptions",
    "ServerStartError",
    "ServerTimeoutError",
    "ServerUnreachableError",
    "TransientModelError",
    "VLLMClient",
    "VLLMServerProcess",
    "VoteConfig",
    "as_tool",
    "build_catts_graph",
    "create_catts_graph",
]
