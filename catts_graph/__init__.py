"""catts-graph: Confidence-Aware Test-Time Scaling (CA-TTS) for vision-language models on a local vLLM server.

Importing this package does not import torch; model building and training import it inside the functions that
need it.
"""

from catts_graph.errors import (
    ContextTooLongError,
    LogprobsNotEnabledError,
    ModelNotFoundError,
    RequestRejectedError,
    ServerError,
    ServerStartError,
    ServerTimeoutError,
    ServerUnreachableError,
)
from catts_graph.server import RunningServer, ServerOptions, VLLMServerProcess, serve_vllm
from catts_graph.vllm_client import VLLMClient

__all__ = [
    "ContextTooLongError",
    "LogprobsNotEnabledError",
    "ModelNotFoundError",
    "RequestRejectedError",
    "RunningServer",
    "ServerError",
    "ServerOptions",
    "ServerStartError",
    "ServerTimeoutError",
    "ServerUnreachableError",
    "VLLMClient",
    "VLLMServerProcess",
    "serve_vllm",
]
