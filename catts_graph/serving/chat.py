"""An OpenAI-compatible server as a LangChain chat model: the expert roles and the answer judge talk to it.

Library code never reads the environment; the application edges (the CLI, the LangGraph app) read API keys from the
variables named here and pass them in. Keys are never printed, logged, traced or written to results.
"""

from __future__ import annotations

from typing import Any

API_KEY_ENV = "CATTS_API_KEY"  # the base model's server (--base-url)
EXPERT_KEY_ENV = "CATTS_EXPERT_API_KEY"  # the expert's server
JUDGE_KEY_ENV = "CATTS_JUDGE_API_KEY"  # the answer judge's server


def chat_model(base_url: str, model: str, *, timeout: float, api_key: str = "EMPTY") -> Any:
    """A LangChain `ChatOpenAI` on an OpenAI-compatible server (greedy; its calls show up in traces).

    `base_url` may end in ``/v1`` or not."""
    from langchain_openai import ChatOpenAI

    base = base_url.rstrip("/")
    return ChatOpenAI(
        model=model,
        base_url=base if base.endswith("/v1") else base + "/v1",
        api_key=api_key,
        temperature=0.0,
        timeout=timeout,
        max_retries=2,
    )
