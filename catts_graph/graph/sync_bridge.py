"""Sync invocation of the async nodes: `graph.invoke` and `graph.stream` work as well as `ainvoke`/`astream`.

The nodes are async (model calls run concurrently). For sync callers, `BridgedNode` pairs each node with a sync
function that runs the coroutine on one long-lived background event loop (the bridge), in the caller's context
(so LangGraph's stream writer and LangChain's callbacks still see the run). One loop for every sync call keeps
async HTTP clients (the expert's `ChatOpenAI`, `VLLMClient`) on a single loop across runs.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from langchain_core.runnables import Runnable, RunnableConfig
from langgraph.runtime import get_runtime

T = TypeVar("T")
_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_THREAD_NAME = "catts-sync-bridge"


def _bridge_loop() -> asyncio.AbstractEventLoop:
    global _loop
    with _lock:
        if _loop is None or _loop.is_closed():
            _loop = asyncio.new_event_loop()
            threading.Thread(target=_loop.run_forever, name=_THREAD_NAME, daemon=True).start()
        return _loop


def run_sync(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run `coroutine` to completion on the bridge loop, in a copy of the caller's context; re-raise its error."""
    loop = _bridge_loop()
    if threading.current_thread().name == _THREAD_NAME:
        coroutine.close()
        raise RuntimeError("sync graph call from inside a running catts node: use `await graph.ainvoke(...)` there")
    context = contextvars.copy_context()
    finished = threading.Event()
    tasks: list[asyncio.Task[T]] = []

    def start() -> None:
        task = loop.create_task(coroutine, context=context)
        task.add_done_callback(lambda _: finished.set())
        tasks.append(task)

    loop.call_soon_threadsafe(start)
    finished.wait()
    return tasks[0].result()  # raises the node's exception in the caller's thread


class BridgedNode(Runnable[Any, Any]):
    """A LangGraph node that runs an async node natively under `ainvoke` and through the bridge under `invoke`.

    It opens no trace run of its own (the node's run is LangGraph's) and reads the run's `Runtime` (context, stream
    writer, store) through LangGraph's public `get_runtime`.
    """

    def __init__(self, node: Callable[[Any, Any], Awaitable[Any]], name: str) -> None:
        self.node = node
        self.name = name

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        return run_sync(self._call(input))

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        return await self._call(input)

    async def _call(self, state: Any) -> Any:
        return await self.node(state, get_runtime())
