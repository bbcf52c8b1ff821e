"""`catts demo`: the main job on the embedded default, end to end on this machine.

Builds the smoke-test model (a tiny Qwen2.5-VL fine-tuned for a few seconds on ShapesVQA), serves it with vLLM on
loopback, runs greedy decoding and CA-TTS on held-out ShapesVQA items, prints a table and a summary, writes
`summary.json`, and stops the server. The smoke model is weak on purpose: the run proves the path, not accuracy.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

from catts_graph.config import CATTSConfig
from catts_graph.graph import create_catts_graph
from catts_graph.server import ServerOptions, serve_vllm
from catts_graph.shapes import make_item
from catts_graph.vllm_client import VLLMClient
from nodes.answers import extract_answer
from nodes.common import question_messages
from nodes.protocol import SamplingParams
from nodes.state import CATTSInput

HELD_OUT_SEED = 1  # training streams never use seeds below 10,000


def register(sub: Any) -> None:
    p = sub.add_parser(
        "demo",
        help="build, serve and run CA-TTS on ShapesVQA items end to end",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--out", type=Path, default=Path("catts-demo-out"), help="output folder (default: %(default)s)")
    p.add_argument("--items", type=int, default=8, help="held-out items to answer (default: %(default)s)")
    p.add_argument("--n", type=int, default=8, help="samples per question (default: %(default)s)")
    p.set_defaults(handler=run)


def majority(samples: list[dict[str, Any]]) -> str | None:
    counts = Counter(s["answer"] for s in samples if s["answer"] is not None)
    return counts.most_common(1)[0][0] if counts else None


async def answer_items(
    base_url: str, model_name: str, items: list[Any], image_dir: Path, n: int
) -> list[dict[str, Any]]:
    config = CATTSConfig.model_validate({"sampling": {"n": n, "max_tokens": 64}})
    async with VLLMClient(base_url, model_name) as model:
        graph = create_catts_graph(model, config=config)
        gate = asyncio.Semaphore(4)

        async def one(item: Any) -> dict[str, Any]:
            image = image_dir / f"{item.id}.png"
            item.render().save(image)
            inputs: CATTSInput = {"question": item.question, "images": [str(image)], "answer_type": item.answer_type}
            async with gate:
                prompt = question_messages(inputs)  # type: ignore[arg-type]  # the input keys are what it reads
                greedy = await model.sample(prompt, SamplingParams(temperature=0.0, max_tokens=64))
                out = await graph.ainvoke(inputs)
            return {
                "id": item.id,
                "question": item.question,
                "gold": item.answer,
                "greedy": extract_answer(greedy[0].text, answer_type=item.answer_type),
                "majority": majority(out["samples"]),
                "catts": out["answer"],
                "confidence": out["confidence"],
                "modules_run": out["modules_run"],
                "tokens": out["usage"]["prompt_tokens"] + out["usage"]["completion_tokens"],
                "greedy_tokens": greedy[0].prompt_tokens + greedy[0].completion_tokens,
            }

        return list(await asyncio.gather(*(one(item) for item in items)))


def print_table(rows: list[dict[str, Any]]) -> None:
    header = f"{'question':38} {'gold':>6} {'greedy':>7} {'CA-TTS':>7} {'conf':>5}  modules"
    print(header)
    print("-" * len(header))
    for r in rows:
        mods = ",".join(m.replace("self_consistency", "sc") for m in r["modules_run"])
        greedy, catts = r["greedy"] or "-", r["catts"] or "-"
        print(f"{r['question'][:38]:38} {r['gold']:>6} {greedy:>7} {catts:>7} {r['confidence']:5.2f}  {mods}")


def run(args: argparse.Namespace) -> int:
    from trainers.shapes_sft import make_smoke_model

    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    model_dir = out / "smoke-model"
    if not (model_dir / "config.json").is_file():
        print(f"building and fine-tuning the smoke-test model in {model_dir} (about 30 s) ...")
        make_smoke_model(model_dir, steps=200)
    items = [make_item(HELD_OUT_SEED, i) for i in range(args.items)]
    image_dir = out / "images"
    image_dir.mkdir(exist_ok=True)
    print("starting vLLM on loopback (about 1-2 minutes on 2 cores) ...")
    started = time.perf_counter()
    with serve_vllm(model_dir, ServerOptions(max_model_len=1024)) as server:
        print(f"server up at {server.base_url}; answering {len(items)} held-out ShapesVQA items ...\n")
        rows = asyncio.run(answer_items(server.base_url, server.model, items, image_dir, args.n))
    print_table(rows)

    def accuracy(key: str) -> float:
        return sum(float(r[key] == r["gold"]) for r in rows) / len(rows)

    summary = {
        "n_items": len(rows),
        "greedy_accuracy": accuracy("greedy"),
        "majority_accuracy": accuracy("majority"),
        "catts_accuracy": accuracy("catts"),
        "tokens": sum(r["tokens"] for r in rows),
        "greedy_tokens": sum(r["greedy_tokens"] for r in rows),
        "wall_s": round(time.perf_counter() - started, 1),
        "model": "smoke (tiny Qwen2.5-VL, 200 SFT steps)",
        "items": rows,
    }
    print(
        f"\naccuracy over {len(rows)} items: greedy {summary['greedy_accuracy']:.2f}, majority "
        f"{summary['majority_accuracy']:.2f}, CA-TTS {summary['catts_accuracy']:.2f}; "
        f"CA-TTS tokens {summary['tokens']}"
    )
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"wrote {out / 'summary.json'}; the server was stopped.")
    return 0
