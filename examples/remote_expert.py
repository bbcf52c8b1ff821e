"""Use a remote OpenAI-compatible model as the expert (Planner, Voter, Critic) beside the local base model.

The expert is any LangChain chat model; here `ChatOpenAI` pointed at CATTS_EXPERT_BASE_URL with the model
CATTS_EXPERT_MODEL, its key read from CATTS_EXPERT_API_KEY (never printed, logged or traced).

    CATTS_BASE_URL=http://127.0.0.1:8000 CATTS_EXPERT_BASE_URL=https://api.example.com/v1 \\
    CATTS_EXPERT_MODEL=big-vlm CATTS_EXPERT_API_KEY=... python examples/remote_expert.py [IMAGE [QUESTION]]
"""

from __future__ import annotations

import asyncio
import os
import sys

from _common import endpoint, image_and_question
from langchain_openai import ChatOpenAI
from pydantic import SecretStr

from catts_graph import CATTSConfig, VLLMClient, create_catts_graph


async def main() -> None:
    base_url, model_name = endpoint()
    expert_url, expert_model = os.environ.get("CATTS_EXPERT_BASE_URL"), os.environ.get("CATTS_EXPERT_MODEL")
    if not (expert_url and expert_model):
        sys.exit("set CATTS_EXPERT_BASE_URL and CATTS_EXPERT_MODEL (and CATTS_EXPERT_API_KEY if it needs one)")
    expert = ChatOpenAI(
        model=expert_model,
        base_url=expert_url,
        api_key=SecretStr(os.environ.get("CATTS_EXPERT_API_KEY", "EMPTY")),
        temperature=0.0,
        timeout=120,
    )
    image, question = image_and_question()
    config = CATTSConfig.model_validate(
        {"sampling": {"n": 4, "max_tokens": 64}, "critic": {"critique_max_tokens": 64, "reanswer_max_tokens": 64}}
    )
    async with VLLMClient(base_url, model_name) as model:
        graph = create_catts_graph(model, expert=expert, config=config)
        out = await graph.ainvoke({"question": question, "images": [image]})
    print(f"answer {out['answer']} confidence {out['confidence']:.2f} expert calls {out['usage']['expert_calls']}")
    for fallback in out["fallbacks"]:
        print("fallback:", fallback)


if __name__ == "__main__":
    asyncio.run(main())
