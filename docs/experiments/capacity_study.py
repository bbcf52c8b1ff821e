"""Capacity study of the ShapesVQA base model: train grid points and measure them in-process.

Lab-notebook script, not part of the package. Two subcommands:

    python docs/experiments/capacity_study.py train --out runs/capacity/r224 --steps 800 --image-size 224
    python docs/experiments/capacity_study.py eval catts_graph/shapes/models/shapes-base --limit 300 \
        --out runs/capacity/eval-base.json

`train` builds a base model from scratch with the bundled tokenizer and the base recipe of
`trainers.shapes.models.train_base` (BASE_MIX, batch 32, lr 1.5e-3, cosine, seed 0), but with any `TinyVLMSpec`
field overridden (`--image-size`, `--vision-layers`, ...) and any step count. Training images are rendered at the
world's 112 px; the processor resizes them to `image_size`^2 pixels, exactly as vLLM does at serving time.

`eval` answers the first `--limit` items of world seed `--seed` (2: the held-out items of `--benchmark shapes`)
in-process with transformers: greedy, and `--n` samples at T = 1 (`--top-k`: default 40, as the graph samples;
steps 1-5 of the study used 0, no cut-off). It reports greedy accuracy, T = 1 sample accuracy, majority of n, pass@n,
ECE (10 bins) and AUROC of the greedy answer's confidence exp(mean token log-prob, end token included), per question
type and overall, and greedy accuracy and confidence with the question's evidence occluded (the asked-about objects'
boxes, margin 2, painted with the background colour: the oracle-region occlusion of `catts probe` at level 1).
Per-item lines go to OUT.jsonl.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from collections import Counter, defaultdict
from dataclasses import fields, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from catts_graph.shapes.world import MAX_OBJECTS, evidence_mask, make_item, relevant_objects  # noqa: E402
from nodes.answers import extract_answer  # noqa: E402
from nodes.confidence import answer_probability  # noqa: E402
from nodes.prompts import question_prompt  # noqa: E402


# --------------------------------------------------------------------------------------------------------- train
def _long_listings_stream(mix, share: float, block: int):  # type: ignore[no-untyped-def]
    """`role_stream(mix, block=block)` keeping only `share` of the colour and shape counts of 0-2 (step 10)."""
    from catts_graph.shapes.world import make_item
    from trainers.shapes.roles import TRAIN_SEED_BASE

    roles, weights = [r for r, _ in mix.values()], [w for _, w in mix.values()]

    def stream(rng):  # type: ignore[no-untyped-def]
        seed, index = TRAIN_SEED_BASE + rng.randrange(1_000_000), 0
        while True:
            role, made = rng.choices(roles, weights)[0], 0
            while made < block:
                item = make_item(seed, index)
                index += 1
                small = item.question_type in ("count_color", "count_shape") and int(item.answer) < 3
                if not small or rng.random() < share:
                    made += 1
                    yield role(item, rng)

    return stream


def train(args: argparse.Namespace) -> None:
    import torch

    from catts_graph.serving.parameters import count_parameters
    from catts_graph.shapes.bundled import BASE_MODEL, bundled_model
    from catts_graph.shapes.tiny_vlm import make_tiny_model
    from trainers.sft import SFTConfig, sft_train
    from trainers.shapes.models import BATCH_SIZE, SHAPES_SPEC, VISION_FROZEN
    from trainers.shapes.roles import BASE_MIX, EXPERT_MIX, role_stream

    torch.set_num_threads(args.threads)
    overrides = {f.name: getattr(args, f.name) for f in fields(SHAPES_SPEC) if getattr(args, f.name, None) is not None}
    spec = replace(SHAPES_SPEC, **overrides)
    out = Path(args.out)
    init = args.init or make_tiny_model(
        out.with_name(out.name + "-init"), spec=spec, seed=args.seed, tokenizer_dir=bundled_model(BASE_MODEL)
    )
    print(json.dumps({"spec": overrides, "parameters": count_parameters(init), "image_tokens": spec.image_tokens}))
    config = SFTConfig(
        steps=args.steps,
        batch_size=BATCH_SIZE,
        learning_rate=args.lr,
        seed=args.seed,
        threads=args.threads,
        warmup_fraction=args.warmup,
        frozen=VISION_FROZEN if args.frozen_tower else (),
    )
    mix = EXPERT_MIX if args.mix == "expert" else BASE_MIX
    stream = role_stream(mix, block=BATCH_SIZE)
    if args.small_count_share < 1:
        stream = _long_listings_stream(mix, args.small_count_share, BATCH_SIZE)
    result = sft_train(init, stream, out, config, progress=True)
    (out / "capacity_point.json").write_text(
        json.dumps(
            {
                "spec": overrides,
                "steps": args.steps,
                "lr": args.lr,
                "frozen_tower": args.frozen_tower,
                "small_count_share": args.small_count_share,
                "mix": args.mix,
                "seconds": result.seconds,
                "final_loss_ema": result.final_loss,
                "parameters": count_parameters(out),
            },
            indent=2,
        )
        + "\n"
    )
    print(json.dumps({"out": str(out), "seconds": round(result.seconds, 1), "final_loss_ema": result.final_loss}))


# ---------------------------------------------------------------------------------------------------------- eval
def _occluded(item):  # type: ignore[no-untyped-def]
    import numpy as np
    from PIL import Image

    img = np.array(item.render())  # (H, W, 3)
    img[evidence_mask(item.question, item.objects, item.size)] = item.background
    return Image.fromarray(img)


def _generate(model, processor, images, questions, *, n: int, sample: bool, max_new_tokens: int, top_k: int = 0):  # type: ignore[no-untyped-def]
    """Texts and exp(mean token log-prob) for each (image, question), n sequences each."""
    import torch

    chats = [
        [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question_prompt(q)}]}]
        for q in questions
    ]
    prompts = [processor.apply_chat_template(c, add_generation_prompt=True, tokenize=False) for c in chats]
    enc = processor(images=list(images), text=prompts, padding=True, padding_side="left", return_tensors="pt")
    kwargs = {"do_sample": True, "temperature": 1.0, "top_k": top_k, "top_p": 1.0} if sample else {"do_sample": False}
    with torch.no_grad():
        out = model.generate(
            **enc,
            max_new_tokens=max_new_tokens,
            num_return_sequences=n,
            output_logits=True,
            return_dict_in_generate=True,
            **kwargs,
        )
    seqs = out.sequences[:, enc["input_ids"].shape[1] :]  # (B*n, T)
    logits = torch.stack(out.logits, dim=1).float()  # (B*n, T, V)
    logp = torch.log_softmax(logits, dim=-1).gather(-1, seqs.unsqueeze(-1)).squeeze(-1)  # (B*n, T)
    eos = processor.tokenizer.eos_token_id
    results = []
    for row in range(seqs.shape[0]):
        ids = seqs[row].tolist()
        length = ids.index(eos) + 1 if eos in ids else len(ids)
        text = processor.tokenizer.decode(ids[: length - (1 if eos in ids else 0)], skip_special_tokens=True)
        pieces = [processor.tokenizer.decode([i], skip_special_tokens=True) for i in ids[:length]]
        span = answer_probability(pieces, logp[row, :length].tolist())  # P(answer | rationale)
        results.append((text, math.exp(float(logp[row, :length].mean())), span))
    return results


def ece(conf: list[float], correct: list[bool], bins: int = 10) -> float:
    total, err = len(conf), 0.0
    for b in range(bins):
        idx = [i for i, c in enumerate(conf) if (b / bins < c <= (b + 1) / bins) or (b == 0 and c == 0)]
        if idx:
            mean_conf = sum(conf[i] for i in idx) / len(idx)
            err += len(idx) / total * abs(mean_conf - sum(correct[i] for i in idx) / len(idx))
    return err


def auroc(conf: list[float], correct: list[bool]) -> float | None:
    pos = [c for c, y in zip(conf, correct, strict=True) if y]
    neg = [c for c, y in zip(conf, correct, strict=True) if not y]
    if not pos or not neg:
        return None
    wins = sum((p > q) + 0.5 * (p == q) for p in pos for q in neg)
    return wins / (len(pos) * len(neg))


def evaluate(args: argparse.Namespace) -> None:
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.sample_seed)
    started = time.perf_counter()
    processor = AutoProcessor.from_pretrained(args.model)
    model = AutoModelForImageTextToText.from_pretrained(args.model, dtype=torch.float32).eval()
    items = [make_item(args.seed, i) for i in range(args.limit)]
    norm = lambda text, item: extract_answer(text, answer_type=item.answer_type)  # noqa: E731
    rows = []
    for start in range(0, len(items), args.batch):
        chunk = items[start : start + args.batch]
        qs = [it.question for it in chunk]
        greedy = _generate(
            model, processor, [it.render() for it in chunk], qs, n=1, sample=False, max_new_tokens=args.max_tokens
        )
        occl = _generate(
            model, processor, [_occluded(it) for it in chunk], qs, n=1, sample=False, max_new_tokens=args.max_tokens
        )
        samples = _generate(
            model,
            processor,
            [it.render() for it in chunk],
            qs,
            n=args.n,
            sample=True,
            max_new_tokens=args.max_tokens,
            top_k=args.top_k,
        )
        for k, it in enumerate(chunk):
            g_text, g_conf, g_span = greedy[k]
            o_text, o_conf, _ = occl[k]
            s = samples[k * args.n : (k + 1) * args.n]
            s_ans = [norm(t, it) for t, _, _ in s]
            votes = Counter(a for a in s_ans if a is not None)
            maj = votes.most_common(1)[0][0] if votes else None
            relevant = relevant_objects(it.question, it.objects)
            rows.append(
                {
                    "id": it.id,
                    "question_type": it.question_type,
                    "question": it.question,
                    "answer": it.answer,
                    "n_objects": len(it.objects),
                    "n_relevant": len(relevant),
                    "min_half": min((o.half for o in it.objects), default=None),
                    "greedy": g_text,
                    "greedy_answer": norm(g_text, it),
                    "greedy_correct": norm(g_text, it) == it.answer,
                    "greedy_conf": g_conf,
                    "greedy_answer_probability": g_span,
                    "occluded_answer": norm(o_text, it),
                    "occluded_correct": norm(o_text, it) == it.answer,
                    "occluded_conf": o_conf,
                    "sample_answers": s_ans,
                    "samples": [t for t, _, _ in s],
                    "sample_conf": [c for _, c, _ in s],
                    "sample_acc": sum(a == it.answer for a in s_ans) / args.n,
                    "majority": maj,
                    "majority_correct": maj == it.answer,
                    "pass": any(a == it.answer for a in s_ans),
                }
            )
        print(f"{start + len(chunk)}/{len(items)} {time.perf_counter() - started:.0f}s", file=sys.stderr, flush=True)
    summary = {
        "model": str(args.model),
        "seed": args.seed,
        "items": len(rows),
        "top_k": args.top_k,
        "n": args.n,
        "seconds": round(time.perf_counter() - started, 1),
        **summarize(rows),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=2) + "\n")
    out.with_suffix(".jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    print(json.dumps(summary, indent=2))


def summarize(rows: list[dict]) -> dict:  # type: ignore[type-arg]
    def block(rs: list[dict]) -> dict:  # type: ignore[type-arg]
        conf = [r["greedy_conf"] for r in rs]
        ok = [r["greedy_correct"] for r in rs]
        au = auroc(conf, ok)
        return {
            "n": len(rs),
            "greedy": round(100 * sum(ok) / len(rs), 1),
            "sample_t1": round(100 * sum(r["sample_acc"] for r in rs) / len(rs), 1),
            "majority": round(100 * sum(r["majority_correct"] for r in rs) / len(rs), 1),
            "pass": round(100 * sum(r["pass"] for r in rs) / len(rs), 1),
            "ece": round(ece(conf, ok), 3),
            "auroc": None if au is None else round(au, 3),
            **_span_block(rs, ok),
            "conf": round(sum(conf) / len(rs), 3),
            "occluded": round(100 * sum(r["occluded_correct"] for r in rs) / len(rs), 1),
            "occluded_conf": round(sum(r["occluded_conf"] for r in rs) / len(rs), 3),
        }

    by_type = defaultdict(list)
    for r in rows:
        by_type[r["question_type"]].append(r)
    counts = [r for r in rows if r["question_type"] != "largest"]
    by_answer: dict[str, list] = defaultdict(list)  # type: ignore[type-arg]
    for r in counts:
        by_answer[r["answer"]].append(r)
    errors = Counter()
    for r in counts:
        if not r["greedy_correct"] and r["greedy_answer"] is not None and r["greedy_answer"].lstrip("-").isdigit():
            errors[int(r["greedy_answer"]) - int(r["answer"])] += 1
    return {
        "all": block(rows),
        "by_type": {k: block(v) for k, v in sorted(by_type.items())},
        "count_greedy_by_true_count": {
            k: [len(v), round(100 * sum(r["greedy_correct"] for r in v) / len(v), 1)]
            for k, v in sorted(by_answer.items(), key=lambda kv: int(kv[0]))
        },
        "count_error_offsets": dict(sorted(errors.items())),
        "count_all_greedy_by_n_objects": {
            n: [len(v), round(100 * sum(r["greedy_correct"] for r in v) / len(v), 1)]
            for n in range(MAX_OBJECTS + 1)
            if (v := [r for r in by_type["count_all"] if r["n_objects"] == n])
        },
    }


def _span_block(rs: list[dict], ok: list[bool]) -> dict:  # type: ignore[type-arg]
    """ECE and AUROC of the greedy answer's second declared confidence, P(answer | rationale), where recorded."""
    if not all("greedy_answer_probability" in r for r in rs):
        return {}
    span = [r["greedy_answer_probability"] if math.isfinite(r["greedy_answer_probability"]) else 0.0 for r in rs]
    au = auroc(span, ok)
    return {"ece_span": round(ece(span, ok), 3), "auroc_span": None if au is None else round(au, 3)}


def compare(args: argparse.Namespace) -> None:
    """Paired differences (a - b) of greedy correctness and T = 1 sample accuracy over the items both answered."""
    from catts_graph.evaluation.metrics import paired_bootstrap_ci

    a, b = ({r["id"]: r for r in map(json.loads, Path(p).read_text().splitlines())} for p in (args.a, args.b))
    ids = [i for i in a if i in b]
    for key, scale in (("greedy_correct", float), ("sample_acc", float)):
        mean, low, high = paired_bootstrap_ci(
            [scale(a[i][key]) for i in ids], [scale(b[i][key]) for i in ids], n_boot=5000
        )
        print(f"{key}: {100 * mean:+.1f} [{100 * low:+.1f}, {100 * high:+.1f}] over {len(ids)} items")


def naming(args: argparse.Namespace) -> None:
    """How well greedy count_all listings name the objects: the shares of the true objects matched in the listing
    as (colour, shape) pairs, by colour alone and by shape alone (multiset intersections, order-free)."""
    for path in args.files:
        totals: Counter[str] = Counter()
        for row in map(json.loads, Path(path).read_text().splitlines()):
            if row["question_type"] != "count_all":
                continue
            item = make_item(args.seed, int(row["id"].rsplit("-", 1)[1]))
            listing = row["greedy"].split("\\boxed")[0].strip().rstrip(".")
            listed = [x.strip() for x in listing.split(",") if x.strip() and x.strip() != "none"]
            totals["objects"] += len(item.objects)
            totals["exact"] += sum((Counter(o.describe() for o in item.objects) & Counter(listed)).values())
            totals["colour"] += sum(
                (Counter(o.color for o in item.objects) & Counter(x.split()[0] for x in listed)).values()
            )
            totals["shape"] += sum(
                (Counter(o.shape for o in item.objects) & Counter(x.split()[-1] for x in listed)).values()
            )
        shares = {k: round(100 * v / totals["objects"], 1) for k, v in totals.items() if k != "objects"}
        print(json.dumps({"file": path, "objects": totals["objects"], **shares}))


def main() -> None:
    from trainers.shapes.models import SHAPES_SPEC

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train")
    t.add_argument("--out", required=True)
    t.add_argument("--steps", type=int, required=True)
    t.add_argument("--init", help="start from this model folder instead of a fresh one (the spec flags are ignored)")
    t.add_argument("--lr", type=float, default=1.5e-3)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--threads", type=int, default=2)
    t.add_argument("--warmup", type=float, default=0.04, help="warm-up fraction of the steps")
    t.add_argument("--frozen-tower", action="store_true", help="keep the vision tower as loaded (the v2 recipe)")
    t.add_argument("--mix", choices=["base", "expert"], default="base", help="the recipe's role mix to train on")
    t.add_argument("--small-count-share", type=float, default=1.0, help="share of colour/shape counts of 0-2 kept")
    for f in fields(SHAPES_SPEC):
        t.add_argument(
            "--" + f.name.replace("_", "-"), dest=f.name, type=int, help=f"default {getattr(SHAPES_SPEC, f.name)}"
        )
    t.set_defaults(handler=train)
    e = sub.add_parser("eval")
    e.add_argument("model")
    e.add_argument("--out", required=True)
    e.add_argument("--seed", type=int, default=2)
    e.add_argument("--limit", type=int, default=300)
    e.add_argument("--n", type=int, default=8)
    e.add_argument("--batch", type=int, default=25)
    e.add_argument("--max-tokens", type=int, default=64)
    e.add_argument("--sample-seed", type=int, default=0)
    e.add_argument("--top-k", type=int, default=40, help="0 = off; 40 is the graph's default (steps 1-5 used 0)")
    e.add_argument("--threads", type=int, default=2)
    e.set_defaults(handler=evaluate)
    c = sub.add_parser("compare", help="paired bootstrap of two eval .jsonl files (a - b)")
    c.add_argument("a")
    c.add_argument("b")
    c.set_defaults(handler=compare)
    m = sub.add_parser("naming", help="object naming accuracy of count_all listings in eval .jsonl files")
    m.add_argument("files", nargs="+")
    m.add_argument("--seed", type=int, default=2)
    m.set_defaults(handler=naming)
    args = parser.parse_args()
    random.seed(0)
    args.handler(args)


if __name__ == "__main__":
    main()
