"""Option groups the subcommands share, each an `add_*` that declares the options and, where a group turns into a
value, a reader of the parsed arguments: the servers (`Servers`), the benchmark, the CLIP model, the graph's module
weights and Voter form, the adaptive gate, and comma-separated lists.

This is the CLI edge: API keys are read from the environment here (`CATTS_API_KEY` for `--base-url`,
`CATTS_EXPERT_API_KEY` for the expert, `CATTS_JUDGE_API_KEY` for the judge), never in library code, and never
printed, logged, traced or written to results.
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from catts_graph.benchmarks import PUBLIC
from catts_graph.cli.grounding_options import add_grounding_options, grounding_from
from catts_graph.evaluation.calibrate import Weights
from catts_graph.evaluation.job import ChatEndpoint
from catts_graph.graph.config import CATTSConfig, Gate
from catts_graph.serving.chat import API_KEY_ENV, EXPERT_KEY_ENV, JUDGE_KEY_ENV
from catts_graph.shapes.bundled import BUNDLED_STEP_WEIGHTS, BUNDLED_VOTER_FORM
from nodes.config import RoutingConfig, StepConfig, StopRule
from nodes.errors import InvalidInputError
from nodes.run_context import with_overrides

SELF_CHECK_CLIP = "the self-check's question-guided noise"
SELF_CHECK_CLIP_DEFAULT = "the bundled ShapesVQA CLIP with the bundled models; whole-image noise with --base-url"


def csv_list(value: str) -> list[str]:
    """An argparse type: ``a,b,,c`` -> ``["a", "b", "c"]``."""
    return [v.strip() for v in value.split(",") if v.strip()]


@dataclass(frozen=True)
class Servers:
    """Where a command's models are: the servers named on the command line (with their keys from the environment),
    or, without `base_url`, the bundled ShapesVQA models served for the command (see `cli.endpoints`)."""

    base_url: str | None = None
    model: str | None = None
    expert_base_url: str | None = None
    expert_model: str | None = None
    clip: str | None = None  # `--clip`: a CLIP folder or open_clip:ARCH[:TAG]
    grounded: bool = False  # `--grounded`: with the bundled models, the grounded model is the base model
    bundled_settings: bool = False  # `--bundled-settings`: the bundled run's settings for the servers named
    api_key: str | None = field(default=None, repr=False)  # CATTS_API_KEY, for base_url
    expert_api_key: str = field(default="EMPTY", repr=False)  # CATTS_EXPERT_API_KEY

    @property
    def bundled(self) -> bool:
        """No `--base-url`: the bundled models are served."""
        return self.base_url is None

    @property
    def settings_bundled(self) -> bool:
        """The bundled run's settings are in force: the bundled models are served, or `--bundled-settings`."""
        return self.bundled or self.bundled_settings


def add_server_options(
    parser: argparse.ArgumentParser, *, expert: bool, default: str = "serve the bundled ShapesVQA models on loopback"
) -> None:
    """`--base-url` and `--model`, and with `expert` `--expert-base-url` and `--expert-model`."""
    parser.add_argument("--base-url", help=f"vLLM server of the base model (default: {default})")
    parser.add_argument("--model", help="served model name (default: the server's first)")
    if expert:
        parser.add_argument(
            "--expert-base-url",
            help="OpenAI-compatible server of the expert (default: the bundled expert with the "
            "bundled models, else the base model)",
        )
        parser.add_argument("--expert-model", help="expert model name (required with --expert-base-url)")
        parser.add_argument(
            "--bundled-settings",
            action="store_true",
            help="with --base-url: the settings the bundled run uses (the bundled expert's Voter form, the bundled "
            "base model's step weights and box frame, question-guided noise from the bundled ShapesVQA CLIP), for a "
            "served copy of a bundled model; without it a server gets the paper's defaults (text Voter, "
            "whole-image noise unless --clip)",
        )


def servers_from(args: argparse.Namespace) -> Servers:
    """The `Servers` a command's options name (`--clip` included where the command has it)."""
    return Servers(
        base_url=args.base_url,
        model=args.model,
        expert_base_url=getattr(args, "expert_base_url", None),
        expert_model=getattr(args, "expert_model", None),
        clip=getattr(args, "clip", None),
        grounded=getattr(args, "grounded", False),
        bundled_settings=getattr(args, "bundled_settings", False),
        api_key=os.environ.get(API_KEY_ENV),
        expert_api_key=os.environ.get(EXPERT_KEY_ENV, "EMPTY"),
    )


def judge_from(base_url: str | None, model: str | None) -> ChatEndpoint | None:
    """The answer judge of `--judge-base-url` and `--judge-model`, its key from CATTS_JUDGE_API_KEY."""
    if base_url is None:
        return None
    if not model:
        raise InvalidInputError("--judge-base-url needs --judge-model NAME too.")
    return ChatEndpoint(base_url, model, os.environ.get(JUDGE_KEY_ENV, "EMPTY"))


def add_benchmark_option(parser: argparse.ArgumentParser, *, default: str) -> None:
    parser.add_argument(
        "--benchmark",
        default=default,
        help=f"shapes[:SEED], jsonl:PATH, or {'|'.join(PUBLIC)} (hub) or NAME:PATH (a local copy) "
        "(default: %(default)s)",
    )


def add_clip_option(
    parser: argparse.ArgumentParser, *, purpose: str = SELF_CHECK_CLIP, default: str = SELF_CHECK_CLIP_DEFAULT
) -> None:
    parser.add_argument(
        "--clip",
        metavar="FOLDER|open_clip:ARCH[:PRETRAINED]",
        help=f"CLIP model for {purpose}: a saved folder, or an open_clip model by name (default: {default})",
    )


def add_gate_options(parser: argparse.ArgumentParser, *, share_help: str, confidence_help: str) -> None:
    """`--min-share`, `--min-confidence` and `--min-weakest-step`: the adaptive policy's gate (for sampling and for
    each module); `--stop-rule`: the sequential policy's stopping rule."""
    parser.add_argument("--min-share", type=float, default=0.75, help=share_help)
    parser.add_argument("--min-confidence", type=float, help=confidence_help)
    parser.add_argument(
        "--min-weakest-step",
        type=float,
        help="the adaptive gate, and the sequential stopping rule, also need the leader's mean weakest-step "
        "confidence (0-1) to reach this (default: not checked)",
    )
    parser.add_argument(
        "--stop-rule",
        type=Path,
        metavar="JSON",
        help="the sequential policy's stopping rule (first round, the expert's weight, prior, threshold) from "
        "`catts calibrate --stop --out` (default: first round 1, the expert's answer 1 vote, prior 1, threshold "
        "0.85)",
    )


def gate_from(args: argparse.Namespace) -> Gate:
    """The adaptive gate the command line sets (`InvalidInputError` naming the bad value)."""
    try:
        return Gate(
            min_share=args.min_share, min_confidence=args.min_confidence, min_weakest_step=args.min_weakest_step
        )
    except ValueError as e:
        raise InvalidInputError(f"the adaptive gate: {e}") from None


def routing_from(args: argparse.Namespace, policy: str = "paper") -> RoutingConfig:
    """The routing the command line sets: `policy`, the adaptive gate for sampling and every module, and the
    `--stop-rule` file (`InvalidInputError` naming the bad value)."""
    gate = gate_from(args)
    stop = StopRule() if args.stop_rule is None else load_stop_rule(args.stop_rule)
    if args.min_weakest_step is not None:
        stop = stop.model_copy(update={"min_weakest_step": args.min_weakest_step})
    return RoutingConfig.model_validate(
        {"policy": policy, "sampling": gate, "critic": gate, "self_check": gate, "stop": stop}
    )


def load_stop_rule(path: Path) -> StopRule:
    """A `--stop-rule` file: JSON with `first`, `threshold` and `prior`, as `StopRule` fields."""
    try:
        return StopRule.model_validate(json.loads(path.read_text()))
    except FileNotFoundError:
        raise InvalidInputError(
            f"--stop-rule {path}: no such file; write one with `catts calibrate RUN --stop --out`"
        ) from None
    except ValueError as e:
        raise InvalidInputError(
            f"--stop-rule {path} is not a stopping-rule file ({e}); expected JSON like "
            '{"first": 2, "threshold": 0.95, "prior": 1.0} from `catts calibrate --stop`'
        ) from None


def add_graph_options(parser: argparse.ArgumentParser) -> None:
    """`--voter-form`, `--weights`, the step and grounding options, `--confidence` and `--elicit`, shared by `catts
    run`, `catts eval` and `catts demo`."""
    parser.add_argument(
        "--voter-form",
        choices=["text", "answer", "score"],
        help="how the expert votes: text (the paper's: it is shown the candidates), answer (it answers the question "
        "itself; its answer gets probability 1) or score (its likelihood of each candidate's response); default: "
        "answer with the bundled models (their expert reads the image better when not shown candidates), else text",
    )
    parser.add_argument(
        "--weights", type=Path, metavar="JSON", help="module weights tau1..tau3 from `catts calibrate --out`"
    )
    parser.add_argument(
        "--step-splitter",
        choices=["sentences", "clauses"],
        help="how responses are cut into reasoning steps: sentences (default), or clauses (one listed item a step)",
    )
    parser.add_argument(
        "--step-weights",
        type=Path,
        metavar="JSON",
        help="how step signals combine into a step's confidence, from `catts calibrate --steps --out` (its splitter "
        "included; default: the bundled base model's own with the bundled models, else a weighted mean)",
    )
    parser.add_argument(
        "--confidence",
        choices=["auto", "nmlp", "stated"],
        help="the declared confidence the votes, gates and self-check read: NMLP, the confidence the model states "
        "after its answer, or auto (default): stated when the samples state one, else NMLP",
    )
    parser.add_argument(
        "--elicit",
        choices=["missing", "all"],
        help="with --confidence stated, which statements are elicited by a short teacher-forced request: missing "
        "(default: those the samples did not write readably) or all (the answers are drawn stopped where the "
        "statement opens, and every one has its statement elicited)",
    )
    add_grounding_options(parser)


def apply_graph_options(config: CATTSConfig, args: argparse.Namespace, *, bundled: bool) -> CATTSConfig:
    """`config` with the `--voter-form`, `--weights`, step and grounding options a command was given; with the
    `bundled` models, the bundled expert's Voter form and the base model's step combination unless given."""
    voter_form = args.voter_form or (BUNDLED_VOTER_FORM if bundled else None)
    vote: dict[str, Any] = {} if voter_form is None else {"voter_form": voter_form}
    critic: dict[str, Any] = {}
    check: dict[str, Any] = {}
    if args.weights is not None:
        weights = load_weights(args.weights)
        vote, critic, check = {**vote, "tau1": weights.tau1}, {"tau2": weights.tau2}, {"tau3": weights.tau3}
    grounding = grounding_from(args, bundled=bundled)
    region = getattr(args, "self_check_region", None) or ("model" if grounding else None)
    if region is not None:
        check["noise"] = {"region": region}
    step_weights, splitter = getattr(args, "step_weights", None), getattr(args, "step_splitter", None)
    if step_weights is None and bundled and not grounding:  # the bundled base model's fitted combination
        step_weights = BUNDLED_STEP_WEIGHTS
    steps = {} if step_weights is None else load_step_weights(step_weights)
    if splitter is not None:
        steps["splitter"] = splitter
    overrides = {"vote": vote, "critic": critic, "self_check": check, "grounding": grounding, "steps": steps}
    confidence = {"source": getattr(args, "confidence", None), "elicit": getattr(args, "elicit", None)}
    if any(value is not None for value in confidence.values()):
        overrides["confidence"] = {key: value for key, value in confidence.items() if value is not None}
    try:
        return with_overrides(config, overrides)
    except ValueError as e:
        raise InvalidInputError(str(e)) from None


def load_step_weights(path: Path) -> dict[str, Any]:
    """A `--step-weights` file: JSON with `splitter`, `weights` (per signal) and `bias`, as `StepConfig` fields."""
    try:
        data = json.loads(path.read_text())
        return StepConfig.model_validate(
            {"splitter": data["splitter"], "weights": data["weights"], "bias": data["bias"]}
        ).model_dump()
    except FileNotFoundError:
        raise InvalidInputError(
            f"--step-weights {path}: no such file; write one with `catts calibrate RUN --steps --out`"
        ) from None
    except (ValueError, KeyError, TypeError) as e:
        raise InvalidInputError(
            f"--step-weights {path} is not a step-weights file ({e}); expected JSON like "
            '{"splitter": "clauses", "weights": {"likelihood": 1.0, "certainty": 5.0, "visual": 1.0, "chain": 5.0}, '
            '"bias": -5.0} from `catts calibrate --steps`'
        ) from None


def load_weights(path: Path) -> Weights:
    """A `--weights` file (JSON with tau1, tau2, tau3, each >= 0)."""
    try:
        data = json.loads(path.read_text())
        weights = Weights(float(data["tau1"]), float(data["tau2"]), float(data["tau3"]))
    except FileNotFoundError:
        raise InvalidInputError(
            f"--weights {path}: no such file; write one with `catts calibrate RUN --out`"
        ) from None
    except (ValueError, KeyError, TypeError) as e:
        raise InvalidInputError(
            f"--weights {path} is not a weights file ({e}); expected JSON like "
            '{"tau1": 1.0, "tau2": 0.5, "tau3": 0.0} from `catts calibrate`'
        ) from None
    if min(weights.tau1, weights.tau2, weights.tau3) < 0:
        raise InvalidInputError(f"--weights {path}: weights must be >= 0")
    return weights
