"""`catts demo`: the main job on the embedded default, end to end on this machine.

Until the ShapesVQA models ship, the demo builds the small smoke-test model, serves it with vLLM on loopback, asks one
question about a drawn image through the model protocol (N samples with top-20 log-probs), and prints the
confidence-weighted answer with its confidence. Random weights: the answer is noise; the path is real.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

from catts_graph.server import ServerOptions, serve_vllm
from nodes.answers import extract_answer
from nodes.protocol import Message, Sample, SamplingParams


def register(sub: Any) -> None:
    p = sub.add_parser(
        "demo",
        help="build, serve and query a small model end to end",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--out", type=Path, default=Path("catts-demo-out"), help="output folder (default: %(default)s)")
    p.add_argument("--n", type=int, default=8, help="samples per question (default: %(default)s)")
    p.set_defaults(handler=run)


def draw_demo_image(path: Path) -> Path:
    """A 112x112 picture with a red circle and a blue square."""
    img = Image.new("RGB", (112, 112), (245, 245, 245))
    draw = ImageDraw.Draw(img)
    draw.ellipse((14, 20, 44, 50), fill=(220, 40, 40))
    draw.rectangle((60, 58, 94, 92), fill=(40, 80, 220))
    img.save(path)
    return path


def weighted_vote(samples: list[Sample]) -> tuple[str | None, float, dict[str, float]]:
    """Confidence-weighted vote over parsed answers: (answer, its share, all shares)."""
    weights: dict[str, float] = defaultdict(float)
    for s in samples:
        answer = extract_answer(s.text, answer_type="integer")
        if answer is not None and s.confidence == s.confidence:  # skip NaN confidence
            weights[answer] += s.confidence
    total = sum(weights.values())
    if not total:
        return None, 0.0, {}
    shares = {a: w / total for a, w in sorted(weights.items(), key=lambda kv: -kv[1])}
    best = next(iter(shares))
    return best, shares[best], shares


async def ask(base_url: str, model: str, image: Path, question: str, n: int) -> dict[str, Any]:
    from catts_graph.vllm_client import VLLMClient

    async with VLLMClient(base_url, model) as client:
        messages = [Message.user(question, images=[image])]
        samples = await client.sample(messages, SamplingParams(n=n, temperature=1.0, max_tokens=48))
        greedy = (await client.sample(messages, SamplingParams(n=1, temperature=0.0, max_tokens=48)))[0]
    answer, share, shares = weighted_vote(samples)
    return {
        "question": question,
        "greedy_text": greedy.text,
        "greedy_confidence": greedy.confidence,
        "answer": answer,
        "vote_share": share,
        "votes": shares,
        "unparseable": sum(extract_answer(s.text, answer_type="integer") is None for s in samples),
        "mean_confidence": sum(s.confidence for s in samples) / len(samples),
        "tokens": samples[0].prompt_tokens * 2 + sum(s.completion_tokens for s in samples) + greedy.completion_tokens,
    }


def run(args: argparse.Namespace) -> int:
    from catts_graph.tiny_vlm import make_tiny_model

    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    model_dir = out / "tiny-model"
    if not (model_dir / "config.json").is_file():
        print(f"building the smoke-test model in {model_dir} ...")
        make_tiny_model(model_dir, seed=0)
    image = draw_demo_image(out / "demo.png")
    question = "How many shapes are there?"
    print("starting vLLM on loopback (about 1-2 minutes on 2 cores) ...")
    with serve_vllm(model_dir, ServerOptions(max_model_len=1024)) as server:
        print(f"server up at {server.base_url} (model {server.model!r}); asking {args.n} samples ...")
        result = asyncio.run(ask(server.base_url, server.model, image, question, args.n))
    print()
    print(f"question        : {question}  (image: {image})")
    print(f"greedy reply    : {result['greedy_text']!r}")
    print(f"greedy conf.    : {result['greedy_confidence']:.3f}  (NMLP, higher = more confident)")
    print(
        f"voted answer    : {result['answer']}  (vote share {result['vote_share']:.2f}; "
        f"{result['unparseable']} of {args.n} samples had no parseable answer)"
    )
    print(f"mean confidence : {result['mean_confidence']:.3f}")
    print(f"tokens          : {result['tokens']}")
    (out / "summary.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {out / 'summary.json'}; the server was stopped.")
    return 0
