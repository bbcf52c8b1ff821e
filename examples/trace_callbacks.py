"""Trace a run with a LangChain callback handler: the run tree (graph, nodes, model calls) with its metadata.

The same runs reach LangSmith with `LANGSMITH_TRACING=true` and `LANGSMITH_API_KEY` set. Images show as
`<image: image/png, N bytes>` unless the graph is built with `trace_images=True`.

    CATTS_BASE_URL=http://127.0.0.1:8000 python examples/trace_callbacks.py [IMAGE [QUESTION]]
"""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID

from _common import endpoint, image_and_question
from langchain_core.callbacks import AsyncCallbackHandler

from catts_graph import CATTSConfig, VLLMClient, create_catts_graph


class TreePrinter(AsyncCallbackHandler):
    """Prints each run as it starts, indented under its parent."""

    def __init__(self) -> None:
        self.depth: dict[UUID, int] = {}

    def _show(self, run_id: UUID, parent: UUID | None, kind: str, name: str, extra: str = "") -> None:
        self.depth[run_id] = self.depth.get(parent, -1) + 1 if parent else 0
        print(f"{'  ' * self.depth[run_id]}{kind} {name}{extra}")

    async def on_chain_start(self, serialized: Any, inputs: Any, *, run_id: UUID, parent_run_id: UUID | None = None,
                             metadata: dict[str, Any] | None = None, **kwargs: Any) -> None:  # fmt: skip
        meta = metadata or {}
        extra = f"  policy={meta['catts_policy']} n={meta['catts_n']}" if parent_run_id is None else ""
        self._show(run_id, parent_run_id, "chain", kwargs.get("name") or "?", extra)

    async def on_chat_model_start(self, serialized: Any, messages: Any, *, run_id: UUID,
                                  parent_run_id: UUID | None = None, **kwargs: Any) -> None:  # fmt: skip
        params = kwargs.get("invocation_params", {})
        self._show(run_id, parent_run_id, "model", kwargs.get("name") or "?", f"  ({params.get('call')})")


async def main() -> None:
    base_url, model_name = endpoint()
    image, question = image_and_question()
    config = CATTSConfig.model_validate({"sampling": {"n": 4, "max_tokens": 64}})
    async with VLLMClient(base_url, model_name) as model:
        graph = create_catts_graph(model, config=config, name="catts")
        out = await graph.ainvoke({"question": question, "images": [image]}, {"callbacks": [TreePrinter()]})
    print(f"answer {out['answer']} confidence {out['confidence']:.2f}")


if __name__ == "__main__":
    asyncio.run(main())
