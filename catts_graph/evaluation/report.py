"""From `results.jsonl` to `metrics.json`, the Markdown report, the terminal table and the plots.

Calibration is measured on each method's stated confidence in [0, 1]: the vote share of the chosen answer for the
voting methods and CA-TTS, exp(mean log-prob) for greedy; greedy's second form, the probability of its final answer
given the rationale before it, is reported beside it (``answer_probability``). ECE uses 10 equal-width bins (`ece`)
and 10 equal-mass bins (`ece_equal_mass`). Costs are means per item. For a grounded run, greedy's and the samples'
(majority's lines) grounding is reported too: mean box IoU and the share of responses that name a box list.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from catts_graph.evaluation.compute import cost_basis, describe, format_compute, line_compute, mean_compute
from catts_graph.evaluation.metrics import auroc, brier, ece, paired_bootstrap_ci, reliability, scaling_slope
from catts_graph.evaluation.steps import COLUMNS, step_metrics


def key(method: str, n: int) -> str:
    return f"{method}@{n}"


def aggregate(lines: Sequence[dict[str, Any]], parameters: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Per method@N metrics, per method scaling slopes, and paired CIs of accuracy differences, with compute from
    the run's parameter counts (`parameters`, as ``run.json`` records them; cost falls back to tokens without them,
    `catts_graph.evaluation.compute`). Lines are read in item-id order, so the metrics do not depend on the order
    items finished in (concurrency, shards)."""
    lines = sorted(lines, key=lambda line: str(line["id"]))
    basis = cost_basis(lines, parameters)
    groups: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
    for line in lines:
        groups[(line["method"], line["n"])].append(line)
    per: dict[str, dict[str, Any]] = {}
    for (method, n), rows in sorted(groups.items()):
        correct = [float(r["correct"]) for r in rows]
        confidence = [float(r["confidence"]) if r["confidence"] is not None else math.nan for r in rows]
        per[key(method, n)] = {
            "method": method,
            "n_samples": n,
            "n": len(rows),
            "accuracy": sum(correct) / len(rows),
            "ece": ece(confidence, correct),
            "ece_equal_mass": ece(confidence, correct, binning="equal_mass"),
            "auroc": auroc(confidence, correct),
            "brier": brier(confidence, correct),
            "tokens": _mean(rows, "tokens"),
            "compute": mean_compute(rows, parameters),  # parameter-tokens per item; NaN when a count is missing
            "prompt_tokens": _mean(rows, "prompt_tokens"),
            "completion_tokens": _mean(rows, "completion_tokens"),
            "calls": _mean(rows, "calls"),
            "expert_calls": _mean(rows, "expert_calls"),
            "wall_s": _mean(rows, "wall_s"),
            "reliability": reliability(confidence, correct),
        }
        if all("answer_probability" in r for r in rows):  # greedy: P(answer | rationale), the second declared form
            span = [_finite_or_zero(r["answer_probability"]) for r in rows]
            per[key(method, n)]["answer_probability"] = {
                "ece": ece(span, correct),
                "auroc": auroc(span, correct),
                "brier": brier(span, correct),
            }
        if all("grounding" in r for r in rows):  # a grounded run: box IoU and box lists named, per item then mean
            per[key(method, n)]["grounding"] = {
                field: sum(r["grounding"][field] for r in rows) / len(rows) for field in ("iou", "boxes_named")
            }
    methods = sorted({m for m, _ in groups})
    slopes, token_slopes, cost_slopes = {}, {}, {}
    for method in methods:
        rows = [per[key(method, n)] for m, n in sorted(groups) if m == method]
        accuracy = [100 * r["accuracy"] for r in rows]
        slopes[method] = scaling_slope([r["n_samples"] for r in rows], accuracy)
        token_slopes[method] = scaling_slope([r["completion_tokens"] for r in rows], accuracy)
        cost_slopes[method] = scaling_slope([r[basis["field"]] for r in rows], accuracy)
    return {
        "methods": per,
        "cost": basis,  # what cost comparisons use: compute, or tokens and why
        "slopes": slopes,  # accuracy points per doubling of N
        "token_slopes": token_slopes,  # accuracy points per doubling of the completion tokens spent
        "cost_slopes": cost_slopes,  # accuracy points per doubling of the cost (compute, or tokens without it)
        "comparisons": _comparisons(groups, lambda line: _line_cost(line, basis)),
        "steps": step_metrics(lines),
    }


def _line_cost(line: Mapping[str, Any], basis: Mapping[str, Any]) -> float:
    if basis["field"] == "compute":
        return line_compute(line, basis["parameters"]) or 0.0
    return float(line["tokens"])


def _finite_or_zero(value: float | None) -> float:
    """A confidence as the metrics read it: a response without an answer (NaN) states no confidence, 0."""
    return float(value) if value is not None and math.isfinite(value) else 0.0


def _mean(rows: Sequence[dict[str, Any]], field: str) -> float:
    return sum(float(r[field]) for r in rows) / len(rows)


def _comparisons(
    groups: dict[tuple[str, int], list[dict[str, Any]]], cost: Callable[[Mapping[str, Any]], float]
) -> list[dict[str, Any]]:
    """Accuracy difference of each method against majority vote at the same N and against one greedy answer, of
    every CA-TTS method against the expert alone (its greedy answer), and of the routing policies (catts-adaptive,
    catts-sequential) against catts-paper at the same N (paired over items, bootstrap 95% CI), each with the ratio of
    their costs (`cost` of a line: compute, or tokens without it) and, against catts-paper, of their completion
    tokens."""
    out = []
    for versus in ("majority", "greedy", "expert", "catts-paper"):
        for (method, n), rows in sorted(groups.items()):
            baseline = groups.get((versus, 1 if versus in ("greedy", "expert") else n))
            routing = method.startswith(("catts-adaptive", "catts-sequential"))
            if method in ("majority", "greedy", "expert") or not baseline:
                continue
            if (versus == "catts-paper" and not routing) or (versus == "expert" and not method.startswith("catts")):
                continue
            by_id = {r["id"]: r for r in baseline}
            paired = [(r, by_id[r["id"]]) for r in rows if r["id"] in by_id]
            if not paired:
                continue
            diff, low, high = paired_bootstrap_ci(
                [float(a["correct"]) for a, _ in paired], [float(b["correct"]) for _, b in paired]
            )
            row = {"method": method, "n_samples": n, "versus": versus, "diff": diff, "ci95": [low, high]}
            spent = sum(cost(b) for _, b in paired)
            row["cost_ratio"] = sum(cost(a) for a, _ in paired) / spent if spent else math.nan
            if versus == "catts-paper":
                spent = sum(b["completion_tokens"] for _, b in paired)
                row["completion_token_ratio"] = (
                    sum(a["completion_tokens"] for a, _ in paired) / spent if spent else 0.0
                )
            out.append(row)
    return out


def table(metrics: dict[str, Any]) -> str:
    """A fixed-width comparison table for the terminal."""
    header = (
        f"{'method':22} {'N':>3} {'acc':>6} {'ECE':>6} {'AUROC':>6} {'Brier':>6} {'tokens':>8} {'compute':>9} "
        f"{'calls':>6} {'s/item':>7}"
    )
    lines = [header, "-" * len(header)]
    for row in metrics["methods"].values():
        lines.append(
            f"{row['method'][:22]:22} {row['n_samples']:>3} {100 * row['accuracy']:5.1f}% {_f(row['ece'])} "
            f"{_f(row['auroc'])} {_f(row['brier'])} {row['tokens']:8.0f} {format_compute(_compute(row)):>9} "
            f"{row['calls']:6.1f} {row['wall_s']:7.2f}"
        )
    slopes = ", ".join(f"{m} {s:+.2f}" for m, s in metrics["slopes"].items() if math.isfinite(s))
    if slopes:
        lines.append(f"slope of accuracy (points) per doubling of N: {slopes}")
    return "\n".join(lines)


def _compute(row: Mapping[str, Any]) -> float:
    value = row.get("compute")  # None in metrics read back from JSON, absent in those written before compute
    return math.nan if value is None else float(value)


def _f(value: float) -> str:
    return f"{value:6.3f}" if math.isfinite(value) else f"{'-':>6}"


def markdown_report(metrics: dict[str, Any], run_info: dict[str, Any]) -> str:
    """The Markdown report: settings, the comparison table, slopes, paired differences."""
    out: list[str] = [
        f"# catts eval: {run_info.get('benchmark')}",
        "",
        (
            f"Items: {run_info.get('n_items')}; methods: {', '.join(run_info['settings']['methods'])}; "
            f"N: {', '.join(map(str, run_info['settings']['ns']))}; model: {run_info.get('model')}; "
            f"expert: {run_info.get('expert')}."
        ),
        "",
        (
            "Confidence: vote share of the chosen answer (greedy and expert: exp mean log-prob). ECE: 10 equal-width "
            "bins. expert, expert-majority: the expert alone (its greedy answer; a majority over N of its samples)."
        ),
        "",
        describe(metrics["cost"]),
        "",
        (
            "| method | N | accuracy | ECE | ECE (equal mass) | AUROC | Brier | tokens/item | compute/item | "
            "calls/item | expert calls/item | s/item |"
        ),
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in metrics["methods"].values():
        out.append(
            f"| {row['method']} | {row['n_samples']} | {100 * row['accuracy']:.1f}% | {_f(row['ece']).strip()} | "
            f"{_f(row['ece_equal_mass']).strip()} | {_f(row['auroc']).strip()} | {_f(row['brier']).strip()} | "
            f"{row['tokens']:.0f} | {format_compute(_compute(row))} | {row['calls']:.1f} | "
            f"{row['expert_calls']:.1f} | {row['wall_s']:.2f} |"
        )
    spans = [row for row in metrics["methods"].values() if "answer_probability" in row]
    if spans:
        out += ["", "Greedy's second declared confidence, P(answer | its rationale):", ""]
        for row in spans:
            form = row["answer_probability"]
            out.append(
                f"- {row['method']}: ECE {_f(form['ece']).strip()}, AUROC {_f(form['auroc']).strip()}, "
                f"Brier {_f(form['brier']).strip()}"
            )
    grounded = [row for row in metrics["methods"].values() if "grounding" in row]
    if grounded:
        out += ["", "Grounding (greedy's response; majority's line: its N samples):", ""]
        for row in grounded:
            g = row["grounding"]
            out.append(
                f"- {row['method']}@{row['n_samples']}: mean box IoU {g['iou']:.3f}, "
                f"{100 * g['boxes_named']:.1f}% name a box list"
            )
    if metrics.get("steps"):
        out += ["", "Step confidence (greedy: its response's steps; majority: the N samples' steps), ECE / AUROC:"]
        out += [
            "",
            "| responses | steps | wrong | likelihood | certainty | visual | chain | combined | stated |",
            "|---|---:|---:|---|---|---|---|---|---|",
        ]
        for row in metrics["steps"]:
            cells = [f"{_f(row[n]['ece']).strip()} / {_f(row[n]['auroc']).strip()}" for n in COLUMNS]
            out.append(f"| {row['method']} | {row['steps']} | {100 * row['wrong']:.1f}% | {' | '.join(cells)} |")
    cost = metrics["cost"]["field"]  # compute, or tokens where a parameter count is missing
    out += ["", f"Slope of accuracy (points) against log2 N, and against log2 of the {cost} spent:", ""]
    out += [
        f"- {m}: {s:+.2f} per doubling of N, {metrics['cost_slopes'].get(m, math.nan):+.2f} per doubling of {cost}"
        for m, s in metrics["slopes"].items()
        if math.isfinite(s)
    ]
    out += ["", "Accuracy difference against majority vote at the same N, against greedy, of each CA-TTS method"]
    out += ["against the expert alone (its greedy answer), and of the routing policies against catts-paper at the"]
    out += [f"same N, each with its {cost} as a multiple of the other's (paired bootstrap, 95% CI):", ""]
    for c in metrics["comparisons"]:
        low, high = (100 * v for v in c["ci95"])
        ratio = c.get("cost_ratio")
        spent = f" at {ratio:.2f}x its {cost}" if ratio is not None and math.isfinite(ratio) else ""
        out.append(
            f"- {c['method']}@{c['n_samples']} vs {c['versus']}: {100 * c['diff']:+.1f} points "
            f"[{low:+.1f}, {high:+.1f}]{spent}"
        )
    return "\n".join(out) + "\n"
