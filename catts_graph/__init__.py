"""catts-graph: Confidence-Aware Test-Time Scaling (CA-TTS) for vision-language models on a local vLLM server.

Importing this package does not import torch; model building and training import it inside the functions that
need it.
"""

from catts_graph.graph.builder import build_catts_graph, create_catts_graph
from catts_graph.graph.config import (
    CATTSConfig,
    CriticConfig,
    Gate,
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
    ContextTooLongError,
    LogprobsNotEnabledError,
    ModelNotFoundError,
    RequestRejectedError,
    RetriesExhaustedError,
    ServerError,
    ServerStartError,
    ServerTimeoutError,
    ServerUnreachableError,
)
from catts_graph.serving.server import RunningServer, ServerOptions, VLLMServerProcess, serve_vllm
from catts_graph.serving.vllm_client import VLLMClient

__all__ = [
    "CATTSConfig",
    "ClipRelevance",
    "ContextTooLongError",
    "CriticConfig",
    "Gate",
    "LogprobsNotEnabledError",
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
    "VLLMClient",
    "VLLMServerProcess",
    "VoteConfig",
    "as_tool",
    "build_catts_graph",
    "create_catts_graph",
    "serve_vllm",
]
