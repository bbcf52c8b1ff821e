"""The graph `langgraph dev` serves (see langgraph.json). This module is an application edge: it reads its settings
from the environment, which library code never does.

- ``CATTS_BASE_URL`` (required): the vLLM server of the base model; ``CATTS_MODEL``: its model name.
- ``CATTS_EXPERT_BASE_URL`` + ``CATTS_EXPERT_MODEL`` (optional): an OpenAI-compatible expert, with its key in
  ``CATTS_EXPERT_API_KEY`` (never logged or traced); without them the base model is its own expert.
- ``CATTS_POLICY`` (``paper`` or ``adaptive``, default ``paper``) and ``CATTS_N`` (default 8).

The server environment has no torch, so the self-check noises the whole image (no CLIP relevance model).

    make langgraph-dev    # or: CATTS_BASE_URL=http://127.0.0.1:8000 .venv-server/bin/langgraph dev
"""

from __future__ import annotations

import os

from catts_graph.graph.builder import create_catts_graph
from catts_graph.graph.config import CATTSConfig
from catts_graph.serving.chat import EXPERT_KEY_ENV, chat_model
from catts_graph.serving.vllm_client import VLLMClient


def graph_from_environment(env: dict[str, str]) -> object:
    """The compiled CA-TTS graph configured by `env` (see the module docstring)."""
    base_url = env.get("CATTS_BASE_URL")
    if not base_url:
        raise RuntimeError("set CATTS_BASE_URL to the base model's vLLM server, e.g. http://127.0.0.1:8000")
    expert = None
    if env.get("CATTS_EXPERT_BASE_URL"):
        if not env.get("CATTS_EXPERT_MODEL"):
            raise RuntimeError("CATTS_EXPERT_BASE_URL needs CATTS_EXPERT_MODEL too")
        key = env.get(EXPERT_KEY_ENV, "EMPTY")
        expert = chat_model(env["CATTS_EXPERT_BASE_URL"], env["CATTS_EXPERT_MODEL"], timeout=300, api_key=key)
    config = CATTSConfig.model_validate(
        {
            "sampling": {"n": int(env.get("CATTS_N", "8"))},
            "routing": {"policy": env.get("CATTS_POLICY", "paper")},
            "self_check": {"noise": {"region": "global"}},
        }
    )
    model = VLLMClient(base_url, env.get("CATTS_MODEL") or None, timeout_s=300)
    return create_catts_graph(model, expert=expert, config=config, name="catts")


graph = graph_from_environment(dict(os.environ))
