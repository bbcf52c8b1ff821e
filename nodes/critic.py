"""`CriticNode`: the expert critiques the leading answer; the base model re-answers with it (docs/method.md
section 4.2)."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from langgraph.runtime import Runtime

from nodes.answers import extract_answer
from nodes.common import (
    emit,
    is_grounded,
    question_messages,
    representative_sample,
    representative_text,
    vote_summary,
)
from nodes.config import CriticConfig
from nodes.declared import run_elicit
from nodes.elicit import statement_stop
from nodes.errors import is_service_fault
from nodes.expert import Expert
from nodes.images import data_urls
from nodes.prompts import critic_prompt, reanswer_prompt
from nodes.protocol import Message, SamplingParams, VisionLanguageModel
from nodes.run_context import stage_from_context
from nodes.state import CATTSState, Usage, VoteContribution
from nodes.steps import weakest_step_text

CHARS_PER_TOKEN = 4  # a critique longer than this many characters per requested token is cut (garbage experts)
_MAX_PENDING = 1024  # critiques kept for tasks whose re-answer has not succeeded yet


class CriticNode:
    """Adds ``tau2`` to the base model's re-answer after the expert's critique of the leading answer.

    With no leading answer (every sample unparseable) it does nothing and records why. An expert failure is
    recorded and the re-answer proceeds without a critique; an over-long critique is cut to about
    `critique_max_tokens`; an unparseable re-answer does not vote.
    """

    def __init__(self, model: VisionLanguageModel, expert: Expert, *, config: CriticConfig | None = None):
        self.model = model
        self.expert = expert
        self.config = config or CriticConfig()
        self._critiques: OrderedDict[str, tuple[str, Usage, list[str]]] = OrderedDict()  # by task, for retries

    async def __call__(self, state: CATTSState, runtime: Runtime[Any]) -> dict[str, Any]:
        config = stage_from_context(runtime.context, "critic", self.config)
        leading = vote_summary(state)["leader"]
        if leading is None:
            return {"critique": None, "fallbacks": ["critic: no parseable answer to critique; skipped"]}
        rationale = representative_text(state, leading)
        sample = representative_sample(state, leading)
        weakest = weakest_step_text(sample["steps"]) if config.show_weakest_step and sample else None
        # A retry of this task (the re-answer failed transiently) reuses the critique instead of asking again.
        task = runtime.execution_info.task_id if runtime.execution_info else None
        if task is not None and task in self._critiques:
            critique, expert_usage, expert_fallbacks = self._critiques[task]
        else:
            critique, expert_usage, expert_fallbacks = await self._critique(state, leading, rationale, config, weakest)
            if task is not None:
                self._critiques[task] = (critique, expert_usage, expert_fallbacks)
                while len(self._critiques) > _MAX_PENDING:
                    self._critiques.popitem(last=False)
        usage: Usage = {**expert_usage}
        fallbacks = list(expert_fallbacks)
        grounded = is_grounded(state)
        messages = [
            *question_messages(state, grounded=grounded),
            Message.assistant(rationale),
            Message("user", reanswer_prompt(critique, has_choices=bool(state.get("choices")), grounded=grounded)),
        ]
        params = SamplingParams(n=1, temperature=0.0, max_tokens=config.reanswer_max_tokens, top_logprobs=1)
        params = statement_stop(params, run_elicit(state))  # under `all` it too stops where the statement opens
        reply = (await self.model.sample(messages, params))[0]
        usage["prompt_tokens"] += reply.prompt_tokens
        usage["completion_tokens"] += reply.completion_tokens
        usage["model_calls"] += 1
        answer = extract_answer(reply.text, answer_type=state.get("answer_type"), choices=state.get("choices"))
        contributions: list[VoteContribution] = []
        if answer is not None:
            contributions.append({"module": "critic", "votes": {answer: config.tau2}})
        else:
            fallbacks.append("critic: the re-answer had no parseable answer; no critic vote")
        if task is not None:
            self._critiques.pop(task, None)
        record = {"critiqued": leading, "weakest_step": weakest, "critique": critique, "reanswer": reply.text,
                  "answer": answer}  # fmt: skip
        emit(
            {
                "event": "votes",
                "after": "critic",
                **vote_summary(state, contributions[0]["votes"] if contributions else None),
            }
        )
        return {
            "critique": record,
            "contributions": contributions,
            "modules_run": ["critic"],
            "usage": usage,
            "fallbacks": fallbacks,
        }

    async def _critique(
        self, state: CATTSState, leading: str, rationale: str, config: CriticConfig, weakest: str | None
    ) -> tuple[str, Usage, list[str]]:
        """The expert's critique of `leading` (a generic request to double-check when it fails or says nothing)."""
        usage: Usage = {"prompt_tokens": 0, "completion_tokens": 0, "model_calls": 0, "expert_calls": 1}
        fallbacks: list[str] = []
        prompt = critic_prompt(state["question"], leading, rationale, state.get("choices"), weakest_step=weakest)
        images = data_urls(state.get("images") or [])
        try:
            reply = await self.expert.complete(
                [Message("user", prompt, images)], max_tokens=config.critique_max_tokens
            )
            critique = reply.text.strip()[: CHARS_PER_TOKEN * config.critique_max_tokens]  # bounds the re-ask
            usage["prompt_tokens"] += reply.prompt_tokens
            usage["completion_tokens"] += reply.completion_tokens
        except Exception as e:  # the expert is optional: a service fault degrades, recorded
            if not is_service_fault(e):
                raise  # a bug in the expert's code: not a fault to degrade around
            critique = ""
            fallbacks.append(f"critic: expert call failed ({type(e).__name__}: {e}); re-answered without a critique")
        if not critique:
            critique = "Please double-check the answer."
            fallbacks.append("critic: empty critique; used a generic request to double-check")
        return critique, usage, fallbacks
