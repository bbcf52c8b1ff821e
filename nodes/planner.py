"""`PlannerNode`: the expert orders the verification modules; an invalid plan falls back to the default order."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langgraph.runtime import Runtime

from nodes.config import PlannerConfig
from nodes.errors import is_service_fault
from nodes.expert import Expert
from nodes.images import data_urls
from nodes.parsing import parse_plan
from nodes.prompts import planner_prompt
from nodes.protocol import Message
from nodes.run_context import stage_from_context
from nodes.state import CATTSState, Usage


class PlannerNode:
    """Writes `plan`: the order of `modules` (e.g. ``["critic", "self_check"]``) chosen by the expert."""

    def __init__(self, expert: Expert, *, modules: Sequence[str], config: PlannerConfig | None = None):
        self.expert = expert
        self.modules = tuple(modules)
        self.config = config or PlannerConfig()

    async def __call__(self, state: CATTSState, runtime: Runtime[Any]) -> dict[str, Any]:
        config = stage_from_context(runtime.context, "planner", self.config)
        default = list(self.modules)
        if len(self.modules) < 2:
            return {"plan": default}
        messages = [Message("user", planner_prompt(state["question"]), data_urls(state.get("images") or []))]
        usage: Usage = {"prompt_tokens": 0, "completion_tokens": 0, "model_calls": 0, "expert_calls": 1}
        try:
            reply = await self.expert.complete(messages, max_tokens=config.max_tokens)
        except Exception as e:  # the expert is optional: a service fault degrades, recorded
            if not is_service_fault(e):
                raise  # a bug in the expert's code: not a fault to degrade around
            reason = f"planner: expert call failed ({type(e).__name__}: {e}); default order {default}"
            return {"plan": default, "usage": usage, "fallbacks": [reason], "modules_run": ["planner"]}
        usage["prompt_tokens"], usage["completion_tokens"] = reply.prompt_tokens, reply.completion_tokens
        plan = parse_plan(reply.text, self.modules)
        update: dict[str, Any] = {"plan": plan or default, "usage": usage, "modules_run": ["planner"]}
        if plan is None:
            update["fallbacks"] = [f"planner: invalid plan {reply.text[:80]!r}; default order {default}"]
        return update
