"""Embed CA-TTS in an async application: one graph, many questions, answers with their confidence.

CATTS_BASE_URL=http://127.0.0.1:8000 python examples/embed_in_app.py [IMAGE [QUESTION]]
"""

from __future__ import annotations

import asyncio
import json

from _common import endpoint, image_and_question

from catts_graph import CATTSConfig, VLLMClient, create_catts_graph


async def main() -> None:
    base_url, model_name = endpoint()
    image, question = image_and_question()
    config = CATTSConfig.model_validate({"sampling": {"n": 4, "max_tokens": 64}, "routing": {"policy": "adaptive"}})
    async with VLLMClient(base_url, model_name) as model:
        graph = create_catts_graph(model, config=config)
        questions = [question, "How many shapes are there?"]
        outs = await asyncio.gather(*(graph.ainvoke({"question": q, "images": [image]}) for q in questions))
    for q, out in zip(questions, outs, strict=True):
        summary = {
            "question": q,
            "answer": out["answer"],
            "confidence": round(out["confidence"], 3),
            "modules_run": out["modules_run"],
            "completion_tokens": out["usage"]["completion_tokens"],
        }
        print(json.dumps(summary))


if __name__ == "__main__":
    asyncio.run(main())
