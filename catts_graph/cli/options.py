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
from catts_graph.evaluation.calibrate import Weights
from catts_graph.evaluation.job import ChatEndpoint
from catts_graph.graph.config import CATTSConfig, Gate
from catts_graph.serving.chat import API_KEY_ENV, EXPERT_KEY_ENV, JUDGE_KEY_ENV
from catts_graph.shapes.bundled import BUNDLED_VOTER_FORM
from nodes.errors import InvalidInputError

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
    api_key: str | None = field(default=None, repr=False)  # CATTS_API_KEY, for base_url
    expert_api_key: str = field(default="EMPTY", repr=False)  # CATTS_EXPERT_API_KEY

    @property
    def bundled(self) -> bool:
        """No `--base-url`: the bundled models are served."""
        return self.base_url is None


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


def servers_from(args: argparse.Namespace) -> Servers:
    """The `Servers` a command's options name (`--clip` included where the command has it)."""
    return Servers(
        base_url=args.base_url,
        model=args.model,
        expert_base_url=getattr(args, "expert_base_url", None),
        expert_model=getattr(args, "expert_model", None),
        clip=getattr(args, "clip", None),
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
    """`--min-share` and `--min-confidence`: the adaptive policy's gate (for sampling and for each module)."""
    parser.add_argument("--min-share", type=float, default=0.75, help=share_help)
    parser.add_argument("--min-confidence", type=float, help=confidence_help)


def gate_from(args: argparse.Namespace) -> Gate:
    return Gate(min_share=args.min_share, min_confidence=args.min_confidence)


def add_graph_options(parser: argparse.ArgumentParser) -> None:
    """`--voter-form` and `--weights`, shared by `catts run`, `catts eval` and `catts demo`."""
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


def apply_graph_options(config: CATTSConfig, args: argparse.Namespace, *, bundled: bool) -> CATTSConfig:
    """`config` with the `--voter-form` and `--weights` a command was given; with the `bundled` models and no
    `--voter-form`, the bundled expert's Voter form."""
    voter_form = args.voter_form or (BUNDLED_VOTER_FORM if bundled else None)
    vote: dict[str, Any] = {} if voter_form is None else {"voter_form": voter_form}
    critic: dict[str, Any] = {}
    check: dict[str, Any] = {}
    if args.weights is not None:
        weights = load_weights(args.weights)
        vote, critic, check = {**vote, "tau1": weights.tau1}, {"tau2": weights.tau2}, {"tau3": weights.tau3}
    return config.model_copy(
        update={
            "vote": config.vote.model_copy(update=vote),
            "critic": config.critic.model_copy(update=critic),
            "self_check": config.self_check.model_copy(update=check),
        }
    )


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
