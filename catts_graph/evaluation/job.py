"""`catts eval` as one settings object and the run it drives.

`EvalJob` is everything the command was asked to do, parsed and checked: which benchmark, which methods at which N
(or the RH-AUC sweep), the graph's configuration, the judge, the output folder and whether to resume. `open_run`
refuses an existing folder without `resume` (before any server starts) and loads the items; `EvalRun.evaluate`
records the run's settings in ``run.json`` (a resumed run must match them) and evaluates what is not yet in the
results file; `EvalRun.write_outputs` writes ``metrics.json``, ``report.md`` and the plots. A job with a `shard`
evaluates every K-th item only (`catts_graph.evaluation.merge` joins the shards). The RH-AUC sweep runs the same
way through `EvalRun.sweep_rh` and `EvalRun.write_rh_outputs`.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from catts_graph.benchmarks import Benchmark, load_benchmark
from catts_graph.evaluation.compute import parameter_counts
from catts_graph.evaluation.expert_baselines import require_expert
from catts_graph.evaluation.harness import EvalSettings, degraded_warnings, run_evaluation
from catts_graph.evaluation.judge import AnswerJudge
from catts_graph.evaluation.plots import eval_plots, plots_unavailable, rh_curve
from catts_graph.evaluation.report import aggregate, markdown_report
from catts_graph.evaluation.results import ResultsFile, check_resume, finite_json, refuse_unless_resuming
from catts_graph.evaluation.rh_auc import category, run_rh_sweep, summarize_rh
from catts_graph.serving.chat import chat_model
from nodes.errors import InvalidInputError, ModelError
from nodes.protocol import VisionLanguageModel
from nodes.relevance import RelevanceModel


@dataclass(frozen=True)
class ChatEndpoint:
    """An OpenAI-compatible server and model (the answer judge's); the key never enters results or run.json."""

    base_url: str
    model: str
    api_key: str = field(default="EMPTY", repr=False)


@dataclass(frozen=True)
class EvalJob:
    """What `catts eval` does: the benchmark, the methods and N sweep with the graph's configuration (`settings`),
    or the RH-AUC token budgets instead (`rh_budgets`), the judge, and where results go."""

    benchmark: str
    out: Path
    settings: EvalSettings
    limit: int | None = None
    resume: bool = False
    skip_bad_lines: bool = False
    allow_remote_images: bool = False
    judge: ChatEndpoint | None = None  # asked about the predictions the rule-based matcher rejects
    rh_budgets: tuple[int, ...] = ()  # non-empty: sweep greedy answers over these budgets instead of the methods
    shard: tuple[int, int] | None = None  # (I, K): every K-th item from the I-th (0-based), for `catts eval merge`

    @property
    def needs_expert(self) -> bool:
        """Whether a method calls the expert (the catts methods and the expert-alone baselines do)."""
        return not self.rh_budgets and any(m.startswith(("catts", "expert")) for m in self.settings.methods)


@dataclass(frozen=True)
class EvalModels:
    """The models a run calls, and the names ``run.json`` records for them."""

    model: VisionLanguageModel
    name: str
    expert: Any = None  # a LangChain chat model, a VisionLanguageModel, or None for the base model itself
    expert_name: str = "base model"
    relevance: RelevanceModel | None = None  # question-guided self-check noise
    expert_model: VisionLanguageModel | None = None  # the expert's server as a model: expert baselines, its parameters
    base_folder: Path | None = None  # an in-process base model's folder, where its parameters are counted


@dataclass(frozen=True)
class EvalOutputs:
    """What `write_outputs` wrote and found: the metrics, the files, why plots were skipped, degraded methods."""

    metrics: dict[str, Any]
    written: list[str]
    plots_missing: str | None
    warnings: list[str]


@dataclass
class EvalRun:
    """An output folder being filled by one job (see `open_run`)."""

    job: EvalJob
    bench: Benchmark
    results: ResultsFile
    info: dict[str, Any] = field(default_factory=dict)  # what run.json records

    def remaining(self) -> list[Any]:
        """The items not yet in the results file."""
        done = self.results.completed_ids()
        return [item for item in self.bench.items if item.id not in done]

    async def evaluate(self, models: EvalModels, *, on_item: Callable[[], None] = lambda: None) -> None:
        """Record the run's settings and the models' parameter counts (a resumed run must match them) and evaluate
        every item not yet done. A model error says how many items are saved and how to finish."""
        job, items = self.job, self.bench.items
        require_expert(job.settings.methods, models.expert_model)
        judge = None if job.judge is None else AnswerJudge(_chat(job.judge, timeout=120))
        settings = dataclasses.replace(job.settings, relevance=models.relevance, judge=judge)
        self.info = {
            "benchmark": self.bench.name,
            "n_items": len(items),
            "model": models.name,
            "expert": models.expert_name,
            "settings": settings.to_json(),
            "parameters": await parameter_counts(
                models.model, models.expert, models.expert_model, base_folder=models.base_folder
            ),
        }
        if job.shard is not None:
            self.info["shard"] = {"index": job.shard[0], "count": job.shard[1]}
        check_resume(job.out, self.info, job.resume)
        try:
            await run_evaluation(models.model, models.expert, items, settings, self.results, on_item=on_item,
                                 expert_model=models.expert_model)  # fmt: skip
        except ModelError as e:  # every finished item is on disk: say so, and how to finish
            saved = len(self.results.completed_ids() & {i.id for i in items})
            raise ModelError(
                f"{e}\n{saved} of {len(items)} items are saved in {self.results.path}; once the server answers "
                "again, rerun the same command with --resume to evaluate the rest."
            ) from None

    def write_outputs(self) -> EvalOutputs:
        """``metrics.json``, ``report.md`` and (with matplotlib) the plots, from every line of the results file."""
        return write_outputs(self.job.out, self.results.read(), self.info)

    async def sweep_rh(self, model: VisionLanguageModel, *, on_item: Callable[[], None] = lambda: None) -> None:
        """The RH-AUC sweep: greedy answers at every budget for the items not yet done."""
        budgets = list(self.job.rh_budgets)
        self.info = {"benchmark": self.bench.name, "n_items": len(self.bench.items), "rh_budgets": budgets}
        check_resume(self.job.out, self.info, self.job.resume)
        concurrency = max(1, self.job.settings.concurrency)
        await run_rh_sweep(
            model, self.remaining(), budgets, self.results.append, concurrency=concurrency, on_item=on_item
        )

    def write_rh_outputs(self) -> tuple[dict[str, Any], str | None]:
        """``rh_auc.json`` and (with matplotlib) ``rh_auc.png``; the summary, and why the plot was skipped."""
        out = self.job.out
        summary = summarize_rh(self.results.read())
        (out / "rh_auc.json").write_text(json.dumps(finite_json({**self.info, **summary}), indent=2) + "\n")
        missing = plots_unavailable()
        if not missing:
            title = f"{self.bench.name}: RH-AUC {summary['rh_auc']:.3f}"
            rh_curve(summary["budgets"], out / "rh_auc.png", title=title)
        return summary, missing


def write_outputs(out: Path, lines: list[dict[str, Any]], info: dict[str, Any]) -> EvalOutputs:
    """A run folder's ``metrics.json``, ``report.md`` and (with matplotlib) plots, from its result lines and the
    run's record (``run.json``'s content)."""
    metrics = aggregate(lines, info.get("parameters"))
    (out / "metrics.json").write_text(json.dumps(finite_json(metrics), indent=2) + "\n")
    (out / "report.md").write_text(markdown_report(metrics, info))
    missing = plots_unavailable()
    figures = [] if missing else eval_plots(metrics, out)
    written = ["metrics.json", "report.md", *(f.name for f in figures)]
    return EvalOutputs(metrics, written, missing, degraded_warnings(lines))


def open_run(job: EvalJob) -> EvalRun:
    """Refuse an existing run in `job.out` without `job.resume` (checked before any server starts), then load the
    benchmark (for RH-AUC, only the items with a category)."""
    refuse_unless_resuming(job.out, job.resume)
    if not job.rh_budgets:
        bench = load_benchmark(
            job.benchmark,
            limit=job.limit,
            skip_bad_lines=job.skip_bad_lines,
            allow_remote_images=job.allow_remote_images,
        )
        if job.shard is not None:  # VLMEvalKit's striding: item I, I + K, I + 2K, ...
            bench = dataclasses.replace(bench, items=bench.items[job.shard[0] :: job.shard[1]])
        return EvalRun(job, bench, ResultsFile(job.out / "results.jsonl"))
    bench = load_benchmark(job.benchmark, limit=job.limit, skip_bad_lines=job.skip_bad_lines)
    items = [item for item in bench.items if category(item) is not None]
    if not items:
        raise InvalidInputError(
            f"{bench.name} has no items with a category; give each JSONL item meta.category perception|reasoning."
        )
    return EvalRun(job, dataclasses.replace(bench, items=items), ResultsFile(job.out / "rh_results.jsonl"))


def _chat(endpoint: ChatEndpoint, *, timeout: float) -> Any:
    return chat_model(endpoint.base_url, endpoint.model, timeout=timeout, api_key=endpoint.api_key)
