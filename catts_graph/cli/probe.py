"""`catts probe`: the perceptual-bluntness experiment on a served model."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

from tqdm import tqdm

from catts_graph.benchmarks import load_benchmark
from catts_graph.cli.endpoints import INSTALL_TRAIN, model_endpoints
from catts_graph.cli.grounding_options import add_grounding_options, grounding_from
from catts_graph.cli.options import (
    add_benchmark_option,
    add_clip_option,
    add_server_options,
    servers_from,
)
from catts_graph.cli.values import positive_int
from catts_graph.evaluation.plots import plots_unavailable, probe_curves
from catts_graph.evaluation.probe import ProbeSettings, run_probe, summarize
from catts_graph.evaluation.results import finite_json
from catts_graph.graph.config import GroundingConfig
from catts_graph.perception.regions import REGIONS
from catts_graph.serving.vllm_client import VLLMClient
from nodes.errors import InvalidInputError
from nodes.perturb import KINDS

EPILOG = """\
examples:
  catts probe --benchmark shapes --limit 100 --out runs/probe-base
  catts probe --benchmark jsonl:data/items.jsonl --kinds ddpm blur --levels 0 0.5 1 --region global --out DIR
  catts probe --base-url http://127.0.0.1:8000 --benchmark shapes --out DIR

Writes DIR/probe.json (curves per kind and level, the clean-minus-strongest drop per kind, every row) and
DIR/probe.png. Without --base-url the bundled ShapesVQA base model is served on loopback for the run.
"""


def register(sub: Any) -> None:
    p = sub.add_parser(
        "probe",
        help="accuracy and confidence as the evidence is destroyed",
        description="Perturb the image (inside the question's evidence region, or globally) at increasing levels "
        "and measure the served model's greedy accuracy and confidence at each level.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_benchmark_option(p, default="shapes")
    p.add_argument("--limit", type=int, default=100, help="items (default: %(default)s)")
    p.add_argument("--kinds", nargs="+", choices=KINDS, default=["ddpm", "occlusion"], help="perturbations")
    p.add_argument("--levels", nargs="+", type=float, default=[0.0, 0.25, 0.5, 0.75, 1.0], help="levels in [0, 1]")
    p.add_argument(
        "--region",
        choices=[*REGIONS, "model"],
        default="objects",
        help="where to perturb: the asked-about objects (ShapesVQA ground truth), the CLIP-relevant patches, "
        "everywhere, or the boxes the model's own grounded answer names (needs --grounded) (default: %(default)s)",
    )
    p.add_argument("--top-fraction", type=float, default=0.25, help="--region question: share of patches perturbed")
    add_clip_option(
        p,
        purpose="--region question (the patches most relevant to the question)",
        default="the bundled ShapesVQA CLIP with the bundled models; none with --base-url",
    )
    p.add_argument("--seed", type=int, default=0, help="perturbation seed (default: %(default)s)")
    add_server_options(p, expert=False, default="serve the bundled base model")
    add_grounding_options(p, self_check=False)
    p.add_argument("--concurrency", type=positive_int, default=8, help="items in flight (default: %(default)s)")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    levels = sorted(set(args.levels))
    if levels[0] != 0.0 or not all(0.0 <= lv <= 1.0 for lv in levels):
        raise InvalidInputError("--levels must lie in [0, 1] and include 0 (the clean image).")
    if not 0 < args.top_fraction <= 1:
        raise InvalidInputError("--top-fraction must be in (0, 1].")
    grounding = grounding_from(args, bundled=args.base_url is None)
    settings = ProbeSettings(
        tuple(args.kinds),
        tuple(levels),
        args.region,
        args.seed,
        max(1, args.concurrency),
        top_fraction=args.top_fraction,
        grounding=GroundingConfig(**grounding) if grounding else None,
    )
    bench = load_benchmark(args.benchmark, limit=args.limit)
    args.out.mkdir(parents=True, exist_ok=True)
    with model_endpoints(servers_from(args), want_expert=False, timeout=300) as endpoints:
        if args.region in ("question", "model"):
            if endpoints.relevance is None and args.region == "question":
                raise InvalidInputError(
                    "--region question needs a CLIP: --clip FOLDER|open_clip:ARCH[:TAG] with --base-url; the bundled "
                    f"one with the bundled models, which needs the `train` extra ({INSTALL_TRAIN})."
                )
            settings = dataclasses.replace(settings, relevance=endpoints.relevance)
        rows, name = asyncio.run(_probe(endpoints.client(timeout_s=300), bench.items, settings))
    summary = summarize(rows, settings)
    result = {
        "benchmark": bench.name,
        "model": name,
        "n_items": len(bench.items),
        "kinds": list(settings.kinds),
        "levels": list(settings.levels),
        "region": settings.region,
        **summary,
        "rows": rows,
    }
    (args.out / "probe.json").write_text(json.dumps(finite_json(result), indent=2) + "\n")
    missing = plots_unavailable()
    if not missing:
        probe_curves(summary["curves"], args.out / "probe.png", title=f"{name} on {bench.name} ({settings.region})")
    for kind, drop in summary["drop"].items():  # drops are clean minus perturbed; print the change instead
        print(
            f"{kind:10} clean -> level {drop['level']:g}: accuracy {-drop['accuracy']:+.2f}, confidence "
            f"{-drop['probability']:+.3f} (own answer), {-drop['forced_probability']:+.3f} (clean answer, "
            f"teacher-forced), NMLP {-drop['nmlp']:+.2f}, declared ({summary['confidence_source']}) "
            f"{-drop['declared']:+.3f} ({-100 * drop['declared_relative']:+.1f}% of clean)"
        )
    clean = next(iter(summary["curves"].values()))[0]
    if "iou" in clean:
        print(
            f"grounding of the clean answers: mean box IoU {clean['iou']:.3f}, "
            f"{100 * clean['boxes_named']:.1f}% name boxes"
        )
    if "fallback" in clean:
        print(f"--region model: {100 * clean['fallback']:.1f}% of the answers named no boxes (noised the CLIP region)")
    print(f"wrote {args.out / 'probe.json'}" + ("" if missing else f" and {args.out / 'probe.png'}"))
    if missing:
        print(missing, file=sys.stderr)
    return 0


async def _probe(client: VLLMClient, items: list[Any], settings: ProbeSettings) -> tuple[list[dict[str, Any]], str]:
    async with client as model:
        with tqdm(total=len(items), desc="probe", unit="item", file=sys.stderr) as bar:
            rows = await run_probe(model, items, settings, on_item=bar.update)
        return rows, model.name
