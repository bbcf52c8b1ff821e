"""`catts calibrate`: choose CA-TTS's module weights (tau1, tau2, tau3) on a dev set from a recorded `catts eval` run.

  catts eval --benchmark shapes:3 --limit 200 --methods catts-paper --n 8 --out runs/dev
  catts calibrate runs/dev --out weights.json
  catts eval --benchmark shapes --limit 200 --methods greedy,majority,catts-paper --weights weights.json \\
    --out runs/test

Re-weights the votes each module recorded (no model is called), scores every weight triple of the grid on the dev
items, prints the best ones next to the paper's (0.5 each), and writes the most accurate as JSON for `--weights`.
Ties go to the weights closest to the paper's. The Critic's re-answer is kept as recorded (it critiqued the leader
under the run's weights), so check the chosen weights on held-out items before you trust them.

With --steps it fits how the step signals combine into a step's confidence instead (a logistic regression on the
steps the run judged against the items' reference steps) and writes it for --step-weights:

  catts eval --benchmark shapes:3 --limit 200 --methods greedy,majority --step-splitter clauses --out runs/dev
  catts calibrate runs/dev --steps --out steps.json
  catts eval --benchmark shapes --limit 500 --methods majority,step-vote --step-weights steps.json --out runs/test

With --stop it fits the sequential policy's stopping rule instead: replaying the draws (and the expert's own answer)
each catts-sequential line recorded, it keeps the cheapest first round, expert weight, prior and threshold whose
stopped leader is the full budget's leader on at least --agreement of the items, and writes them for --stop-rule
(to fit the expert's weight, record a dev run whose rule asks the expert: expert_weight > 0):

  catts eval --benchmark shapes:3 --limit 200 --methods catts-sequential --n 16 --out runs/dev
  catts calibrate runs/dev --stop --n 16 --out stop.json
  catts eval --benchmark shapes --limit 300 --methods catts-paper,catts-sequential --n 16 --stop-rule stop.json \
    --out runs/test
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from catts_graph.cli.options import csv_list
from catts_graph.evaluation.calibrate import DEFAULT_GRID, Score, Weights, calibrate
from catts_graph.evaluation.results import ResultsFile
from catts_graph.evaluation.step_calibration import fit_steps
from catts_graph.evaluation.stop_calibration import StopScore, fit_stop
from nodes.errors import InvalidInputError


def register(sub: Any) -> None:
    p = sub.add_parser(
        "calibrate",
        help="fit on a dev set from a recorded `catts eval` run: module weights tau1..tau3, the step-confidence "
        "combination (--steps) or the sequential stopping rule (--stop)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("run", type=Path, help="a `catts eval` output folder (run.json and results.jsonl)")
    p.add_argument("--method", default="catts-paper", help="which catts method's votes (default: %(default)s)")
    p.add_argument("--n", type=int, default=8, help="which N (default: %(default)s)")
    p.add_argument(
        "--grid",
        type=_grid,
        default=DEFAULT_GRID,
        help=f"weights tried for each tau (default: {','.join(f'{g:g}' for g in DEFAULT_GRID)})",
    )
    p.add_argument("--top", type=int, default=10, help="rows of the table (default: %(default)s)")
    p.add_argument(
        "--steps",
        action="store_true",
        help="fit the step-confidence combination on the run's judged steps instead (writes JSON for --step-weights)",
    )
    p.add_argument(
        "--stop",
        action="store_true",
        help="fit the sequential policy's stopping rule on the run's catts-sequential draws instead (JSON for "
        "--stop-rule)",
    )
    p.add_argument(
        "--agreement",
        type=float,
        default=0.98,
        help="--stop: the share of dev items on which the stopped leader must be the full budget's leader "
        "(default: %(default)s)",
    )
    p.add_argument(
        "--out", type=Path, help="write the best fit here as JSON (for --weights, --step-weights or --stop-rule)"
    )
    p.set_defaults(handler=run)


def _grid(text: str) -> tuple[float, ...]:
    try:
        grid = tuple(float(x) for x in csv_list(text))
    except ValueError:
        grid = ()
    if not grid:
        raise argparse.ArgumentTypeError(f"{text!r}: give weights >= 0 separated by commas, e.g. 0,0.5,1")
    if min(grid) < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: weights must be >= 0")
    return grid


def run(args: argparse.Namespace) -> int:
    info_path = args.run / "run.json"
    if not info_path.is_file():
        raise InvalidInputError(f"{args.run} is not a `catts eval` output folder (no run.json)")
    config = json.loads(info_path.read_text()).get("settings", {}).get("config")
    if config is None:
        raise InvalidInputError(f"{info_path} records no graph configuration; rerun `catts eval` with this version")
    if args.steps and args.stop:
        raise InvalidInputError("--steps and --stop fit different things: give one")
    if args.steps:
        return run_steps(args, config)
    if args.stop:
        return run_stop(args)
    lines = [
        line
        for line in ResultsFile(args.run / "results.jsonl").read()
        if line["method"] == args.method and line["n"] == args.n
    ]
    if not lines:
        raise InvalidInputError(f"{args.run} has no {args.method} lines at N = {args.n}; see its report.md")
    result = calibrate(lines, Weights.from_config(config), grid=args.grid)
    print(f"{result.n_items} items of {args.run} ({args.method}, N = {args.n}); accuracy under each weighting:\n")
    print(f"{'tau1 (voter)':>12} {'tau2 (critic)':>13} {'tau3 (check)':>12} {'accuracy':>9}")

    def row(score: Score, label: str = "") -> None:
        w = score.weights
        print(f"{w.tau1:>12g} {w.tau2:>13g} {w.tau3:>12g} {100 * score.accuracy:>8.1f}%  {label}")

    for score in result.ranking[: args.top]:
        row(score, "<- best" if score is result.best else "")
    row(result.paper, "(the paper's)")
    row(result.recorded, "(as recorded: the run's own answers)")
    if args.out is not None:
        w = result.best.weights
        args.out.write_text(json.dumps({"tau1": w.tau1, "tau2": w.tau2, "tau3": w.tau3}, indent=2) + "\n")
        print(f"\nwrote {args.out}: pass it as --weights to catts run, eval or demo")
    return 0


def run_steps(args: argparse.Namespace, config: dict[str, Any]) -> int:
    if "steps" not in config:
        raise InvalidInputError(f"{args.run} records no step settings; rerun `catts eval` with this version")
    rows = [row for line in ResultsFile(args.run / "results.jsonl").read() for row in line.get("steps") or []]
    fit = fit_steps(rows)
    print(f"{fit.n_steps} judged steps of {args.run} (splitter: {config['steps']['splitter']})\n")
    print(
        "fitted: "
        + ", ".join(f"{name} {weight:+.3f}" for name, weight in fit.weights.items())
        + f", bias {fit.bias:+.3f}"
    )
    for label, scores in (("as recorded", fit.before), ("fitted (same steps)", fit.after)):
        print(f"{label:>20}: step ECE {scores['ece']:.3f}, step AUROC {scores['auroc']:.3f}")
    if args.out is not None:
        payload = {"splitter": config["steps"]["splitter"], "weights": fit.weights, "bias": fit.bias}
        args.out.write_text(json.dumps(payload, indent=2) + "\n")
        print(f"\nwrote {args.out}: pass it as --step-weights to catts run, eval or demo")
    return 0


def run_stop(args: argparse.Namespace) -> int:
    if not 0 < args.agreement <= 1:
        raise InvalidInputError(f"--agreement {args.agreement}: give a share in (0, 1], e.g. 0.98")
    method = args.method if args.method.startswith("catts-sequential") else "catts-sequential"
    lines = [
        line
        for line in ResultsFile(args.run / "results.jsonl").read()
        if line["method"] == method and line["n"] == args.n
    ]
    if not lines:
        raise InvalidInputError(f"{args.run} has no {method} lines at N = {args.n}; see its report.md")
    fit = fit_stop(lines, agreement=args.agreement)
    print(f"{fit.n_items} items of {args.run} ({method}, N = {fit.budget}); each stopping rule replayed:\n")
    print(f"{'first':>5} {'expert':>6} {'prior':>6} {'threshold':>9} {'drawn':>7} {'agrees':>7}")

    def row(score: StopScore) -> None:
        rule, mark = score.rule, "  <- cheapest reaching the agreement" if score is fit.best else ""
        print(f"{rule.first:>5} {rule.expert_weight:>6g} {rule.prior:>6g} {rule.threshold:>9g} "
              f"{100 * score.drawn:>6.1f}% {100 * score.agreement:>6.1f}%{mark}")  # fmt: skip

    shown = fit.ranking[: args.top]
    for score in shown:
        row(score)
    if fit.best not in shown:
        row(fit.best)
    if args.out is not None:
        args.out.write_text(json.dumps(fit.best.rule.model_dump(), indent=2) + "\n")
        print(f"\nwrote {args.out}: pass it as --stop-rule to catts run, eval or bench")
    return 0
