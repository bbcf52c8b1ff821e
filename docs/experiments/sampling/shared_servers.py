"""Lab: several `catts eval` runs against one start of the bundled servers (docs/experiments/sampling.md).

    python docs/experiments/sampling/shared_servers.py [--together] [--stop-at HH:MM] [--queue FILE] "EVAL ARGS" ...

Each quoted argument is one `catts eval` command line without `catts eval` (no `--base-url`: the bundled models).
Every run goes through `catts eval`'s own code (its parser, `job_from`, `open_run`, `EvalRun.evaluate`,
`write_outputs`) with the endpoints `catts eval` builds for the bundled models, so its settings and outputs are the
command's; only the servers' start-up (1-2 minutes each) is shared. The runs go one after another, or with
`--together` all at once (their items then finish at the same pace, so runs stopped together hold the same items).
`--stop-at` (UTC) stops whatever is running then: each run keeps the items it finished (its results.jsonl; a later
`--resume` finishes it) and writes its metrics from them. With `--queue FILE`, once the given runs are done the
servers stay up for the lines appended to FILE (one run per line; runs joined by ` && ` go together), so a run
chosen from the earlier ones' results needs no new start-up; a line `end` ends it.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import shlex
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from catts_graph.cli import build_parser
from catts_graph.cli.endpoints import model_endpoints
from catts_graph.cli.evaluate import job_from, served_models
from catts_graph.cli.options import servers_from
from catts_graph.evaluation.job import EvalModels, EvalRun, open_run
from catts_graph.evaluation.report import table


def seconds_left(stop_at: str | None) -> float | None:
    if stop_at is None:
        return None
    now = dt.datetime.now(dt.UTC)
    hour, minute = map(int, stop_at.split(":"))
    return (now.replace(hour=hour, minute=minute, second=0, microsecond=0) - now).total_seconds()


async def evaluate(run: EvalRun, models: EvalModels) -> None:
    started, done, total = time.perf_counter(), 0, len(run.remaining())

    def tick() -> None:
        nonlocal done
        done += 1
        if done % 20 == 0 or done == total:
            elapsed = time.perf_counter() - started
            print(f"{dt.datetime.now(dt.UTC):%H:%M:%S} {run.job.out}: {done}/{total} items, {elapsed:.0f} s "
                  f"({elapsed / done:.2f} s/item)", file=sys.stderr, flush=True)  # fmt: skip

    await run.evaluate(models, on_item=tick)


def queued(queue: Path | None, taken: int) -> tuple[list[list[EvalRun]], int, bool]:
    """The groups of runs appended to `queue` after its first `taken` lines, how many lines it has, and whether it
    says `end`."""
    if queue is None or not queue.exists():
        return [], taken, queue is None
    lines = [line.strip() for line in queue.read_text().splitlines() if line.strip()]
    groups = [[open_run(job_from(eval_args(words))) for words in line.split(" && ")] for line in lines[taken:]
              if line != "end"]  # fmt: skip
    return groups, len(lines), "end" in lines


def eval_args(words: str) -> argparse.Namespace:
    args = build_parser().parse_args(["eval", *shlex.split(words)])
    if args.base_url is not None:
        raise SystemExit("these runs share the bundled servers: leave out --base-url")
    return args


async def next_groups(queue: Path | None, taken: int, stop_at: str | None) -> tuple[list[list[EvalRun]], int]:
    """Wait for new lines in `queue` (until it says `end` or `stop_at` passes)."""
    while True:
        groups, taken, ended = queued(queue, taken)
        left = seconds_left(stop_at)
        if groups or ended or (left is not None and left <= 0):
            return groups, taken
        await asyncio.sleep(10)


async def main_async(
    runs: list[EvalRun], models: EvalModels, together: bool, stop_at: str | None, queue: Path | None
) -> None:
    groups = [runs] if together else [[run] for run in runs]
    taken = 0
    try:
        while groups:
            for group in groups:
                await run_group(group, models, stop_at)
            groups, taken = await next_groups(queue, taken, stop_at)
    finally:
        for client in {id(m): m for m in (models.model, models.expert_model) if m is not None}.values():
            await client.aclose()  # type: ignore[attr-defined]


async def run_group(group: list[EvalRun], models: EvalModels, stop_at: str | None) -> None:
    left = seconds_left(stop_at)
    if left is not None and left <= 0:
        print(f"past {stop_at} UTC: not starting {[str(r.job.out) for r in group]}", file=sys.stderr)
        return
    try:
        await asyncio.wait_for(asyncio.gather(*(evaluate(run, models) for run in group)), left)
    except TimeoutError:
        print(f"{stop_at} UTC reached: stopped, finished items kept", file=sys.stderr, flush=True)
    for run in group:
        if run.info:
            outputs = run.write_outputs()
            print(f"== {run.job.out}\n{table(outputs.metrics)}", flush=True)
            for warning in outputs.warnings:
                print(warning, file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--together", action="store_true", help="run all at once, not one after another")
    parser.add_argument("--stop-at", metavar="HH:MM", help="stop at this UTC time, keeping finished items")
    parser.add_argument("--queue", type=Path, help="then run the lines appended to this file, until `end`")
    parser.add_argument("runs", nargs="+", help="one `catts eval` argument line per run")
    options = parser.parse_args()
    parsed = [eval_args(words) for words in options.runs]
    jobs = [job_from(args) for args in parsed]
    runs = [open_run(job) for job in jobs]  # refuses an existing folder without --resume, before any server starts
    with model_endpoints(servers_from(parsed[0]), want_expert=True, timeout=600) as endpoints:
        asyncio.run(main_async(runs, served_models(endpoints), options.together, options.stop_at, options.queue))


if __name__ == "__main__":
    main()
